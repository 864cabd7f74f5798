"""Neural-network ONNX ops: Conv, pooling, Gemm/MatMul, normalisations, Softmax.

Conv and pooling get explicit attributes: default strides, dilations and pads filled in,
`auto_pad` turned into pads from the input's static spatial shape, and `kernel_shape` taken
from the weight when absent.
"""
from __future__ import annotations

from compiler.frontends.onnx.node import Emit, NodeView
from compiler.ir.ops import NoAttrs
from compiler.ir.ops.conv_transpose import Col2ImAttrs, ConvTransposeAttrs
from compiler.ir.ops.nn import AxisAttrs, ConvAttrs, EpsilonAttrs, GemmAttrs, LayerNormAttrs, LpPoolAttrs, PoolAttrs
from compiler.ir.ops.reduce import ReduceAttrs


def _spatial_sizes(node: NodeView, rank: int) -> tuple[int, ...]:
    x = node.type(0)
    if x.rank != rank + 2:
        raise node.invalid(f"input has rank {x.rank}, but the window has {rank} spatial axes")
    sizes = x.shape[2:]
    if not all(isinstance(d, int) for d in sizes):
        raise node.unsupported(f"auto_pad needs static spatial dimensions, got {x.shape}")
    return tuple(int(d) for d in sizes)


def window_attrs(node: NodeView, kernel: tuple[int, ...], pool: bool) -> tuple[tuple[int, ...], ...]:
    """(strides, pads, dilations) with defaults filled and auto_pad resolved.

    SAME pads make the output ceil(size / stride) long. Pooling follows onnxruntime and the ONNX
    reference implementation there: its pads ignore dilations, and a window shorter than the
    stride would need negative (cropping) pads, which aotc refuses rather than guess.
    """
    rank = len(kernel)
    strides = node.ints_attr("strides", (1,) * rank)
    dilations = node.ints_attr("dilations", (1,) * rank)
    pads = node.ints_attr("pads", (0,) * (2 * rank))
    auto_pad = node.attr("auto_pad", "NOTSET")
    if len(strides) != rank or len(dilations) != rank or len(pads) != 2 * rank:
        raise node.invalid(f"strides {strides}, dilations {dilations} and pads {pads} do not fit "
                           f"kernel_shape {kernel}")
    if auto_pad == "VALID":
        pads = (0,) * (2 * rank)
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, k, s, d in zip(_spatial_sizes(node, rank), kernel, strides, dilations):
            out = -(-size // s)
            total = (out - 1) * s + (k - 1) * (1 if pool else d) + 1 - size
            if total < 0 and pool:
                raise node.unsupported(f"auto_pad {auto_pad} with a window ({k}) shorter than its "
                                       f"stride ({s}) would crop the input; use explicit pads")
            total = max(total, 0)
            small, large = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else large)
            ends.append(large if auto_pad == "SAME_UPPER" else small)
        pads = tuple(begins + ends)
    elif auto_pad != "NOTSET":
        raise node.invalid(f"unknown auto_pad '{auto_pad}'")
    return strides, pads, dilations


def _conv(node: NodeView) -> Emit:
    weight = node.type(1)
    if "kernel_shape" in node.attrs:
        kernel = node.ints_attr("kernel_shape")
    else:
        kernel = weight.shape[2:]
        if not all(isinstance(d, int) for d in kernel):
            raise node.unsupported(f"the weight's kernel dimensions {weight.shape} are not static")
    strides, pads, dilations = window_attrs(node, tuple(kernel), pool=False)
    return Emit("Conv", ConvAttrs(tuple(kernel), strides, pads, dilations, node.int_attr("group", 1)))


def _pool(node: NodeView) -> Emit:
    kernel = node.ints_attr("kernel_shape")
    strides, pads, dilations = window_attrs(node, kernel, pool=True)
    # MaxPool's storage_order affects only its Indices output, which aotc does not compute.
    attrs = PoolAttrs(kernel, strides, pads, dilations, ceil_mode=bool(node.int_attr("ceil_mode", 0)),
                      count_include_pad=bool(node.int_attr("count_include_pad", 0)))
    return Emit(node.op_type, attrs, inputs=(0,))


