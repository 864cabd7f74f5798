"""The Python API: compile() and load().

    import compiler
    art = compiler.compile("model.onnx", target="cpu")
    y = art(x)
    art.save("build/m"); art2 = compiler.load("build/m")
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from compiler.errors import ModelError, UnsupportedError
from compiler.ir.graph import Graph
from compiler.options import CompileOptions
from compiler.runtime import Artifact


def default_options() -> CompileOptions:
    """Options from the environment (read here and in cli.py only)."""
    cache = os.environ.get("AOTC_BUILD_CACHE")
    if cache is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        cache = os.path.join(base, "aotc", "build")
    return CompileOptions(build_cache=Path(cache) if cache else None)


def _import(model: Any, example_inputs) -> tuple[Any, str, str, str | None]:
    """(graph, model sha256, model name, path as given) from a path or an onnx.ModelProto."""
    from compiler.frontends.onnx import import_onnx
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return import_onnx(path), digest, path.stem, str(model)
    if isinstance(model, Graph):
        from compiler.ir.printer import print_graph
        from compiler.ir.verifier import verify
        verify(model)
        digest = hashlib.sha256(print_graph(model).encode())
        for name in sorted(model.constants):
            digest.update(name.encode())
            digest.update(model.constants[name].tobytes())
        return model, digest.hexdigest(), model.name, None
    if type(model).__name__ == "ModelProto":
        data = model.SerializeToString()
        return import_onnx(model), hashlib.sha256(data).hexdigest(), model.graph.name or "model", None
    if hasattr(model, "forward") and hasattr(model, "parameters"):
        raise UnsupportedError("torch.nn.Module input needs the torch.export frontend, which this "
                               "version of aotc does not have yet; export to ONNX first")
    raise ModelError(f"cannot compile a {type(model).__name__}: pass a .onnx path, an onnx.ModelProto "
                     f"or an aotc Graph")


def _source_node_count(model: Any, graph) -> int:
    """Nodes in the model as given (ONNX nodes, Constants included): the "one kernel per node"
    baseline `aotc inspect` compares the kernel count with."""
    if isinstance(model, Graph):
        return len(model.nodes)
    if type(model).__name__ == "ModelProto":
        return len(model.graph.node)
    import onnx
    return len(onnx.load(str(model), load_external_data=False).graph.node)


def compile_to_directory(model: Any, target: str, out_dir: Path, *, example_inputs=None,
                         options: CompileOptions | None = None,
                         on_step: Callable[[str], None] = lambda step: None) -> Path:
    from compiler.artifact import artifact_files, build_manifest, sha256_bytes, write_directory
    from compiler.ir.printer import print_graph
    from compiler.pipeline import compile_graph
    from compiler.target import resolve_target
    options = options or default_options()
    resolved = resolve_target(target)
    on_step("import")
    try:
        graph, model_sha, name, model_path = _import(model, example_inputs)
        source_nodes = _source_node_count(model, graph)
        compiled = compile_graph(graph, resolved, options, on_step)
    except UnsupportedError as error:
        raise UnsupportedError(f"{error} (compiling for target {resolved.name})") from None
    files = artifact_files(compiled, print_graph(compiled.graph))
    checksums = {n: sha256_bytes(data) for n, data in files.items()}
    manifest = build_manifest(compiled, model_sha, name, model_path, options.manifest_fields(), checksums)
    manifest["model"]["source_nodes"] = source_nodes
    on_step("write")
    write_directory(files, manifest, Path(out_dir))
    return Path(out_dir)


def compile(model: Any, target: str = "cpu", *, example_inputs=None,
            options: CompileOptions | None = None, threads: int | None = None) -> Artifact:
    """Compile `model` (a .onnx path, an onnx.ModelProto or a graph-IR Graph) for `target`; returns a callable
    artifact living in a temporary directory until you `save()` it."""
    tmp = tempfile.TemporaryDirectory(prefix="aotc-artifact-")
    out = compile_to_directory(model, target, Path(tmp.name) / "artifact",
                               example_inputs=example_inputs, options=options)
    return Artifact(out, threads=threads, _owned_tmp=tmp)


def load(directory: str | os.PathLike, *, threads: int | None = None) -> Artifact:
    """Load a saved artifact, verifying its checksums."""
    return Artifact(directory, threads=threads)
