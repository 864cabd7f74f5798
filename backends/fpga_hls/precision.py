"""Number formats of a design: float32 everywhere, or fixed point with per-layer widths.

Fixed point (`ap_fixed<W, I>`): W total bits (16, or 8 as the compact case); I integer bits
per tensor from the largest magnitude seen on calibration inputs (seeded standard-normal
samples, run through the graph's numpy reference), plus (at 16 bits) one bit of headroom for
inputs the calibration did not see. Activations round and saturate; weights get the integer bits their
largest value needs; accumulators keep every product's fractional bits (up to 24) and 6 integer
bits more than the layer's output, as partial sums may run past the final value.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from compiler.errors import UnsupportedError
from compiler.ir.graph import Graph
from backends.fpga_hls.layers import Layer

PRECISIONS = {"float32": 0, "fixed16": 16, "fixed8": 8}
CALIBRATION_SAMPLES = 32
CALIBRATION_SEED = 0


@dataclass(frozen=True)
class Format:
    bits: int = 0             # 0: float
    integer: int = 0

    @property
    def fraction(self) -> int:
        return self.bits - self.integer

    def store_type(self) -> str:
        """The plain C type a ROM keeps this format's raw bits in."""
        return "float" if not self.bits else ("signed char" if self.bits <= 8 else
                                              "short" if self.bits <= 16 else "int")

    def raw_bits(self, values: np.ndarray) -> np.ndarray:
        """Round to nearest and saturate: the two's-complement integers ap_fixed<bits, integer> holds."""
        scaled = np.round(values * 2.0 ** self.fraction)
        return np.clip(scaled, -2 ** (self.bits - 1), 2 ** (self.bits - 1) - 1).astype(np.int64)

    def c_type(self, saturate: bool = True) -> str:
        if not self.bits:
            return "float"
        modes = ", AP_RND, AP_SAT" if saturate else ""
        return f"ap_fixed<{self.bits}, {self.integer}{modes}>"


FLOAT = Format()


@dataclass(frozen=True)
class LayerFormats:
    weight: Format
    acc: Format


def integer_bits(magnitude: float, headroom: int) -> int:
    """Bits left of the point (sign included) that hold +-magnitude."""
    if magnitude <= 0 or not math.isfinite(magnitude):
        return 1 + headroom
    return max(1, math.floor(math.log2(magnitude)) + 2 + headroom)


def calibration_ranges(graph: Graph) -> dict[str, float]:
    """Largest |value| of every tensor over CALIBRATION_SAMPLES seeded random samples."""
    from compiler.ir.interpreter import interpret
    rng = np.random.default_rng(CALIBRATION_SEED)
    inputs = {}
    for value in graph.inputs:
        shape = tuple(CALIBRATION_SAMPLES if i == 0 else d for i, d in enumerate(value.type.shape))
        inputs[value.name] = rng.standard_normal(shape).astype(np.float32)
    every = tuple(dict.fromkeys(v.name for node in graph.nodes for v in node.outputs))
    probe = dataclasses.replace(graph, outputs=every)
    values = interpret(probe, inputs)
    ranges = {name: float(np.max(np.abs(array))) if array.size else 0.0 for name, array in values.items()}
    ranges.update({name: float(np.max(np.abs(array))) for name, array in inputs.items()})
    return ranges


def plan_formats(graph: Graph, layers: tuple[Layer, ...], precision: str
                 ) -> tuple[Mapping[str, Format], Mapping[str, LayerFormats]]:
    """(format of every streamed value, formats of every layer's weights and accumulator)."""
    if precision not in PRECISIONS:
        raise UnsupportedError(f"unknown FPGA precision '{precision}'; choose from {', '.join(PRECISIONS)}")
    bits = PRECISIONS[precision]
    if not bits:
        return ({}, {})
    ranges = calibration_ranges(graph)
    headroom = 1 if bits > 8 else 0     # 8 bits cannot spare one for values calibration missed
    values = {name: Format(bits, min(bits, integer_bits(m, headroom))) for name, m in ranges.items()}
    per_layer = {}
    for layer in layers:
        out = values.get(layer.output, Format(bits, bits // 2))
        largest = max((float(np.max(np.abs(w))) for w in layer.weights if w.size), default=0.0)
        weight = Format(bits, min(bits, integer_bits(largest, 0)))
        inputs = [values.get(v, out) for v in layer.inputs] or [out]
        fraction = min(24, max(f.fraction for f in inputs) + weight.fraction)
        integer = max([out.integer] + [f.integer for f in inputs]) + 6
        per_layer[layer.name] = LayerFormats(weight, Format(integer + fraction, integer))
    return values, per_layer
