"""Expanding ONNX ops that aotc has no converter for into their ONNX function bodies.

Many ONNX ops are defined by the standard as a function of simpler ops (LogSoftmax, Selu,
ReduceL2, RMSNormalization, SoftmaxCrossEntropyLoss, Attention...). Where aotc has no converter
for such a node, the node is replaced by its function body for the model's opset (a
context-dependent body is built for the node's attributes and input types), and the body's ops
are converted as usual, recursively. Ops without a body keep failing with the usual one-line
"not supported" error.
"""
from __future__ import annotations

from typing import Callable

import onnx
import onnx.inliner
import onnx.shape_inference

from compiler.errors import ModelError

_DOMAIN = "aotc.expanded"
_DEFAULT_DOMAINS = ("", "ai.onnx")
# Function bodies may use ops that themselves expand; a bound keeps a bad schema from looping.
_MAX_ROUNDS = 8


def expand_functions(proto: onnx.ModelProto, opset: int, source: str,
                     wants_expansion: Callable[[onnx.NodeProto, set[str]], bool]) -> onnx.ModelProto:
    """`proto` with every top-level node for which `wants_expansion(node, consumed names)` holds
    and whose op has a function body replaced by that body."""
    for _ in range(_MAX_ROUNDS):
        consumed = {name for n in proto.graph.node for name in n.input} | {o.name for o in proto.graph.output}
        targets = [i for i, n in enumerate(proto.graph.node)
                   if n.domain in _DEFAULT_DOMAINS and wants_expansion(n, consumed) and _has_body(n, opset)]
        if not targets:
            return proto
        proto = _expand_round(proto, targets, opset, source)
    return proto


def _schema(node: onnx.NodeProto, opset: int):
    try:
        return onnx.defs.get_schema(node.op_type, opset, "")
    except onnx.defs.SchemaError:
        return None


def _has_body(node: onnx.NodeProto, opset: int) -> bool:
    schema = _schema(node, opset)
    return schema is not None and (schema.has_function or schema.has_context_dependent_function)


def _expand_round(proto: onnx.ModelProto, targets: list[int], opset: int, source: str) -> onnx.ModelProto:
    expanded = onnx.ModelProto()
    expanded.CopyFrom(proto)
    types = _value_types(proto)
    for index in targets:
        node = expanded.graph.node[index]
        _add_default_attributes(node, _schema(node, opset))
        function = _body(node, opset, types, source)
        function.name = f"{node.op_type}_{index}"
        function.domain = _DOMAIN
        # A body written for an older opset uses ops unchanged since (the inliner needs the
        # function's opset to be the model's).
        others = [entry for entry in function.opset_import if entry.domain not in _DEFAULT_DOMAINS]
        del function.opset_import[:]
        function.opset_import.extend(others)
        function.opset_import.add(domain="", version=opset)
        node.domain, node.op_type = _DOMAIN, function.name
        expanded.functions.append(function)
    if not any(entry.domain == _DOMAIN for entry in expanded.opset_import):
        expanded.opset_import.add(domain=_DOMAIN, version=1)
    try:
        inlined = onnx.inliner.inline_local_functions(expanded)
    except Exception as error:
        raise ModelError(f"{source}: cannot expand ONNX functions ({_first_line(error)})") from None
    del inlined.functions[:]
    kept = [entry for entry in inlined.opset_import if entry.domain != _DOMAIN]
    del inlined.opset_import[:]
    inlined.opset_import.extend(kept)
    return inlined


def _body(node: onnx.NodeProto, opset: int, types: dict[str, onnx.TypeProto], source: str) -> onnx.FunctionProto:
    schema = _schema(node, opset)
    function = onnx.FunctionProto()
    if schema.has_function:
        function.ParseFromString(schema.get_function_with_opset_version(_version(schema.function_opset_versions, opset)))
        return function
    version = _version(schema.context_dependent_function_opset_versions, opset)
    input_types = []
    for name in node.input:
        if name and name not in types:
            raise ModelError(f"{source}: cannot expand op {node.op_type}: the type of input '{name}' is unknown")
        input_types.append(types[name].SerializeToString() if name else onnx.TypeProto().SerializeToString())
    data = schema.get_context_dependent_function_with_opset_version(version, node.SerializeToString(), input_types)
    function.ParseFromString(data)
    return function


def _add_default_attributes(node: onnx.NodeProto, schema) -> None:
    """Bodies read attributes by reference; one the node leaves out takes the schema default."""
    present = {a.name for a in node.attribute}
    for name, attribute in schema.attributes.items():
        default = attribute.default_value
        if name not in present and default is not None and default.type != onnx.AttributeProto.UNDEFINED:
            node.attribute.append(default)
            node.attribute[-1].name = name


def _version(versions, opset: int) -> int:
    """The body written for the newest opset not after the model's (else the oldest body)."""
    return max((v for v in versions if v <= opset), default=min(versions))


def _value_types(proto: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
    except Exception:
        inferred = proto
    graph = inferred.graph
    types = {info.name: info.type for info in (*graph.input, *graph.value_info, *graph.output)}
    for tensor in graph.initializer:
        t = onnx.TypeProto()
        t.tensor_type.elem_type = tensor.data_type
        for d in tensor.dims:
            t.tensor_type.shape.dim.add(dim_value=d)
        types.setdefault(tensor.name, t)
    return types


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0].strip()
