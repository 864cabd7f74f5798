"""Lowering of elementwise graph ops (with numpy broadcasting) to loop nests."""
from __future__ import annotations

import math
from typing import Callable, Sequence

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.loops import Expr, Kernel, Var
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


SCALAR: dict[str, ScalarFn] = {
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
    "Cast": lambda xs, a, dt: cast(a.to, xs[0]) if a.to is not DType.bool
    else binary("ne", xs[0], const(0, xs[0].dtype)),
    "LeakyRelu": _leaky_relu, "Elu": _elu, "Gelu": _gelu,
}

# Inputs these ops read as one scalar (Clip's bounds) rather than elementwise.
SCALAR_INPUTS = {"Clip": (1, 2)}


def lower_elementwise(node: Node, in_types: Sequence[TensorType | None],
                      out_types: Sequence[TensorType]) -> Kernel:
    fn = SCALAR[node.op]
    out_type = out_types[0]
    scalar_positions = SCALAR_INPUTS.get(node.op, ())

    def body(ins, outs):
        out = outs[0]
        operand_dtype = next(t.dtype for t in in_types if t is not None)
        if node.op == "Where":
            operand_dtype = in_types[1].dtype
        flat = all(t is None or t.shape == out_type.shape or k in scalar_positions
                   for k, t in enumerate(in_types))
        if flat:
            # Same shapes everywhere: one flat loop the C compiler vectorizes.
            i = Var("i")
            def operand(k, buf):
                if buf is None:
                    return None
                return load(buf, const(0)) if k in scalar_positions else load(buf, i)
            value = fn([operand(k, b) for k, b in enumerate(ins)], node.attrs, operand_dtype)
            size = dim_expr_of_numel(out_type)
            return For("i", size, store(out, i, value), LoopKind.PARALLEL)

        def make(idx):
            def operand(k, buf):
                if buf is None:
                    return None
                if k in scalar_positions:
                    return load(buf, const(0))
                return load(buf, broadcast_index(idx, in_types[k].shape))
            value = fn([operand(k, b) for k, b in enumerate(ins)], node.attrs, operand_dtype)
            return store(out, broadcast_index(idx, out_type.shape), value)
        return parallel_nest("i", out_type.shape, make)

    return make_kernel(node.op, in_types, out_types, body)


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
    out_type = nodes[-1].outputs[0].type
    inside = {v.name for n in nodes for v in n.outputs}
    operands: list[str] = []
    for node in nodes:
        for name in node.inputs:
            if name and name not in inside and name not in operands:
                operands.append(name)
    in_types = [graph.type_of(name) for name in operands]
    scalar_reads = {}   # operands a node reads as one scalar (Clip's bounds)
    for node in nodes:
        for k in SCALAR_INPUTS.get(node.op, ()):
            if k < len(node.inputs) and node.inputs[k]:
                scalar_reads[node.inputs[k]] = True

    def body(ins, outs):
        def make(idx):
            values: dict[str, Expr] = {}
            for name, buf, ttype in zip(operands, ins, in_types):
                values[name] = load(buf, const(0) if name in scalar_reads and ttype.rank == 0
                                    else broadcast_index(idx, ttype.shape))
            for node in nodes:
                args = [values[n] if n else None for n in node.inputs]
                first = next(graph.type_of(n) for n in node.inputs if n)
                dtype = graph.type_of(node.inputs[1]).dtype if node.op == "Where" else first.dtype
                values[node.output_names[0]] = cast(node.outputs[0].type.dtype, SCALAR[node.op](args, node.attrs, dtype))
            return store(outs[0], broadcast_index(idx, out_type.shape), values[nodes[-1].output_names[0]])
        return parallel_nest("i", out_type.shape, make)

    kernel = make_kernel(nodes[0].op, in_types, [out_type], body,
                         flops=out_type.numel().scaled(len(nodes)))
    from dataclasses import replace
    kernel = replace(kernel, name="fused_" + nodes[0].op.lower(), ops=tuple(n.op for n in nodes),
                     nodes=tuple(n.name for n in nodes))
    return kernel, tuple(operands) + (nodes[-1].output_names[0],)
