"""The Python API: compile() and load().

    import compiler
    art = compiler.compile("model.onnx", target="cpu")
    art = compiler.compile(torch_module, example_inputs=(x,), dynamic_batch=True)  # via torch.export
    y = art(x)
    art.save("build/m"); art2 = compiler.load("build/m")
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

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


@dataclass(frozen=True)
class ImportedModel:
    graph: Graph
    sha256: str                 # of the model as given (file bytes, serialized proto, or graph text)
    name: str
    path: str | None            # the path as given, for `aotc bench`'s peers
    source_nodes: int           # nodes as written: the one-kernel-per-node baseline
    # Inputs specialised where they determine shapes, with the sha256 of the value used.
    specialised: tuple[tuple[str, str], ...] = ()


def _import(model: Any, example_inputs, dynamic_shapes=None, dynamic_batch: bool = False,
            shape_values=None) -> ImportedModel:
    """The graph of a .onnx path, an onnx.ModelProto, a graph-IR Graph, a torch.nn.Module, a
    torch.export.ExportedProgram or a .pt2 path."""
    from compiler.artifact import sha256_bytes, sha256_file
    from compiler.frontends.onnx import import_onnx_specialised
    from compiler.frontends.torch_export import (import_torch, is_exported_program, is_module,
                                                 load_exported_program)
    if is_module(model) or is_exported_program(model):
        graph, calls = import_torch(model, example_inputs, dynamic_shapes=dynamic_shapes,
                                    dynamic_batch=dynamic_batch)
        return ImportedModel(graph, _graph_digest(graph), graph.name, None, calls)
    if dynamic_shapes is not None or dynamic_batch:
        raise ModelError("dynamic_shapes and dynamic_batch apply to torch models; an ONNX model or a "
                         "Graph declares its symbolic dimensions itself")
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        if path.suffix == ".pt2":           # torch.export.save's archive of an ExportedProgram
            graph, calls = import_torch(load_exported_program(path))
            # No path for `aotc bench`: its peers read ONNX.
            return ImportedModel(graph, sha256_file(path), path.stem, None, calls)
        onnx_model = import_onnx_specialised(path, shape_values=shape_values)
        return ImportedModel(onnx_model.graph, sha256_file(path), path.stem,
                             str(model), onnx_model.source_nodes, _digests(shape_values, onnx_model.specialised))
    if isinstance(model, Graph):
        from compiler.ir.verifier import verify
        verify(model)
        return ImportedModel(model, _graph_digest(model), model.name, None, len(model.nodes))
    if type(model).__name__ == "ModelProto":
        onnx_model = import_onnx_specialised(model, shape_values=shape_values)
        return ImportedModel(onnx_model.graph, sha256_bytes(model.SerializeToString()),
                             model.graph.name or "model", None, onnx_model.source_nodes, _digests(shape_values, onnx_model.specialised))
    raise ModelError(f"cannot compile a {type(model).__name__}: pass a .onnx path, an onnx.ModelProto, "
                     f"a graph-IR Graph, a torch.nn.Module (with example_inputs), a "
                     f"torch.export.ExportedProgram or a .pt2 path")


def _graph_digest(graph: Graph) -> str:
    """What identifies a model given in memory: its graph text and its constants' bytes (the
    same module, exported twice, imports to the same graph)."""
    from compiler.ir.printer import print_graph
    digest = hashlib.sha256(print_graph(graph).encode())
    for name in sorted(graph.constants):
        digest.update(name.encode())
        digest.update(graph.constants[name].tobytes())
    return digest.hexdigest()


def _digests(values, names) -> tuple[tuple[str, str], ...]:
    return tuple((name, hashlib.sha256(np.ascontiguousarray(values[name]).tobytes()).hexdigest())
                 for name in names)


def compile_to_directory(model: Any, target: str, out_dir: Path, *, example_inputs=None,
                         dynamic_shapes=None, dynamic_batch: bool = False,
                         options: CompileOptions | None = None, shape_values=None,
                         on_step: Callable[[str], None] = lambda step: None) -> Path:
    from compiler.artifact import artifact_files, build_manifest, sha256_bytes, write_directory
    from compiler.ir.printer import print_graph
    from compiler.pipeline import compile_graph
    from compiler.target import resolve_target
    options = options or default_options()
    resolved = resolve_target(target)
    on_step("import")
    try:
        imported = _import(model, example_inputs, dynamic_shapes, dynamic_batch, shape_values)
        compiled = compile_graph(imported.graph, resolved, options, on_step)
    except UnsupportedError as error:
        raise UnsupportedError(f"{error} (compiling for target {resolved.name})") from None
    files = artifact_files(compiled, print_graph(compiled.graph))
    checksums = {n: sha256_bytes(data) for n, data in files.items()}
    manifest = build_manifest(compiled, imported, options.manifest_fields(), checksums)
    on_step("write")
    write_directory(files, manifest, Path(out_dir))
    return Path(out_dir)


def compile(model: Any, target: str = "cpu", *, example_inputs=None, dynamic_shapes=None,
            dynamic_batch: bool = False, options: CompileOptions | None = None,
            threads: int | None = None, shape_values=None) -> Artifact:
    """Compile `model` for `target`; returns a callable artifact living in a temporary directory
    until you `save()` it.

    `model` is a .onnx path, an onnx.ModelProto, a graph-IR Graph, a torch.nn.Module, a
    torch.export.ExportedProgram or a .pt2 path (torch.export.save's file). A module is exported
    with torch.export on `example_inputs` (a tuple of tensors); `dynamic_shapes` is passed to
    torch.export (e.g. `({0: Dim("batch")},)`), and `dynamic_batch=True` is shorthand for a
    symbolic axis 0 on every input. `shape_values` (ONNX input name -> array) specialises those
    inputs where, and only where, they determine shapes (a Reshape's shape input); they stay
    run-time inputs elsewhere.
    """
    tmp = tempfile.TemporaryDirectory(prefix="aotc-artifact-")
    out = compile_to_directory(model, target, Path(tmp.name) / "artifact", example_inputs=example_inputs,
                               dynamic_shapes=dynamic_shapes, dynamic_batch=dynamic_batch, options=options,
                               shape_values=shape_values)
    return Artifact(out, threads=threads, _owned_tmp=tmp)


def load(directory: str | os.PathLike, *, threads: int | None = None) -> Artifact:
    """Load a saved artifact, verifying its checksums."""
    return Artifact(directory, threads=threads)
