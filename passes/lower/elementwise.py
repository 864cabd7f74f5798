"""Lowering of elementwise graph ops (with numpy broadcasting) to loop nests."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Sequence

from compiler.ir.dtypes import NARROW_FLOAT_MAX, DType
from compiler.ir.graph import Node
from compiler.ir.loops import Cast, Expr, Kernel, Var
from compiler.ir.types import TensorType
from passes.lower.builder import (binary, broadcast_index, call, cast, const, dim_expr, load,
                                  make_kernel, mul, parallel_nest, select, store)
from compiler.ir.loops import For, LoopKind

ScalarFn = Callable[[list[Expr], object, DType], Expr]


def _unary_call(fn: str) -> ScalarFn:
    return lambda xs, attrs, dt: call(fn, xs[0])


def _binop(op: str) -> ScalarFn:
    def build(xs, attrs, dt):
        out = xs[0]
        for x in xs[1:]:
            out = binary(op, out, x)
        return out
    return build


def _pow(xs, attrs, dt):
    base, exponent = xs
    if dt.is_float and exponent.dtype is dt:
        return binary("pow", base, exponent)
    # Integer or mixed dtypes: in double, as the op's reference computes, then to the base's dtype.
    wide = DType.float64
    return cast(dt, binary("pow", cast(wide, base), cast(wide, exponent)))


def _relu(xs, attrs, dt):
    return binary("max", xs[0], const(0, dt))


def _clip(xs, attrs, dt):
    x = xs[0]
    if len(xs) > 1 and xs[1] is not None:
        x = binary("max", x, xs[1])
    if len(xs) > 2 and xs[2] is not None:
        x = binary("min", x, xs[2])
    return x


def _leaky_relu(xs, attrs, dt):
    x = xs[0]
    return select(binary("ge", x, const(0, dt)), x, binary("mul", x, const(attrs.alpha, dt)))


def _elu(xs, attrs, dt):
    x = xs[0]
    return select(binary("gt", x, const(0, dt)), x,
                  binary("mul", const(attrs.alpha, dt), binary("sub", call("exp", x), const(1, dt))))


def _gelu(xs, attrs, dt):
    x = xs[0]
    half_x = binary("mul", const(0.5, dt), x)
    if attrs.approximate == "tanh":
        cube = binary("mul", binary("mul", x, x), x)
        inner = binary("mul", const(math.sqrt(2 / math.pi), dt),
                       binary("add", x, binary("mul", const(0.044715, dt), cube)))
        return binary("mul", half_x, binary("add", const(1, dt), call("tanh", inner)))
    return binary("mul", half_x, binary("add", const(1, dt),
                                        call("erf", binary("mul", x, const(1 / math.sqrt(2), dt)))))


def _mod(xs, attrs, dt):
    a, b = xs
    remainder = binary("mod", a, b)
    if attrs.fmod or not dt.is_signed:
        return remainder
    # Python's remainder takes the divisor's sign: C's truncated one, moved by b when the
    # signs differ.
    differs = binary("and", binary("ne", remainder, const(0, dt)),
                     binary("xor", binary("lt", remainder, const(0, dt)), binary("lt", b, const(0, dt))))
    return select(differs, binary("add", remainder, b), remainder)


def _bitshift(xs, attrs, dt):
    """A shift by a negative count or by the width or more gives the full-width result, as
    ONNX specifies: 0, or -1 where an arithmetic right shift fills with the sign bit."""
    a, b = xs
    in_range = binary("and", binary("ge", b, const(0, dt)), binary("lt", b, const(dt.itemsize * 8, dt)))
    if attrs.left:
        return select(in_range, binary("shl", a, b), const(0, dt))
    fill = select(binary("lt", a, const(0, dt)), const(-1, dt), const(0, dt)) if dt.is_signed else const(0, dt)
    return select(in_range, binary("shr", a, b), fill)


def _isinf(xs, attrs, dt):
    x = xs[0]
    tests = ([binary("eq", x, const(math.inf, dt))] if attrs.detect_positive else []) + \
        ([binary("eq", x, const(-math.inf, dt))] if attrs.detect_negative else [])
    if not tests:
        return const(False, DType.bool)
    return tests[0] if len(tests) == 1 else binary("or", tests[0], tests[1])


def _cast(x, attrs):
    if attrs.to is DType.bool:
        return binary("ne", x, const(0, x.dtype))
    if attrs.to.is_narrow and attrs.saturate and attrs.to in NARROW_FLOAT_MAX:
        # Clamp in float first; NaN fails both tests and stays NaN.
        wide = x.dtype if x.dtype.is_float else DType.float32
        x, largest = cast(wide, x), NARROW_FLOAT_MAX[attrs.to]
        x = select(binary("gt", x, const(largest, wide)), const(largest, wide),
                   select(binary("lt", x, const(-largest, wide)), const(-largest, wide), x))
    return cast(attrs.to, x)


def _mean(xs, attrs, dt):
    return binary("div", _binop("add")(xs, attrs, dt), const(len(xs), dt))


SCALAR: dict[str, ScalarFn] = {
    **{op: _unary_call(op.lower()) for op in ("Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh",
                                              "Acosh", "Atanh", "Round")},
    "IsInf": _isinf, "Mod": _mod, "Sum": _binop("add"), "Mean": _mean,
    "BitShift": _bitshift,
    "BitwiseAnd": _binop("bitand"), "BitwiseOr": _binop("bitor"), "BitwiseXor": _binop("bitxor"),
    "BitwiseNot": _unary_call("bitnot"),
    "Relu": _relu,
    "Sigmoid": _unary_call("sigmoid"), "Tanh": _unary_call("tanh"), "Exp": _unary_call("exp"),
    "Log": _unary_call("log"), "Sqrt": _unary_call("sqrt"), "Erf": _unary_call("erf"),
    "Reciprocal": _unary_call("recip"), "Sin": _unary_call("sin"), "Cos": _unary_call("cos"),
    "Floor": _unary_call("floor"), "Ceil": _unary_call("ceil"), "Neg": _unary_call("neg"),
    "Abs": _unary_call("abs"), "Sign": _unary_call("sign"), "Not": _unary_call("not"),
    "IsNaN": _unary_call("isnan"),
    "Identity": lambda xs, a, dt: xs[0],
    "Add": _binop("add"), "Sub": _binop("sub"), "Mul": _binop("mul"), "Div": _binop("div"),
    "Pow": _pow, "Max": _binop("max"), "Min": _binop("min"),
    "Equal": _binop("eq"), "Less": _binop("lt"), "Greater": _binop("gt"),
    "LessOrEqual": _binop("le"), "GreaterOrEqual": _binop("ge"),
    "And": _binop("and"), "Or": _binop("or"), "Xor": _binop("xor"),
    "Where": lambda xs, a, dt: select(xs[0], xs[1], xs[2]),
    "Clip": _clip,
    "Cast": lambda xs, a, dt: _cast(xs[0], a),
    "BitCast": lambda xs, a, dt: Cast(a.to, xs[0], bits=True),
    "LeakyRelu": _leaky_relu, "Elu": _elu, "Gelu": _gelu,
}

# Inputs these ops read as one scalar (Clip's bounds) rather than elementwise.
SCALAR_INPUTS = {"Clip": (1, 2)}


def lower_elementwise(node: Node, in_types: Sequence[TensorType | None],
                      out_types: Sequence[TensorType]) -> Kernel:
    """One elementwise node: the one-node case of an elementwise chain (one parameter per
    present input, in order)."""
    operands = [name for name in node.inputs if name]
    types = dict(zip(node.inputs, in_types))
    return _elementwise_kernel([node], operands, types.__getitem__, node.op.lower())


def dim_expr_of_numel(ttype: TensorType) -> Expr:
    return mul(*(dim_expr(d) for d in ttype.shape))


def lower_batchnorm(node: Node, in_types, out_types) -> Kernel:
    """y = (x - mean[c]) * rsqrt(var[c] + eps) * scale[c] + bias[c], channel axis 1."""
    x_type = in_types[0]
    param_shape = (x_type.shape[1],) + (1,) * (x_type.rank - 2)
    dt = x_type.dtype

    def body(ins, outs):
        x, scale, bias, mean, var = ins
        def make(idx):
            c = broadcast_index(idx, param_shape)
            norm = binary("div", binary("sub", load(x, broadcast_index(idx, x_type.shape)), load(mean, c)),
                          call("sqrt", binary("add", load(var, c), const(node.attrs.epsilon, dt))))
            value = binary("add", binary("mul", norm, load(scale, c)), load(bias, c))
            return store(outs[0], broadcast_index(idx, x_type.shape), value)
        return parallel_nest("i", x_type.shape, make)

    return make_kernel(node.op, in_types, out_types, body)


def lower_elementwise_chain(graph, nodes: Sequence[Node]) -> tuple[Kernel, tuple[str, ...]]:
    """One loop for a chain of elementwise nodes (passes/fuse.py): every value made inside the
    chain is an expression, never a tensor. Returns the kernel and the values bound to its
    parameters (the chain's outside operands, then its output)."""
    operands = chain_operands(nodes)
    kernel = _elementwise_kernel(nodes, operands, graph.type_of, "fused_" + nodes[0].op.lower())
    return kernel, tuple(operands) + (nodes[-1].output_names[0],)


def chain_value(nodes: Sequence[Node], operands: dict[str, Expr], type_of) -> Expr:
    """The last node's value as one expression, from expressions for the chain's operands."""
    values = dict(operands)
    for node in nodes:
        args = [values[n] if n else None for n in node.inputs]
        dtype = type_of(node.inputs[1]).dtype if node.op == "Where" else \
            next(type_of(n) for n in node.inputs if n).dtype
        values[node.output_names[0]] = cast(node.outputs[0].type.dtype, SCALAR[node.op](args, node.attrs, dtype))
    return values[nodes[-1].output_names[0]]


def chain_operands(nodes: Sequence[Node]) -> list[str]:
    """The values a chain reads from outside itself, in first-use order."""
    inside = {v.name for n in nodes for v in n.outputs}
    operands: list[str] = []
    for node in nodes:
        for name in node.inputs:
            if name and name not in inside and name not in operands:
                operands.append(name)
    return operands


def _elementwise_kernel(nodes: Sequence[Node], operands: Sequence[str], type_of, name: str) -> Kernel:
    """The kernel computing `nodes` (elementwise, in order) from `operands` (one parameter
    each), with numpy broadcasting; when every operand has the output's shape, one flat loop
    the C compiler vectorizes."""
    out_type = nodes[-1].outputs[0].type
    in_types = [type_of(n) for n in operands]
    # Operands a node reads as one scalar (Clip's bounds), not elementwise.
    scalar_reads = {node.inputs[k] for node in nodes for k in SCALAR_INPUTS.get(node.op, ())
                    if k < len(node.inputs) and node.inputs[k]}
    flat = all(t.shape == out_type.shape or n in scalar_reads for n, t in zip(operands, in_types))

    def value_at(ins, index_of) -> Expr:
        return chain_value(nodes, {operand: load(buf, const(0) if operand in scalar_reads and ttype.rank == 0
                                                 else index_of(ttype))
                                   for operand, buf, ttype in zip(operands, ins, in_types)}, type_of)

    def body(ins, outs):
        if flat:
            i = Var("i")
            return For("i", dim_expr_of_numel(out_type), store(outs[0], i, value_at(ins, lambda t: i)),
                       LoopKind.PARALLEL)
        return parallel_nest("i", out_type.shape, lambda idx: store(
            outs[0], broadcast_index(idx, out_type.shape), value_at(ins, lambda t: broadcast_index(idx, t.shape))))

    kernel = make_kernel(nodes[0].op, in_types, [out_type], body, flops=out_type.numel().scaled(len(nodes)))
    # An operand of the output's shape and element size is read at the output's index only.
    overwritable = tuple((len(operands), k) for k, (n, t) in enumerate(zip(operands, in_types))
                         if t.shape == out_type.shape and t.dtype.itemsize == out_type.dtype.itemsize
                         and n not in scalar_reads)
    return replace(kernel, name=name, ops=tuple(n.op for n in nodes), nodes=tuple(n.name for n in nodes),
                   overwritable=overwritable)
