"""The text form of the graph IR: readable, deterministic, and parsed back by `parser.py`.

```
graph tiny(%x: f32[batch,4], %"a/b:0": f32[4,3]@NHWC) -> (%y) {
  const %hi: f32[] = [6.0]
  const %w: f32[4,8] = blob("w")
  %h: f32[batch,3] = MatMul(%x, %"a/b:0")  # mm
  %y: f32[batch,3] = Clip(%h, _, %hi)  # clip
  %r: f32[batch,3,1] = Reshape(%y) {shape=[0,3,1], allowzero=false}  # reshape
  return %y
}
```

- Values are `%name`; a name that is not bare (letters, digits, `_ . / -`) is a JSON string,
  so `%"a/b:0"`. Text is ASCII only: other characters are `\\u` escapes.
- An absent optional input is `_`. The node name follows `#` (bare or quoted), always printed.
- Types are `dtype[dims]@layout` (`TensorType.__str__`); dims are ints or symbols.
- Attributes list every field of the op's attrs dataclass in field order: ints, floats as
  `repr` (`1e-05`, `inf`, `nan`), `true`/`false`, JSON strings, dtypes by their text (`f16`),
  tuples as `[1,2]`. Ops without attributes print no braces.
- Constants come first, sorted by name. Up to `inline_limit` elements print inline as a flat
  C-order list (shortest text that reads back to the same bits; `nan`/`-nan`, `inf`); larger
  ones print `blob("<name>")`, resolved by `parse_graph(..., blobs=...)`.
- The header lists the outputs and `return` repeats them, so both ends of a graph read alone.
"""
from __future__ import annotations

import dataclasses
import json
import re
import typing

import numpy as np

from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, constant_type

# Names printed without quotes. Shared with the parser, which reads exactly this syntax.
BARE_NAME = re.compile(r"[A-Za-z0-9_./-]+")
ABSENT = "_"


def format_name(name: str) -> str:
    return name if BARE_NAME.fullmatch(name) else json.dumps(name, ensure_ascii=True)


def format_value(name: str) -> str:
    return "%" + format_name(name)


def print_graph(graph: Graph, *, inline_limit: int = 16) -> str:
    """The text form of `graph`; constants of more than `inline_limit` elements become blobs."""
    inputs = ", ".join(f"{format_value(v.name)}: {v.type}" for v in graph.inputs)
    outputs = ", ".join(format_value(name) for name in graph.outputs)
    lines = [f"graph {format_name(graph.name)}({inputs}) -> ({outputs}) {{"]
    for name in sorted(graph.constants):
        lines.append("  " + _format_constant(name, graph.constants[name], inline_limit))
    hints: dict[type, dict[str, object]] = {}  # attrs class -> field types, for this call only
    lines.extend("  " + _format_node(node, hints) for node in graph.nodes)
    lines.append(f"  return {outputs}".rstrip())
    lines.append("}")
    return "\n".join(lines) + "\n"


def _format_constant(name: str, array: np.ndarray, inline_limit: int) -> str:
    try:
        type_text = str(constant_type(array))
    except TypeError:
        raise TypeError(f"constant '{name}' has dtype {array.dtype}, which has no aotc DType") from None
    head = f"const {format_value(name)}: {type_text} = "
    if array.size > inline_limit:
        return head + f"blob({json.dumps(name, ensure_ascii=True)})"
    return head + "[" + ", ".join(format_element(x, array.dtype) for x in array.reshape(-1)) + "]"


def format_element(x: np.generic, dtype: np.dtype) -> str:
    """One constant element, as text that the parser turns back into the same bits."""
    if dtype.kind == "b":
        return "true" if x else "false"
    if dtype.kind in "iu":
        return str(int(x))
    if np.isnan(x):
        return "-nan" if np.signbit(x) else "nan"
    shortest = str(x)  # numpy's shortest text that round-trips at this width
    if parse_float_element(shortest, dtype).tobytes() == np.asarray(x, dtype).tobytes():
        return shortest
    return repr(float(x))  # exact: every f16/f32 value is a double


def parse_float_element(text: str, dtype: np.dtype) -> np.ndarray:
    """The printer checks its float text with this same conversion the parser uses."""
    with np.errstate(over="ignore"):
        return np.asarray(float(text), np.float64).astype(dtype)


def _format_node(node: Node, hints: dict[type, dict[str, object]]) -> str:
    outputs = ", ".join(f"{format_value(v.name)}: {v.type}" for v in node.outputs) or "()"
    args = ", ".join(format_value(name) if name else ABSENT for name in node.inputs)
    return f"{outputs} = {node.op}({args}){_format_attrs(node, hints)}  # {format_name(node.name)}"


def _format_attrs(node: Node, hints: dict[type, dict[str, object]]) -> str:
    attrs = node.attrs
    if not dataclasses.is_dataclass(attrs) or isinstance(attrs, type):
        raise TypeError(f"node '{node.name}' ({node.op}): attrs {attrs!r} is not an attrs dataclass")
    fields = dataclasses.fields(attrs)
    if not fields:
        return ""
    if type(attrs) not in hints:
        hints[type(attrs)] = typing.get_type_hints(type(attrs))
    types = hints[type(attrs)]
    items = (f"{f.name}={format_attr(getattr(attrs, f.name), types.get(f.name))}" for f in fields)
    return " {" + ", ".join(items) + "}"


def format_attr(value: object, hint: object = None) -> str:
    """One attribute value; `hint` (the field's type) makes an int in a float field print `1.0`."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, DType):
        return value.value
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, (tuple, list)):
        args = typing.get_args(hint)
        element_hint = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        return "[" + ",".join(format_attr(v, element_hint) for v in value) + "]"
    if hint is float or isinstance(value, (float, np.floating)):
        return repr(float(value))  # type: ignore[arg-type]
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    raise TypeError(f"cannot print attribute value {value!r} of type {type(value).__name__}")
