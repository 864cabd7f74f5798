"""aotc: an ahead-of-time ML compiler for CPU, CUDA, WebGPU and FPGA.

`import compiler` stays light: frontends, backends and toolchains load on first use.
"""
from compiler.api import compile, load  # noqa: A004  (the public name is compile)
from compiler.errors import AotcError

__version__ = "0.1.0"
__all__ = ["AotcError", "compile", "load", "__version__"]
