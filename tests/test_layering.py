"""Imports go one way (shared/DESIGN.md), checked by walking every module's imports with ast."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

LEVEL1 = ("compiler.ir", "compiler.target", "compiler.options", "compiler.errors")
LEVEL2 = ("compiler.frontends", "passes", "backends")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def level(module: str) -> int:
    if module.startswith(LEVEL1):
        return 1
    if module.startswith(LEVEL2):
        return 2
    if module.startswith("autotune"):
        return 3
    return 4


def aotc_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return [m for m in found if m.split(".")[0] in ("compiler", "passes", "backends", "autotune")]


def allowed(importer: str, imported: str) -> bool:
    source, target = level(importer), level(imported)
    if source == 1:
        return target == 1
    if source == 2:
        if importer.startswith(("passes", "compiler.frontends")):
            return target == 1 or imported.split(".")[0] == importer.split(".")[0] or \
                imported.startswith("compiler.frontends") and importer.startswith("compiler.frontends")
        return target == 1 or imported.startswith("backends")   # a backend may use backends.base/cstyle
    if source == 3:
        return target == 1 or imported in ("backends.base",) or imported.startswith("autotune")
    return True


def test_imports_go_one_way():
    violations = []
    for package in ("compiler", "passes", "backends", "autotune"):
        for path in (REPO / package).rglob("*.py"):
            importer = module_name(path)
            for imported in aotc_imports(path):
                if not allowed(importer, imported):
                    violations.append(f"{importer} imports {imported}")
    assert not violations, "\n".join(violations)


def test_passes_never_import_backends():
    for path in (REPO / "passes").rglob("*.py"):
        assert not any(m.startswith("backends") for m in aotc_imports(path)), path


def test_importing_compiler_stays_light():
    import subprocess
    import sys
    code = "import sys, compiler; heavy = [m for m in ('onnx', 'torch', 'onnxruntime') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
