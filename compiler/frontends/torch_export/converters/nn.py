"""Neural-network ATen ops: convolution, matrix products, pooling, softmax, embedding.
max_pool2d_with_indices computes only its result; a program that reads the indices fails at
that read."""
from __future__ import annotations

from compiler.frontends.torch_export.call import Call
from compiler.ir.ops import NoAttrs
from compiler.ir.ops.nn import AxisAttrs, ConvAttrs, GemmAttrs, PoolAttrs
from compiler.ir.ops.shape import GatherAttrs


def _per_axis(call: Call, key: str, rank: int) -> tuple[int, ...]:
    """torch lets one value stand for every spatial axis."""
    values = call.ints(key)
    if len(values) == 1:
        values *= rank
    if len(values) != rank:
        raise call.invalid(f"argument '{key}' {values} does not fit {rank} spatial axes")
    return values


def _convolution(call: Call) -> str:
    if call.arg("transposed"):
        raise call.unsupported("transposed convolution is not supported")
    x, w, bias = call.tensor("input"), call.tensor("weight"), call.optional_tensor("bias")
    kernel = call.type(w).shape[2:]
    if not all(isinstance(d, int) for d in kernel):
        raise call.unsupported(f"the weight's kernel dimensions {kernel} are not static")
    rank = len(kernel)
    padding = _per_axis(call, "padding", rank)
    attrs = ConvAttrs(tuple(kernel), _per_axis(call, "stride", rank), padding + padding,
                      _per_axis(call, "dilation", rank), call.int("groups"))
    return call.emit("Conv", attrs, x, w, bias)


def _addmm(call: Call) -> str:
    attrs = GemmAttrs(alpha=float(call.number("alpha")), beta=float(call.number("beta")))
    return call.emit("Gemm", attrs, call.tensor("mat1"), call.tensor("mat2"), call.tensor("self"))


def _matmul(first: str, second: str):
    def convert(call: Call) -> str:
        return call.emit("MatMul", NoAttrs(), call.tensor(first), call.tensor(second))
    return convert


def _window(call: Call, rank: int) -> tuple[tuple[int, ...], ...]:
    kernel = _per_axis(call, "kernel_size", rank)
    stride = call.ints("stride")
    stride = kernel if not stride else _per_axis(call, "stride", rank)
    padding = _per_axis(call, "padding", rank)
    return kernel, stride, padding + padding


def _max_pool2d(call: Call) -> tuple[str | None, ...]:
    kernel, stride, pads = _window(call, 2)
    attrs = PoolAttrs(kernel, stride, pads, _per_axis(call, "dilation", 2), ceil_mode=bool(call.arg("ceil_mode")))
    return (call.emit("MaxPool", attrs, call.tensor("self")), None)


def _avg_pool2d(call: Call) -> str:
    if call.arg("divisor_override") is not None:
        raise call.unsupported("avg_pool2d with divisor_override is not supported")
    kernel, stride, pads = _window(call, 2)
    attrs = PoolAttrs(kernel, stride, pads, (1, 1), ceil_mode=bool(call.arg("ceil_mode")),
                      count_include_pad=bool(call.arg("count_include_pad")))
    return call.emit("AveragePool", attrs, call.tensor("self"))


def _adaptive_avg_pool2d(call: Call) -> str:
    x = call.tensor("self")
    out_size = call.ints("output_size")
    sizes = call.type(x).shape[-2:]
    if out_size == (1, 1) and call.type(x).rank == 4:
        return call.emit("GlobalAveragePool", NoAttrs(), x)
    if not all(isinstance(s, int) and s % o == 0 for s, o in zip(sizes, out_size)):
        raise call.unsupported(f"adaptive pooling from {sizes} to {out_size} needs windows of varying size")
    kernel = tuple(s // o for s, o in zip(sizes, out_size))
    return call.emit("AveragePool", PoolAttrs(kernel, kernel, (0,) * 4, (1, 1)), x)


def _softmax(call: Call) -> str:
    if call.arg("half_to_float"):
        raise call.unsupported("softmax with half_to_float is not supported")
    return call.emit("Softmax", AxisAttrs(call.int("dim")), call.tensor("self"))


def _log_softmax(call: Call) -> str:
    return call.emit("Log", NoAttrs(), _softmax(call))


def _embedding(call: Call) -> str:
    # padding_idx, scale_grad_by_freq and sparse only change gradients.
    return call.emit("Gather", GatherAttrs(0), call.tensor("weight"), call.tensor("indices"))


CONVERTERS = {
    "aten.convolution.default": _convolution,
    "aten.addmm.default": _addmm,
    "aten.mm.default": _matmul("self", "mat2"),
    "aten.bmm.default": _matmul("self", "mat2"),
    "aten.max_pool2d_with_indices.default": _max_pool2d,
    "aten.avg_pool2d.default": _avg_pool2d,
    "aten._adaptive_avg_pool2d.default": _adaptive_avg_pool2d,
    "aten._softmax.default": _softmax,
    "aten._log_softmax.default": _log_softmax,
    "aten.embedding.default": _embedding,
}
