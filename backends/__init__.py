"""Code generators, one package per target kind; `registry.backend_for(target)` picks one."""
