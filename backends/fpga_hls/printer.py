"""Print the dataflow design: config structs, weight ROMs and a top function that only wires
layer templates together with streams. All arithmetic lives in include/*.h.

    aotc::dense<data_t, weight_t, cfg_l0_fc1>(s_x, s_l0, w_l0_fc1, b_l0_fc1);
    aotc::activation<data_t, aotc::op_relu, cfg_l1_relu>(s_l0, s_l1);
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from backends.fpga_hls.estimate import dataflow_params
from backends.fpga_hls.layers import Layer
from backends.fpga_hls.precision import FLOAT, Format, LayerFormats
from backends.fpga_hls.search import DataflowDesign

LIBRARY = ("aotc_common.h", "aotc_dense.h", "aotc_conv.h", "aotc_pool.h", "aotc_eltwise.h", "aotc_norm.h",
           "aotc_engine.h")
# {types}: the input streams' element types, then the output's.
CALL = {"dense": "aotc::dense<{types}, {cfg}>({ins}, {out}, {w})",
        "conv": "aotc::conv2d<{types}, {cfg}>({ins}, {out}, {w})",
        "pool": "aotc::pool2d<{types}, {cfg}>({ins}, {out})",
        "gap": "aotc::global_avg_pool<{types}, {cfg}>({ins}, {out})",
        "act": "aotc::activation<{types}, aotc::{functor}, {cfg}>({ins}, {out})",
        "binary": "aotc::binary<{types}, aotc::{functor}, {cfg}>({ins}, {out})",
        "binary_const": "aotc::binary_const<{types}, aotc::{functor}, {cfg}>({ins}, {out}, {w})",
        "softmax": "aotc::softmax<{types}, {cfg}>({ins}, {out})",
        "layernorm": "aotc::layernorm<{types}, {cfg}>({ins}, {out}, {w})"}


def c_float(value: float) -> str:
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    return f"{value:.9e}f"   # 9 significant digits: every float32 reads back exactly


def pack(layer: Layer, knobs: Mapping[str, int]) -> tuple[np.ndarray, ...]:
    """Weights in the order the template's lanes read them (one cyclic partition, one bank per lane)."""
    if layer.kind == "dense":
        w, b = layer.weights
        n_out, n_in = w.shape
        pi, po = knobs["pi"], knobs["po"]
        return (w.reshape(n_out // po, po, n_in // pi, pi).transpose(0, 2, 1, 3).reshape(-1), b)
    if layer.kind == "conv":
        w, b = layer.weights
        c_out, icg, kh, kw = w.shape
        pi, po = knobs["pi"], knobs["po"]
        return (w.reshape(c_out // po, po, icg // pi, pi, kh, kw).transpose(0, 2, 4, 5, 1, 3).reshape(-1), b)
    return tuple(np.ascontiguousarray(a).reshape(-1) for a in layer.weights)


def weight_names(layer: Layer) -> tuple[str, ...]:
    return tuple(f"{layer.name}_{suffix}" for suffix in ("w", "b", "c")[:len(layer.weights)]) \
        if layer.kind != "layernorm" else (f"{layer.name}_gamma", f"{layer.name}_beta")


def config_struct(layer: Layer, params: Mapping[str, int], formats: LayerFormats | None) -> str:
    lines = [f"struct cfg_{layer.name} {{  // {layer.op} '{layer.node}'",
             f"    typedef {formats.weight.c_type(saturate=False) if formats else 'float'} weight_t;",
             f"    typedef {formats.acc.c_type(saturate=False) if formats else 'float'} acc_t;",
             f"    typedef {formats.weight.store_type() if formats else 'float'} store_t;"]
    for key, value in list(layer.dims) + sorted(params.items()):
        lines.append(f"    static const unsigned {key} = {value};")
    if layer.kind == "act":
        lines += [f"    static constexpr float alpha = {c_float(layer.scalars[0])};",
                  f"    static constexpr float beta = {c_float(layer.scalars[1])};"]
    if layer.kind == "layernorm":
        lines.append(f"    static constexpr float epsilon = {c_float(layer.scalars[0])};")
    return "\n".join(lines + ["};"])


def rom(name: str, ctype: str, values: np.ndarray, fmt: Format = FLOAT) -> str:
    """A weight ROM: float literals, or a fixed-point weight's raw bits (rounded to nearest)."""
    if fmt.bits:
        flat = fmt.raw_bits(np.asarray(values, np.float64)).reshape(-1).tolist()
        rows = [", ".join(str(v) for v in flat[i:i + 16]) for i in range(0, len(flat), 16)]
    else:
        flat = np.asarray(values, np.float32).reshape(-1).tolist()
        rows = [", ".join(c_float(v) for v in flat[i:i + 8]) for i in range(0, len(flat), 8)]
    return f"static const {ctype} {name}[{len(flat)}] = {{\n    " + ",\n    ".join(rows) + "\n};"


def streams_for(layers: tuple[Layer, ...], inputs: tuple[str, ...], outputs: tuple[str, ...]):
    """Resolve aliases, then give every (value, reader) its own stream: a value read twice is
    cloned. Returns (source value of each alias, reader streams per value, clone lines)."""
    source = {name: name for name in inputs}
    for layer in layers:
        source[layer.output] = source.get(layer.inputs[0], layer.inputs[0]) if layer.kind == "alias" else layer.output
    readers: dict[str, int] = {}
    for layer in layers:
        if layer.kind != "alias":
            for value in layer.inputs:
                readers[source[value]] = readers.get(source[value], 0) + 1
    for value in outputs:
        readers[source[value]] = readers.get(source[value], 0) + 1
    return source, readers


def print_dataflow(layers: tuple[Layer, ...], design: DataflowDesign, inputs: tuple[tuple[str, int], ...],
                   outputs: tuple[tuple[str, int], ...], value_formats: Mapping[str, Format],
                   layer_formats: Mapping[str, LayerFormats], bits: int) -> dict[str, str]:
    """inputs/outputs: (graph value, per-sample size) for each top-level port, in order;
    formats: fixed-point types per streamed value and per layer (empty for float32)."""
    params = [dataflow_params(layer, knobs, bits) for layer, knobs in zip(layers, design.knobs)]
    parameters = ["// Layer configurations (generated by aotc; the search picked pi/po/pc).",
                  "#ifndef AOTC_PARAMETERS_H", "#define AOTC_PARAMETERS_H", '#include "aotc_top.h"', ""]
    parameters += [config_struct(layer, p, layer_formats.get(layer.name)) + "\n"
                   for layer, p in zip(layers, params) if layer.kind != "alias"]
    weights = ["// Weights as on-chip ROMs, packed for each layer's lanes (generated by aotc).",
               "#ifndef AOTC_WEIGHTS_H", "#define AOTC_WEIGHTS_H", '#include "aotc_top.h"', ""]
    for layer, knobs in zip(layers, design.knobs):
        for name, array in zip(weight_names(layer), pack(layer, knobs)):
            fmt = layer_formats[layer.name].weight if layer.name in layer_formats else FLOAT
            weights.append(rom(name, f"cfg_{layer.name}::store_t", array, fmt))
    source, readers = streams_for(layers, tuple(n for n, _ in inputs), tuple(n for n, _ in outputs))
    ids = {value: f"s{i}" for i, value in enumerate(sorted(readers))}
    produced = [layer.output for layer in layers if layer.kind != "alias"]
    typedefs = ["// Stream element types, one per tensor (float, or ap_fixed from calibration ranges)."]
    for value in [n for n, _ in inputs] + produced:   # one element type per stream
        ids.setdefault(value, f"s_drop_{len(ids)}")
        typedefs.append(f"typedef {value_formats.get(value, FLOAT).c_type()} t_{ids[value]};")
    stream_type = lambda value: f"t_{ids[source.get(value, value)]}"   # noqa: E731
    taken: dict[str, int] = {}
    body, decls = [], []

    def declare(name: str, value: str, depth: int = 2) -> str:
        decls.append(f"    hls::stream<{stream_type(value)}> {name}(\"{name}\");")
        decls.append(f"#pragma HLS STREAM variable = {name} depth = {depth}")
        return name

    def fan_out(value: str, size: int) -> None:
        """A value with several readers is cloned down a chain: base -> r0 + t0 -> r1 + t1 ...
        Each branch holds a whole frame: a reader that needs another branch's result first (a
        residual Add waiting for its convolution) would otherwise stall the clone and deadlock."""
        count, base = readers[value], ids[value]
        previous = base
        for i in range(count - 1):
            left = declare(f"{base}_r{i}", value, size)
            right = declare(f"{base}_r{count - 1}" if i == count - 2 else f"{base}_t{i}", value, size)
            body.append(f"    aotc::clone<{stream_type(value)}, {size}>({previous}, {left}, {right});")
            previous = right

    def read(value: str) -> str:
        value = source[value]
        i = taken.get(value, 0)
        taken[value] = i + 1
        return ids[value] if readers[value] == 1 else f"{ids[value]}_r{i}"

    for (name, size), port in zip(inputs, range(len(inputs))):
        if name in readers:
            declare(ids[name], name)
            body.append(f"    aotc::load_stream<float, {stream_type(name)}, {size}>(in{port}, {ids[name]});")
            fan_out(name, size)
    partitions = []
    for layer, knobs in zip(layers, design.knobs):
        if layer.kind == "alias":
            continue
        # A value nobody reads is still drained, so its layer never blocks on a full stream.
        out = declare(ids[layer.output], layer.output)
        names = weight_names(layer)
        types = ", ".join([stream_type(v) for v in layer.inputs] + [stream_type(layer.output)])
        call = CALL[layer.kind].format(cfg=f"cfg_{layer.name}", functor=layer.functor, types=types,
                                       ins=", ".join(read(v) for v in layer.inputs), out=out, w=", ".join(names))
        body.append(f"    {call};  // {layer.op} '{layer.node}'")
        if layer.kind in ("dense", "conv"):
            banks = knobs["pi"] * knobs["po"]
            if banks > 1:
                partitions.append(f"#pragma HLS ARRAY_PARTITION variable = {names[0]} cyclic factor = {banks}")
        if layer.output in readers:
            fan_out(layer.output, layer.out_size)
        else:
            body.append(f"    for (unsigned i = 0; i < {layer.out_size}; i++) {out}.read();")
    for (name, size), port in zip(outputs, range(len(outputs))):
        body.append(f"    aotc::store_stream<{stream_type(name)}, float, {size}>({read(name)}, out{port});")
    top = ["// The top function: AXI master ports for tensors, AXI-lite control; layers run as a",
           "// DATAFLOW pipeline joined by streams (generated by aotc).",
           '#include "aotc_top.h"', '#include "parameters.h"', '#include "weights.h"']
    top += [f'#include "{h}"' for h in LIBRARY if h != "aotc_engine.h"]
    args = [f"const float *in{i}" for i in range(len(inputs))] + [f"float *out{i}" for i in range(len(outputs))]
    top += ["", f"static void aotc_dataflow({', '.join(args)}) {{", "#pragma HLS DATAFLOW", *partitions,
            *decls, *body, "}", "", top_signature(len(inputs), len(outputs), False) + " {",
            *axi_pragmas(inputs, outputs, False),
            "samples:", "    for (unsigned n = 0; n < batch; n++) {",
            "        aotc_dataflow(" + ", ".join([f"in{i} + n * {s}" for i, (_, s) in enumerate(inputs)]
                                              + [f"out{i} + n * {s}" for i, (_, s) in enumerate(outputs)]) + ");",
            "    }", "}", ""]
    return {"parameters.h": "\n".join(parameters[:5] + typedefs + [""] + parameters[5:] + ["#endif", ""]),
            "weights.h": "\n".join(weights + ["", "#endif", ""]),
            "aotc_top.cpp": "\n".join(top)}


def top_signature(n_in: int, n_out: int, engine: bool) -> str:
    args = [f"const float *in{i}" for i in range(n_in)] + [f"float *out{i}" for i in range(n_out)]
    if engine:
        args += ["const float *weights", "float *arena"]
    return f"void aotc_top({', '.join(args + ['unsigned batch'])})"


def axi_pragmas(inputs, outputs, engine: bool) -> list[str]:
    """m_axi per tensor (own bundle, so reads and writes overlap); scalars and start/done on AXI-lite."""
    lines = []
    ports = [(f"in{i}", s) for i, (_, s) in enumerate(inputs)] + [(f"out{i}", s) for i, (_, s) in enumerate(outputs)]
    if engine:
        ports += [("weights", 0), ("arena", 0)]
    for i, (port, size) in enumerate(ports):
        depth = f" depth = {size}" if size else ""
        lines.append(f"#pragma HLS INTERFACE m_axi port = {port} offset = slave bundle = gmem{i}{depth}")
    lines += ["#pragma HLS INTERFACE s_axilite port = batch", "#pragma HLS INTERFACE s_axilite port = return"]
    return lines
