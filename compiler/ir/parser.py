"""Reads the text form written by `printer.py` back into a `Graph` (syntax: see printer.py).

The parser checks syntax and what the text alone decides: known ops, attribute names and types
(converted with the op's attrs dataclass type hints), constant element counts and blob shapes.
Whether values are defined in order and types agree with inference is `verify`'s job.
Every error is a `ModelError` starting `line N:`.

Beyond what the printer writes, it accepts blank lines, whole-line `#` comments, and a node
without `# name`, which is then named after its first output.
"""
from __future__ import annotations

import dataclasses
import json
import re
import typing
from typing import Mapping

import numpy as np

from compiler.errors import ModelError
from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.ops import OPS
from compiler.ir.printer import ABSENT, BARE_NAME, format_value, parse_float_element
from compiler.ir.types import TensorType, parse_tensor_type

_SPACE = re.compile(r"[ \t]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"[+-]?(?:inf|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![A-Za-z0-9_.])")
_INTEGER = re.compile(r"[+-]?\d+")
_TYPE = re.compile(r"[A-Za-z0-9]+\[[^\]]*\](?:@\w+)?")
_BOOL = re.compile(r"(?:true|false)(?![A-Za-z0-9_])")
_ABSENT = re.compile(re.escape(ABSENT) + r"(?![A-Za-z0-9_./-])")


@dataclasses.dataclass(frozen=True, slots=True)
class _Word:
    """A bare word in an attribute value (a dtype such as `f16`), as opposed to a string."""

    text: str


class _Line:
    """A cursor over one line of text."""

    def __init__(self, text: str, number: int) -> None:
        self.text, self.number, self.pos = text, number, 0

    def error(self, message: str) -> ModelError:
        return ModelError(f"line {self.number}: {message}")

    def _skip(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def found(self) -> str:
        self._skip()
        rest = self.text[self.pos:]
        return "end of line" if not rest else repr(rest if len(rest) <= 24 else rest[:24] + "...")

    def at_end(self) -> bool:
        self._skip()
        return self.pos == len(self.text)

    def peek(self, literal: str) -> bool:
        self._skip()
        return self.text.startswith(literal, self.pos)

    def accept(self, literal: str) -> bool:
        if self.peek(literal):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str, context: str) -> None:
        if not self.accept(literal):
            raise self.error(f"expected '{literal}' {context}, found {self.found()}")

    def keyword(self, word: str) -> bool:
        return self.match(re.compile(re.escape(word) + r"(?![A-Za-z0-9_])")) is not None

    def match(self, pattern: re.Pattern[str]) -> str | None:
        self._skip()
        found = pattern.match(self.text, self.pos)
        if not found:
            return None
        self.pos = found.end()
        return found.group()

    def string(self) -> str | None:
        literal = self.match(_STRING)
        if literal is None:
            return None
        try:
            return json.loads(literal)
        except json.JSONDecodeError as exc:
            raise self.error(f"bad string {literal}: {exc.msg}") from None

    def name(self, what: str) -> str:
        text = self.string()
        if text is None:
            text = self.match(BARE_NAME)
        if text is None:
            raise self.error(f"expected {what}, found {self.found()}")
        return text

    def value(self, what: str) -> str:
        self.expect("%", f"before {what}")
        return self.name(what)

    def type(self, what: str) -> TensorType:
        text = self.match(_TYPE)
        if text is None:
            raise self.error(f"expected the type of {what} (like f32[1,3]), found {self.found()}")
        try:
            return parse_tensor_type(text)
        except ValueError as exc:
            raise self.error(f"bad type '{text}' of {what}: {exc}") from None

    def typed_value(self, what: str) -> Value:
        name = self.value(what)
        self.expect(":", f"after {format_value(name)}")
        return Value(name, self.type(format_value(name)))

    def values(self, close: str, what: str) -> list[str]:
        names: list[str] = []
        if self.accept(close):
            return names
        while True:
            names.append(self.value(what))
            if self.accept(close):
                return names
            self.expect(",", f"or '{close}' after {format_value(names[-1])}")

    def end(self) -> None:
        if not self.at_end():
            raise self.error(f"unexpected {self.found()}")


def parse_graph(text: str, *, blobs: Mapping[str, np.ndarray] | None = None) -> Graph:
    """The graph that `text` (as written by `print_graph`) describes; `blobs` holds the arrays
    of constants printed as `blob("name")`."""
    lines = [_Line(line.rstrip("\r"), number) for number, line in enumerate(text.split("\n"), 1)]
    lines = [line for line in lines if line.text.strip() and not line.text.lstrip().startswith("#")]
    if not lines:
        raise ModelError("line 1: empty text, expected 'graph <name>(...) -> (...) {'")
    name, inputs, outputs = _parse_header(lines[0])
    constants: dict[str, np.ndarray] = {}
    nodes: list[Node] = []
    returned: list[str] | None = None
    hints: dict[type, dict[str, object]] = {}  # attrs class -> field types, for this call only
    body = lines[1:]
    for position, line in enumerate(body):
        if line.accept("}"):
            line.end()
            if returned is None:
                raise line.error("missing 'return' before '}'")
            if position + 1 < len(body):
                extra = body[position + 1]
                raise extra.error(f"unexpected {extra.found()} after the graph's closing '}}'")
            break
        if returned is not None:
            raise line.error(f"unexpected {line.found()} after 'return'")
        if line.keyword("return"):
            returned = _parse_return(line)
            if returned != outputs:
                raise line.error(f"return ({_names(returned)}) disagrees with the header's "
                                 f"outputs ({_names(outputs)})")
        elif line.keyword("const"):
            const_name, array = _parse_constant(line, blobs)
            if const_name in constants:
                raise line.error(f"constant {format_value(const_name)} is defined twice")
            constants[const_name] = array
        else:
            nodes.append(_parse_node(line, len(nodes), hints))
    else:
        raise lines[-1].error("missing '}' at the end of the graph")
    return Graph(name, tuple(inputs), tuple(outputs), tuple(nodes), constants)


def _names(names: list[str]) -> str:
    return ", ".join(format_value(n) for n in names)


def _parse_header(line: _Line) -> tuple[str, list[Value], list[str]]:
    if not line.keyword("graph"):
        raise line.error(f"expected 'graph <name>(...) -> (...) {{', found {line.found()}")
    name = line.name("the graph's name")
    line.expect("(", "after the graph's name")
    inputs: list[Value] = []
    if not line.accept(")"):
        while True:
            inputs.append(line.typed_value("a graph input"))
            if line.accept(")"):
                break
            line.expect(",", "or ')' after a graph input")
    line.expect("->", "after the graph's inputs")
    line.expect("(", "before the graph's outputs")
    outputs = line.values(")", "a graph output")
    line.expect("{", "after the graph's outputs")
    line.end()
    return name, inputs, outputs


def _parse_return(line: _Line) -> list[str]:
    names: list[str] = []
    while not line.at_end():
        names.append(line.value("a returned value"))
        if not line.at_end():
            line.expect(",", f"after {format_value(names[-1])}")
    return names


def _parse_constant(line: _Line, blobs: Mapping[str, np.ndarray] | None) -> tuple[str, np.ndarray]:
    name = line.value("the constant's name")
    shown = format_value(name)
    line.expect(":", f"after {shown}")
    declared = line.type(shown)
    line.expect("=", f"after the type of {shown}")
    if declared.layout:
        raise line.error(f"constant {shown} has layout {declared.layout}; constants are row-major")
    if not declared.is_static:
        raise line.error(f"constant {shown} has symbolic shape {declared}")
    try:
        dtype = declared.dtype.to_numpy()
    except TypeError as exc:
        raise line.error(f"constant {shown}: {exc}") from None
    shape = declared.static_shape()
    if line.keyword("blob"):
        line.expect("(", "after 'blob'")
        key = line.string()
        if key is None:
            raise line.error(f"expected a quoted blob name, found {line.found()}")
        line.expect(")", "after the blob name")
        line.end()
        if blobs is None or key not in blobs:
            raise line.error(f"constant {shown} refers to blob {json.dumps(key)}, which was not given")
        array = np.asarray(blobs[key])
        if array.dtype != dtype or array.shape != shape:
            raise line.error(f"blob {json.dumps(key)} is {array.dtype}{list(array.shape)}, "
                             f"but {shown} is declared {declared}")
        return name, array
    line.expect("[", f"or 'blob(...)' for the value of {shown}")
    elements: list[str] = []
    if not line.accept("]"):
        while True:
            element = line.match(_NUMBER) or line.match(_BOOL)
            if element is None:
                raise line.error(f"expected a number in the value of {shown}, found {line.found()}")
            elements.append(element)
            if line.accept("]"):
                break
            line.expect(",", f"or ']' in the value of {shown}")
    line.end()
    count = int(np.prod(shape))
    if len(elements) != count:
        raise line.error(f"constant {shown} has {len(elements)} values, but {declared} holds {count}")
    try:
        return name, _elements_array(elements, dtype).reshape(shape)
    except (ValueError, OverflowError):
        kind = {"b": "true or false", "i": "integers", "u": "integers", "f": "numbers"}[dtype.kind]
        raise line.error(f"the values of {shown} must be {kind} that fit "
                         f"{DType.from_numpy(dtype).value}") from None


def _elements_array(elements: list[str], dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "b":
        if any(e not in ("true", "false") for e in elements):
            raise ValueError("not a bool")
        return np.array([e == "true" for e in elements], dtype=dtype)
    if dtype.kind in "iu":
        if not all(_INTEGER.fullmatch(e) for e in elements):
            raise ValueError("not an integer")
        return np.array([int(e) for e in elements], dtype=dtype)
    return np.array([parse_float_element(e, dtype) for e in elements], dtype=dtype)


def _parse_node(line: _Line, index: int, hints: dict[type, dict[str, object]]) -> Node:
    outputs: list[Value] = []
    if not line.accept("()"):
        while True:
            outputs.append(line.typed_value("a node output"))
            if not line.accept(","):
                break
    line.expect("=", "after the node's outputs")
    op = line.match(_WORD)
    if op is None:
        raise line.error(f"expected an op name, found {line.found()}")
    if op not in OPS:
        raise line.error(f"unknown op '{op}'")
    line.expect("(", f"after {op}")
    inputs: list[str] = []
    if not line.accept(")"):
        while True:
            inputs.append("" if line.match(_ABSENT) is not None else line.value(f"an input of {op}"))
            if line.accept(")"):
                break
            line.expect(",", f"or ')' after an input of {op}")
    attrs = _parse_attrs(line, op, hints)
    if line.accept("#"):
        name = line.name("the node's name")
    else:
        name = outputs[0].name if outputs else f"{op}_{index}"
    line.end()
    return Node(op, name, tuple(inputs), tuple(outputs), attrs)


def _parse_attrs(line: _Line, op: str, hints: dict[type, dict[str, object]]) -> object:
    cls = OPS[op].attrs
    raw: dict[str, object] = {}
    if line.accept("{") and not line.accept("}"):
        while True:
            key = line.match(_WORD)
            if key is None:
                raise line.error(f"expected an attribute name of {op}, found {line.found()}")
            if key in raw:
                raise line.error(f"attribute '{key}' of {op} is given twice")
            line.expect("=", f"after attribute '{key}'")
            raw[key] = _parse_attr_value(line)
            if line.accept("}"):
                break
            line.expect(",", f"or '}}' after attribute '{key}'")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if cls not in hints:
        hints[cls] = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            raise line.error(f"{op} has no attribute '{key}' (it has: {', '.join(fields) or 'none'})")
    for key, field in fields.items():
        no_default = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        if key not in raw and no_default:
            raise line.error(f"{op} needs attribute '{key}'")
    converted = {key: _convert(line, op, key, value, hints[cls][key]) for key, value in raw.items()}
    try:
        return cls(**converted)
    except Exception as exc:  # __post_init__ validation of any attrs class
        raise line.error(f"bad attributes for {op}: {exc}") from None


def _parse_attr_value(line: _Line) -> object:
    if line.accept("["):
        items: list[object] = []
        if line.accept("]"):
            return items
        while True:
            items.append(_parse_attr_value(line))
            if line.accept("]"):
                return items
            line.expect(",", "or ']' in a list")
    text = line.string()
    if text is not None:
        return text
    number = line.match(_NUMBER)
    if number is not None:
        return int(number) if _INTEGER.fullmatch(number) else float(number)
    word = line.match(_WORD)
    if word is not None:
        return {"true": True, "false": False}.get(word, _Word(word))
    raise line.error(f"expected an attribute value, found {line.found()}")


def _convert(line: _Line, op: str, key: str, value: object, hint: object) -> object:
    """`value` as parsed, checked and converted to the attrs field type `hint`."""
    def bad(expected: str) -> ModelError:
        text = value.text if isinstance(value, _Word) else json.dumps(value) if isinstance(value, str) \
            else value
        return line.error(f"attribute '{key}' of {op} must be {expected}, got {text}")

    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list):
            raise bad("a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(line, op, key, v, args[0]) for v in value)
        if len(args) != len(value):
            raise bad(f"a list of {len(args)}")
        return tuple(_convert(line, op, key, v, a) for v, a in zip(value, args))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise bad("true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad("an integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise bad("a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise bad("a quoted string")
    if hint is DType:
        if isinstance(value, _Word):
            try:
                return DType.parse(value.text)
            except ValueError:
                pass
        raise bad(f"a dtype ({', '.join(d.value for d in DType)})")
    raise line.error(f"attribute '{key}' of {op} has type {hint}, which the text form cannot read")
