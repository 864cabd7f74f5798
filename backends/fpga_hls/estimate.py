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
LAYER_CONTROL = {"lut": 600, "ff": 800}          # loop counters, FSM, stream handshakes
AXI_PORT = {"lut": 1500, "ff": 2000, "bram": 2}  # one m_axi adapter with its burst buffers
UNARY_COST = {"op_relu": (0, 60), "op_leaky_relu": (3, 200), "op_clip": (0, 150), "op_identity": (0, 0),
              "op_sigmoid": (10, 2500), "op_tanh": (12, 2800), "op_exp": (8, 2000), "op_gelu": (16, 3500)}
BINARY_COST = {"op_add": (2, 300), "op_sub": (2, 300), "op_mul": (3, 150), "op_div": (0, 900),
               "op_max": (0, 150), "op_min": (0, 150)}
WORDS_PER_BRAM18 = 512
LUTRAM_WORDS = 64


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


def memory(words: int, banks: int = 1) -> Cost:
    """An array of `words` 32-bit words cut into `banks` partitions."""
    if words <= 0:
        return Cost()
    per_bank = math.ceil(words / banks)
    if per_bank <= LUTRAM_WORDS:
        return Cost(lut=banks * math.ceil(per_bank * 32 / 64))
    return Cost(bram=banks * math.ceil(per_bank / WORDS_PER_BRAM18))


def lanes(n: int) -> Cost:
    return Cost(dsp=MAC["dsp"] * n, lut=MAC["lut"] * n + LAYER_CONTROL["lut"], ff=MAC["ff"] * n + LAYER_CONTROL["ff"])


def carried_ii(distance: int) -> int:
    """II of a pipelined loop whose accumulator is revisited every `distance` iterations."""
    return max(1, math.ceil(FADD_LATENCY / max(1, distance)))


def dataflow_params(layer: Layer, knobs: dict[str, int]) -> dict[str, int]:
    """The template parameters a knob setting implies (the printer writes the same values)."""
    d = dict(layer.dims)
    if layer.kind == "dense":
        return {"pi": knobs["pi"], "po": knobs["po"], "ii": carried_ii(d["n_out"] // knobs["po"])}
    if layer.kind == "conv":
        return {"pi": knobs["pi"], "po": knobs["po"], "ii": carried_ii(d["h_out"] * d["w_out"])}
    if layer.kind == "pool":
        # Each lane reads its channel's window from one dual-port bank.
        return {"pc": knobs["pc"], "ii": max(1, math.ceil(d["k_h"] * d["k_w"] / 2))}
    if layer.kind in ("gap", "softmax", "layernorm"):
        return {"ii": FADD_LATENCY}
    return {}


def dataflow_cost(layer: Layer, knobs: dict[str, int]) -> Cost:
    """One layer of the dataflow pipeline, for one sample."""
    d, p = dict(layer.dims), dataflow_params(layer, knobs)
    if layer.kind == "dense":
        n_in, n_out, pi, po = d["n_in"], d["n_out"], p["pi"], p["po"]
        cycles = n_in + n_out + (n_in // pi) * (n_out // po) * p["ii"] + n_out + 10
        return (Cost(cycles=cycles) + lanes(pi * po) + memory(n_in * n_out, pi * po) + memory(n_out)
                + memory(n_in, pi) + memory(n_out, po))
    if layer.kind == "conv":
        pi, po, g = p["pi"], p["po"], d["groups"]
        icg, hw_in, hw_out = d["c_in"] // g, d["h_in"] * d["w_in"], d["h_out"] * d["w_out"]
        body = (d["c_out"] // po) * (icg // pi) * d["k_h"] * d["k_w"] * hw_out * p["ii"]
        cycles = d["c_in"] * hw_in + 2 * d["c_out"] * hw_out + body + 20
        return (Cost(cycles=cycles) + lanes(pi * po) + memory(d["c_out"] * icg * d["k_h"] * d["k_w"], pi * po)
                + memory(d["c_out"]) + memory(d["c_in"] * hw_in, pi) + memory(d["c_out"] * hw_out, po))
    if layer.kind == "pool":
        pc, hw_in, hw_out = p["pc"], d["h_in"] * d["w_in"], d["h_out"] * d["w_out"]
        cycles = d["c"] * hw_in + (d["c"] // pc) * hw_out * p["ii"] + d["c"] * hw_out
        return (Cost(cycles=cycles, dsp=0 if d["is_max"] else 2 * pc, lut=200 * pc + LAYER_CONTROL["lut"],
                     ff=300 * pc + LAYER_CONTROL["ff"]) + memory(d["c"] * hw_in, pc) + memory(d["c"] * hw_out, pc))
    if layer.kind == "gap":
        return Cost(cycles=d["c"] * d["hw"] * p["ii"], dsp=2, lut=900, ff=1200)
    if layer.kind == "act":
        dsp, lut = UNARY_COST[layer.functor]
        return Cost(cycles=d["n"] + 5, dsp=dsp, lut=lut + 200, ff=lut + 300)
    if layer.kind in ("binary", "binary_const"):
        dsp, lut = BINARY_COST[layer.functor]
        rom = memory(d["n"]) if layer.kind == "binary_const" else Cost()
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
