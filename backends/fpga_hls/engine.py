"""The sequential engine: layers become steps that run one after another on one shared compute
array (include/aotc_engine.h), activations in a DDR arena, weights read from DDR by tiles.

A convolution absorbs what follows it when nothing else reads its output: a residual Add whose
other operand is ready, then a Relu (ResNet's conv -> add -> relu is one step). Dense layers run
as 1x1 convolutions on a 1x1 image.
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.errors import UnsupportedError
from compiler.target import Target
from backends.fpga_hls.estimate import engine_conv_cycles
from backends.fpga_hls.layers import Layer


@dataclass(frozen=True)
class Step:
    kind: str                       # conv | pool | gap | add_relu | copy
    layer: Layer                    # the step's first layer (its weights, its dims)
    nodes: tuple[str, ...]
    inputs: tuple[str, ...]         # buffers read: x (and the residual / second operand)
    output: str
    relu: bool = False
    residual: bool = False

    def conv_dims(self) -> dict[str, int]:
        d = dict(self.layer.dims)
        if self.layer.kind == "dense":
            return {"c_in": d["n_in"], "h_in": 1, "w_in": 1, "c_out": d["n_out"], "h_out": 1, "w_out": 1,
                    "k": 1, "s": 1, "pad": 0, "groups": 1}
        return {"c_in": d["c_in"] // d["groups"], "h_in": d["h_in"], "w_in": d["w_in"],
                "c_out": d["c_out"] // d["groups"], "h_out": d["h_out"], "w_out": d["w_out"], "k": d["k_h"],
                "s": d["s_h"], "pad": d["p_t"], "groups": d["groups"]}


def _refuse(layer: Layer, target: Target, why: str) -> UnsupportedError:
    return UnsupportedError(f"op {layer.op} (node '{layer.node}') is not supported by target {target.name}'s "
                            f"streaming engine ({why})")


def to_steps(layers: tuple[Layer, ...], outputs: tuple[str, ...], target: Target) -> tuple[Step, ...]:
    source: dict[str, str] = {}
    for layer in layers:
        if layer.kind == "alias":
            source[layer.output] = source.get(layer.inputs[0], layer.inputs[0])
    resolve = lambda v: source.get(v, v)   # noqa: E731
    readers: dict[str, int] = {}
    for layer in layers:
        if layer.kind != "alias":
            for v in layer.inputs:
                readers[resolve(v)] = readers.get(resolve(v), 0) + 1
    for v in outputs:
        readers[resolve(v)] = readers.get(resolve(v), 0) + 1
    producer_index = {layer.output: i for i, layer in enumerate(layers)}
    steps, absorbed = [], set()
    for i, layer in enumerate(layers):
        if layer.kind == "alias" or i in absorbed:
            continue
        if layer.kind in ("dense", "conv"):
            steps.append(_conv_step(layers, i, resolve, readers, producer_index, absorbed, target))
        elif layer.kind == "pool":
            steps.append(Step("pool", layer, (layer.node,), (resolve(layer.inputs[0]),), layer.output))
        elif layer.kind == "gap":
            steps.append(Step("gap", layer, (layer.node,), (resolve(layer.inputs[0]),), layer.output))
        elif layer.kind == "act" and layer.functor in ("op_relu", "op_identity"):
            steps.append(Step("add_relu", layer, (layer.node,), (resolve(layer.inputs[0]),), layer.output,
                              relu=layer.functor == "op_relu"))
        elif layer.kind == "binary" and layer.functor == "op_add":
            steps.append(Step("add_relu", layer, (layer.node,), tuple(resolve(v) for v in layer.inputs),
                              layer.output))
        else:
            raise _refuse(layer, target, "it runs Conv, Gemm/MatMul, pooling, Add and Relu")
    return tuple(steps)


def _conv_step(layers, i, resolve, readers, producer_index, absorbed, target) -> Step:
    layer = layers[i]
    d = dict(layer.dims)
    if layer.kind == "conv" and (d["k_h"] != d["k_w"] or d["s_h"] != d["s_w"] or d["p_t"] != d["p_l"]
                                 or d["d_h"] != 1 or d["d_w"] != 1):
        raise _refuse(layer, target, "square kernels, equal strides and pads, no dilation")
    nodes, output, inputs, relu, residual = [layer.node], layer.output, [resolve(layer.inputs[0])], False, False
    nxt = _only_reader(layers, output, resolve, readers, i)
    if nxt is not None and layers[nxt].kind == "binary" and layers[nxt].functor == "op_add":
        other = [resolve(v) for v in layers[nxt].inputs if resolve(v) != output]
        ready = len(other) == 1 and producer_index.get(other[0], -1) < i
        if ready:
            absorbed.add(nxt)
            nodes.append(layers[nxt].node)
            inputs.append(other[0])
            output, residual = layers[nxt].output, True
            nxt = _only_reader(layers, output, resolve, readers, nxt)
    if nxt is not None and layers[nxt].kind == "act" and layers[nxt].functor == "op_relu":
        absorbed.add(nxt)
        nodes.append(layers[nxt].node)
        output, relu = layers[nxt].output, True
    return Step("conv", layer, tuple(nodes), tuple(inputs), output, relu=relu, residual=residual)


def _only_reader(layers, value, resolve, readers, after: int):
    if readers.get(value, 0) != 1:
        return None
    for j in range(after + 1, len(layers)):
        if layers[j].kind != "alias" and value in [resolve(v) for v in layers[j].inputs]:
            return j
    return None


def engine_bounds(steps: tuple[Step, ...]) -> dict[str, int]:
    convs = [s.conv_dims() for s in steps if s.kind == "conv"] or [{"k": 1, "s": 1, "w_out": 1}]
    return {"max_k": max(d["k"] for d in convs), "max_s": max(d["s"] for d in convs),
            "max_w_in": max((d["w_out"] - 1) * d["s"] + d["k"] for d in convs),
            "max_w_out": max(d["w_out"] for d in convs)}


def step_cycles(step: Step, tm: int, tn: int, tr: int) -> int:
    if step.kind == "conv":
        d = step.conv_dims()
        return d["groups"] * engine_conv_cycles(d, tm, tn, tr)
    d = dict(step.layer.dims)
    if step.kind == "pool":
        return d["c"] * d["h_out"] * d["w_out"] * d["k_h"] * d["k_w"]
    if step.kind == "gap":
        return d["c"] * d["hw"]
    return step.layer.out_size
