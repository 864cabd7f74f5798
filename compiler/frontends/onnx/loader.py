"""Reading an ONNX model: file or ModelProto -> a checked ModelProto with its weights loaded.

Every failure is one line that names the file: a missing file, bytes that are not an ONNX
protobuf, a graph the ONNX checker rejects, an opset aotc does not import, missing external data.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import onnx
import onnx.checker
import onnx.external_data_helper
import onnx.inliner

from compiler.errors import ModelError, UnsupportedError

MIN_OPSET = 13
_DEFAULT_DOMAINS = ("", "ai.onnx")
_PROTOBUF_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class LoadedModel:
    proto: onnx.ModelProto
    source: str          # what error messages call the model: its path, or its graph name
    opset: int           # the default-domain opset version
    stem: str            # a default graph name


def first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].strip()


def max_opset() -> int:
    """The newest default-domain opset the installed onnx package knows."""
    return onnx.defs.onnx_opset_version()


def load_model(model: "str | os.PathLike[str] | onnx.ModelProto") -> LoadedModel:
    if isinstance(model, onnx.ModelProto):
        source = f"model '{model.graph.name or 'unnamed'}'"
        external = _external_tensors(model)
        if external:
            raise UnsupportedError(f"{source}: tensor '{external[0]}' keeps its data in an external file that "
                                   f"was not loaded; import the model from its path instead")
        _check(model, source, None)
        return _finish(model, source, model.graph.name or "model")
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"import_onnx takes a path or an onnx.ModelProto, not {type(model).__name__}")
    path = Path(os.fspath(model))
    source = os.fspath(model)
    if not path.exists():
        raise ModelError(f"{source}: no such file")
    if path.is_dir():
        raise ModelError(f"{source}: is a directory, not an ONNX file")
    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception as error:  # protobuf raises DecodeError, RuntimeWarning wrappers, OSError...
        raise ModelError(f"{source}: not a valid ONNX model ({first_line(error)})") from None
    if not proto.HasField("graph") or proto.ir_version <= 0:
        raise ModelError(f"{source}: not a valid ONNX model (no graph or no ir_version)")
    try:
        onnx.external_data_helper.load_external_data_for_model(proto, str(path.parent))
    except Exception as error:
        raise ModelError(f"{source}: cannot load external weight data ({first_line(error)})") from None
    _check(proto, source, path)
    return _finish(proto, source, path.stem)


def _external_tensors(proto: onnx.ModelProto) -> list[str]:
    tensors = [*proto.graph.initializer,
               *(a.t for n in proto.graph.node for a in n.attribute if a.type == onnx.AttributeProto.TENSOR)]
    return [t.name for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL]


def _check(proto: onnx.ModelProto, source: str, path: Path | None) -> None:
    if not proto.HasField("graph") or proto.ir_version <= 0:
        raise ModelError(f"{source}: not a valid ONNX model (no graph or no ir_version)")
    try:
        if path is not None and proto.ByteSize() > _PROTOBUF_LIMIT:
            onnx.checker.check_model(str(path))
        else:
            onnx.checker.check_model(proto)
    except Exception as error:  # ValidationError, or ValueError for malformed protos
        raise ModelError(f"{source}: fails the ONNX checker: {first_line(error)}") from None


def _finish(proto: onnx.ModelProto, source: str, stem: str) -> LoadedModel:
    opset = default_opset(proto, source)
    if opset < MIN_OPSET:
        proto, opset = _upgrade(proto, source, opset), MIN_OPSET
    if proto.functions:
        # Model-local functions (the dynamo exporter's, custom ones) become plain nodes.
        try:
            proto = onnx.inliner.inline_local_functions(proto)
        except Exception as error:
            raise ModelError(f"{source}: cannot inline model-local functions ({first_line(error)})") from None
    return LoadedModel(proto, source, opset, stem)


def _upgrade(proto: onnx.ModelProto, source: str, opset: int) -> onnx.ModelProto:
    """Models older than MIN_OPSET go through onnx's version converter."""
    import onnx.version_converter
    try:
        return onnx.version_converter.convert_version(proto, MIN_OPSET)
    except Exception as error:
        raise UnsupportedError(f"{source}: opset {opset} is older than {MIN_OPSET}, the oldest aotc imports, "
                               f"and onnx's version converter cannot upgrade it ({first_line(error)})") from None


def default_opset(proto: onnx.ModelProto, source: str) -> int:
    versions = [entry.version for entry in proto.opset_import if entry.domain in _DEFAULT_DOMAINS]
    if not versions:
        raise ModelError(f"{source}: the model imports no default-domain ONNX opset")
    opset = max(versions)
    newest = max_opset()
    if opset > newest:
        raise UnsupportedError(f"{source}: opset {opset} is newer than {newest}, the newest the "
                               f"installed onnx package knows")
    return opset