def _lp_pool(node: NodeView) -> Emit:
    kernel = node.ints_attr("kernel_shape")
    strides, pads, dilations = window_attrs(node, kernel, pool=True)
    attrs = LpPoolAttrs(kernel, strides, pads, dilations, ceil_mode=bool(node.int_attr("ceil_mode", 0)),
                        p=node.int_attr("p", 2))
    return Emit("LpPool", attrs)


def _global_max_pool(node: NodeView) -> Emit:
    return Emit("ReduceMax", ReduceAttrs(axes=tuple(range(2, node.type(0).rank)), keepdims=True))


def _global_average_pool(node: NodeView) -> Emit:
    return Emit("GlobalAveragePool", NoAttrs())


def _gemm(node: NodeView) -> Emit:
    attrs = GemmAttrs(alpha=node.float_attr("alpha", 1.0), beta=node.float_attr("beta", 1.0),
                      trans_a=bool(node.int_attr("transA", 0)), trans_b=bool(node.int_attr("transB", 0)))
    return Emit("Gemm", attrs)


def _matmul(node: NodeView) -> Emit:
    return Emit("MatMul", NoAttrs())


def _batch_norm(node: NodeView) -> Emit:
    if node.int_attr("training_mode", 0):
        raise node.unsupported("training_mode=1 (batch statistics) is not supported; "
                               "aotc compiles inference only")
    return Emit("BatchNormalization", EpsilonAttrs(node.float_attr("epsilon", 1e-5)), inputs=(0, 1, 2, 3, 4))


def _softmax(node: NodeView) -> Emit:
    # Opset 13 semantics (the oldest aotc imports): normalise along one axis.
    return Emit("Softmax", AxisAttrs(node.int_attr("axis", -1)))


def _layer_norm(node: NodeView) -> Emit:
    attrs = LayerNormAttrs(axis=node.int_attr("axis", -1), epsilon=node.float_attr("epsilon", 1e-5))
    return Emit("LayerNormalization", attrs, inputs=(0, 1, 2)[:node.num_inputs])


def _conv_transpose(node: NodeView) -> Emit:
    x, w = node.type(0), node.type(1)
    if not x.is_static or not w.is_static:
        raise node.unsupported("ConvTranspose needs static input and weight shapes")
    in_sp, kernel = x.static_shape()[2:], w.static_shape()[2:]
    n = len(kernel)
    strides = node.ints_attr("strides", (1,) * n)
    dilations = node.ints_attr("dilations", (1,) * n)
    output_padding = node.ints_attr("output_padding", (0,) * n)
    auto_pad = node.attr("auto_pad", "NOTSET")
    pads = node.ints_attr("pads", (0,) * (2 * n))
    output_shape = node.ints_attr("output_shape", ()) or \
        (tuple(in_sp[i] * strides[i] for i in range(n)) if auto_pad in ("SAME_UPPER", "SAME_LOWER") else ())
    if output_shape:
        total = [strides[i] * (in_sp[i] - 1) + output_padding[i] + (kernel[i] - 1) * dilations[i] + 1
                 - output_shape[-n + i] for i in range(n)]
        begins = [t // 2 if auto_pad == "SAME_UPPER" else t - t // 2 for t in total]
        pads = tuple(begins) + tuple(t - b for t, b in zip(total, begins))
    attrs = ConvTransposeAttrs(strides=strides, dilations=dilations, pads=pads, output_padding=output_padding,
                               group=node.int_attr("group", 1))
    return Emit("ConvTranspose", attrs)


def _col2im(node: NodeView) -> Emit:
    image = node.static_ints(1, "image shape")
    block = node.static_ints(2, "block shape")
    n = len(image)
    attrs = Col2ImAttrs(image_shape=image, block_shape=block, strides=node.ints_attr("strides", (1,) * n),
                        dilations=node.ints_attr("dilations", (1,) * n), pads=node.ints_attr("pads", (0,) * (2 * n)))
    return Emit("Col2Im", attrs, inputs=(0,))


CONVERTERS = {
    "Conv": _conv,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalAveragePool": _global_average_pool,
    "GlobalMaxPool": _global_max_pool,
    "LpPool": _lp_pool,
    "ConvTranspose": _conv_transpose,
    "Col2Im": _col2im,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batch_norm,
    "Softmax": _softmax,
    "LayerNormalization": _layer_norm,
}

