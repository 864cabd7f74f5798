"""Resource and latency estimates per layer: cycles, DSP, BRAM18K, LUT, FF.

The numbers follow the templates' loop nests (trip counts x initiation interval) and a cost per
operator taken from AMD's floating-point operator figures for UltraScale+ at 300 MHz: an fp32
multiply is 3 DSP48E2 and an add 2 (so a multiply-add is 5), with the LUT/FF that come with them.
Arrays become BRAM18K (512 x 32-bit words each) per partition bank, or LUTRAM when a bank holds
64 words or fewer. Estimates are what the search optimises and what `aotc inspect` shows; they
are not a substitute for Vitis's report, which the README says how to get.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from backends.fpga_hls.layers import Layer

FADD_LATENCY = 4                 # cycles of a pipelined fp32 add at 300 MHz: a carried sum's minimum II
MAC = {"dsp": 5, "lut": 400, "ff": 600}          # one fp32 multiply-add lane
# Fixed point: a multiply up to 18x27 bits is one DSP48E2 (two 8-bit ones share a DSP), the
# accumulator's add is fabric logic; (DSP per lane, LUT, FF) by data width.
FIXED_MAC = {8: (0.5, 40, 60), 16: (1, 60, 90)}
LAYER_CONTROL = {"lut": 600, "ff": 800}          # loop counters, FSM, stream handshakes
AXI_PORT = {"lut": 1500, "ff": 2000, "bram": 2}  # one m_axi adapter with its burst buffers
UNARY_COST = {"op_relu": (0, 60), "op_leaky_relu": (3, 200), "op_clip": (0, 150), "op_identity": (0, 0),
              "op_sigmoid": (10, 2500), "op_tanh": (12, 2800), "op_exp": (8, 2000), "op_gelu": (16, 3500)}
BINARY_COST = {"op_add": (2, 300), "op_sub": (2, 300), "op_mul": (3, 150), "op_div": (0, 900),
               "op_max": (0, 150), "op_min": (0, 150)}
BRAM18_BITS = 18 * 1024
LUTRAM_BITS = 64 * 32


@dataclass(frozen=True)
class Cost:
    cycles: int = 0
    dsp: int = 0
    bram: int = 0           # BRAM18K
    lut: int = 0
    ff: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.cycles + other.cycles, self.dsp + other.dsp, self.bram + other.bram,
                    self.lut + other.lut, self.ff + other.ff)

    def resources(self) -> dict[str, int]:
        return {"dsp": self.dsp, "bram": self.bram, "lut": self.lut, "ff": self.ff}


def memory(words: int, banks: int = 1, bits: int = 32) -> Cost:
    """An array of `words` words of `bits` bits cut into `banks` partitions. A BRAM18K is
    512 x 36, 1K x 18 or 2K x 9 bits, so narrow words pack more per block."""
    if words <= 0:
        return Cost()
    per_bank = math.ceil(words / banks)
    if per_bank * bits <= LUTRAM_BITS:
        return Cost(lut=banks * math.ceil(per_bank * bits / 64))
    per_block = 512 if bits > 18 else (1024 if bits > 9 else 2048)
    return Cost(bram=banks * math.ceil(per_bank / per_block))


def lanes(n: int, bits: int = 0) -> Cost:
    """`n` multiply-add lanes: fp32 (bits 0) or fixed point of `bits` bits."""
    dsp, lut, ff = (MAC["dsp"], MAC["lut"], MAC["ff"]) if not bits else FIXED_MAC[8 if bits <= 8 else 16]
    return Cost(dsp=math.ceil(dsp * n), lut=lut * n + LAYER_CONTROL["lut"], ff=ff * n + LAYER_CONTROL["ff"])


def carried_ii(distance: int, bits: int = 0) -> int:
    """II of a pipelined loop whose accumulator is revisited every `distance` iterations (a
    fixed-point add completes in one cycle; a float add takes FADD_LATENCY)."""
    return 1 if bits else max(1, math.ceil(FADD_LATENCY / max(1, distance)))


def dataflow_params(layer: Layer, knobs: dict[str, int], bits: int = 0) -> dict[str, int]:
    """The template parameters a knob setting implies (the printer writes the same values)."""
    d = dict(layer.dims)
    if layer.kind == "dense":
        return {"pi": knobs["pi"], "po": knobs["po"], "ii": carried_ii(d["n_out"] // knobs["po"], bits)}
    if layer.kind == "conv":
        return {"pi": knobs["pi"], "po": knobs["po"], "ii": carried_ii(d["h_out"] * d["w_out"], bits)}
    if layer.kind == "pool":
        # Each lane reads its channel's window from one dual-port bank.
        return {"pc": knobs["pc"], "ii": max(1, math.ceil(d["k_h"] * d["k_w"] / 2))}
    if layer.kind == "gap":
        return {"ii": carried_ii(1, bits)}
    if layer.kind in ("softmax", "layernorm"):
        return {"ii": FADD_LATENCY}     # these compute in float whatever the data type
    return {}


def dataflow_cost(layer: Layer, knobs: dict[str, int], bits: int = 0) -> Cost:
    """One layer of the dataflow pipeline, for one sample; `bits` 0 is float32."""
    d, p = dict(layer.dims), dataflow_params(layer, knobs, bits)
    word = bits or 32
    mem = lambda words, banks=1: memory(words, banks, word)   # noqa: E731
    if layer.kind == "dense":
        n_in, n_out, pi, po = d["n_in"], d["n_out"], p["pi"], p["po"]
        cycles = n_in + n_out + (n_in // pi) * (n_out // po) * p["ii"] + n_out + 10
        return (Cost(cycles=cycles) + lanes(pi * po, bits) + mem(n_in * n_out, pi * po) + mem(n_out)
                + mem(n_in, pi) + memory(n_out, po))
    if layer.kind == "conv":
        pi, po, g = p["pi"], p["po"], d["groups"]
        icg, hw_in, hw_out = d["c_in"] // g, d["h_in"] * d["w_in"], d["h_out"] * d["w_out"]
        body = (d["c_out"] // po) * (icg // pi) * d["k_h"] * d["k_w"] * hw_out * p["ii"]
        cycles = d["c_in"] * hw_in + 2 * d["c_out"] * hw_out + body + 20
        return (Cost(cycles=cycles) + lanes(pi * po, bits) + mem(d["c_out"] * icg * d["k_h"] * d["k_w"], pi * po)
                + mem(d["c_out"]) + mem(d["c_in"] * hw_in, pi) + memory(d["c_out"] * hw_out, po))
    if layer.kind == "pool":
        pc, hw_in, hw_out = p["pc"], d["h_in"] * d["w_in"], d["h_out"] * d["w_out"]
        cycles = d["c"] * hw_in + (d["c"] // pc) * hw_out * p["ii"] + d["c"] * hw_out
        return (Cost(cycles=cycles, dsp=0 if d["is_max"] else 2 * pc, lut=200 * pc + LAYER_CONTROL["lut"],
                     ff=300 * pc + LAYER_CONTROL["ff"]) + mem(d["c"] * hw_in, pc) + mem(d["c"] * hw_out, pc))
    if layer.kind == "gap":
        return Cost(cycles=d["c"] * d["hw"] * p["ii"], dsp=2, lut=900, ff=1200)
    if layer.kind == "act":
        dsp, lut = UNARY_COST[layer.functor]
        return Cost(cycles=d["n"] + 5, dsp=dsp, lut=lut + 200, ff=lut + 300)
    if layer.kind in ("binary", "binary_const"):
        dsp, lut = BINARY_COST[layer.functor]
        rom = mem(d["n"]) if layer.kind == "binary_const" else Cost()
        return Cost(cycles=d["n"] + 5, dsp=dsp, lut=lut + 200, ff=lut + 300) + rom
    if layer.kind in ("softmax", "layernorm"):
        rows, cols = d["rows"], d["cols"]
        passes = 3 if layer.kind == "layernorm" else 2
        params = memory(2 * cols) if layer.kind == "layernorm" else Cost()
        return (Cost(cycles=rows * cols * (passes * p["ii"] + 1), dsp=14, lut=4000, ff=5000)
                + memory(cols) + params)
    return Cost()   # alias: the stream passes through


def engine_resources(tm: int, tn: int, tr: int, max_k: int, max_s: int, max_w_in: int, max_w_out: int) -> Cost:
    """The shared engine: the tm x tn array, its three tile buffers, the pooling/elementwise unit."""
    rows_in = (tr - 1) * max_s + max_k
    return (lanes(tm * tn) + memory(tm * tn * max_k * max_k, tm * tn) + memory(tn * rows_in * max_w_in, tn)
            + memory(tm * tr * max_w_out, tm) + Cost(dsp=4, lut=2500, ff=3000))


def engine_conv_cycles(d: dict[str, int], tm: int, tn: int, tr: int) -> int:
    """Trip counts of aotc_engine.h's engine_conv: loads, compute and stores run one after another."""
    k, s, kk = d["k"], d["s"], d["k"] * d["k"]
    total = 0
    for r0 in range(0, d["h_out"], tr):
        rows = min(tr, d["h_out"] - r0)
        tr_in = (rows - 1) * s + k
        per_in_tile = tm * tn * kk + tn * tr_in * ((d["w_out"] - 1) * s + k) + kk * rows * d["w_out"]
        per_out_tile = rows * d["w_out"] + math.ceil(d["c_in"] / tn) * per_in_tile + tm * rows * d["w_out"]
        total += math.ceil(d["c_out"] / tm) * per_out_tile
    return total
