"""Pick the execution style and every layer's parallelism so the design fits the part.

Budget: 80% of the part's LUT, FF and DSP and 90% of its BRAM (room for routing). Two styles:

- dataflow: every layer is its own hardware with its weights in on-chip ROM, layers joined by
  streams. Two stages, as UbiMoE splits its budget: (1) balance, giving each contraction a share
  of the DSPs proportional to its multiply-adds (equal cycles per layer), scaled down until the
  design fits; (2) refine, raising the bottleneck layer's parallelism one step at a time while the
  design still fits. Throughput is one sample per max(layer cycles).
- engine: one shared tm x tn compute array that every layer runs on in turn, weights streamed
  from DDR by tiles (engine.py); the search is exhaustive over a small grid of (tm, tn, tr).

The style is dataflow when its smallest design fits, else the engine; a model that fits neither
fails with one line giving its smallest need.
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.errors import UnsupportedError
from compiler.target import Target
from backends.fpga_hls.estimate import AXI_PORT, Cost, dataflow_cost, engine_resources, memory
from backends.fpga_hls.layers import Layer

SHARES = {"dsp": 0.8, "lut": 0.8, "ff": 0.8, "bram": 0.9}
MAX_LANES = 1024            # per layer: past this the unrolled adder trees stop closing timing
ENGINE_TILES = (1, 2, 4, 8, 16, 32, 64)
ENGINE_ROWS = (1, 2, 4, 7, 8, 14, 16, 28)


@dataclass(frozen=True)
class Budget:
    dsp: int
    bram: int
    lut: int
    ff: int

    @staticmethod
    def of(target: Target) -> "Budget":
        return Budget(**{k: int(part_resources(target)[k] * share) for k, share in SHARES.items()})

    def fits(self, cost: Cost) -> bool:
        return cost.dsp <= self.dsp and cost.bram <= self.bram and cost.lut <= self.lut and cost.ff <= self.ff


def part_resources(target: Target) -> dict[str, int]:
    return {"dsp": target.limit("dsp"), "bram": target.limit("bram18k"), "lut": target.limit("lut"),
            "ff": target.limit("ff")}


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def knob_options(layer: Layer) -> list[dict[str, int]]:
    """Every parallelism setting of a layer, fewest lanes first (the first is the smallest design)."""
    d = dict(layer.dims)
    if layer.kind in ("dense", "conv"):
        n_in, n_out = (d["n_in"], d["n_out"]) if layer.kind == "dense" else \
            (d["c_in"] // d["groups"], d["c_out"] // d["groups"])
        pairs = [(pi * po, -po, pi, po) for pi in divisors(n_in) for po in divisors(n_out) if pi * po <= MAX_LANES]
        return [{"pi": pi, "po": po} for _, _, pi, po in sorted(pairs)]
    if layer.kind == "pool":
        return [{"pc": pc} for pc in divisors(d["c"]) if pc <= 64]
    return [{}]


def io_cost(ports: int) -> Cost:
    return Cost(lut=AXI_PORT["lut"] * ports, ff=AXI_PORT["ff"] * ports, bram=AXI_PORT["bram"] * ports)


def fifo_cost(layers: tuple[Layer, ...], outputs: tuple[str, ...], bits: int) -> Cost:
    """The frame-deep FIFOs of every cloned value (printer.py's fan_out): 2 per extra reader."""
    source, readers = {}, {}
    for layer in layers:
        source[layer.output] = source.get(layer.inputs[0], layer.inputs[0]) if layer.kind == "alias" else layer.output
    sizes = {layer.output: layer.out_size for layer in layers}
    for value in [v for layer in layers if layer.kind != "alias" for v in layer.inputs] + list(outputs):
        readers[source.get(value, value)] = readers.get(source.get(value, value), 0) + 1
    total = Cost()
    for value, count in sorted(readers.items()):
        if count > 1 and value in sizes:
            fifo = memory(sizes[value], 1, bits or 32)
            total += sum([fifo] * (2 * (count - 1)), Cost(lut=300 * (count - 1)))
    return total


@dataclass(frozen=True)
class DataflowDesign:
    knobs: tuple[dict[str, int], ...]      # per layer, in layer order
    costs: tuple[Cost, ...]
    total: Cost                            # resources summed; cycles = latency of one sample
    interval: int                          # cycles between samples (the slowest layer)


def _dataflow(layers: tuple[Layer, ...], picks: list[int], options: list[list[dict]], ports: int,
              bits: int, extra: Cost) -> DataflowDesign:
    knobs = tuple(options[i][picks[i]] for i in range(len(layers)))
    costs = tuple(dataflow_cost(layer, k, bits) for layer, k in zip(layers, knobs))
    total = sum(costs, io_cost(ports) + extra)
    return DataflowDesign(knobs, costs, total, max((c.cycles for c in costs), default=0))


def search_dataflow(layers: tuple[Layer, ...], budget: Budget, ports: int,
                    bits: int = 0, extra: Cost = Cost()) -> tuple[DataflowDesign, bool]:
    """The best design found and whether it fits (if not: the smallest design, for the error).
    `bits`: 0 for float32, else the fixed-point width (it changes every layer's cost); `extra`:
    what the design needs whatever the layers' settings (fan-out FIFOs)."""
    options = [knob_options(layer) for layer in layers]
    picks = [0] * len(layers)
    smallest = _dataflow(layers, picks, options, ports, bits, extra)
    if not budget.fits(smallest.total):
        return smallest, False
    # Stage 1: DSP shares proportional to multiply-adds, halved until the design fits.
    total_macs = sum(layer.macs for layer in layers) or 1
    share = budget.dsp / 5
    while share >= 1:
        trial = [_largest_within(options[i], layer.macs * share / total_macs) for i, layer in enumerate(layers)]
        if budget.fits(_dataflow(layers, trial, options, ports, bits, extra).total):
            picks = trial
            break
        share /= 2
    # Stage 2: raise the bottleneck while it fits.
    frozen: set[int] = set()
    design = _dataflow(layers, picks, options, ports, bits, extra)
    while True:
        order = sorted(range(len(layers)), key=lambda i: -design.costs[i].cycles)
        bottleneck = order[0] if order else None
        if bottleneck is None or bottleneck in frozen or picks[bottleneck] + 1 >= len(options[bottleneck]):
            break
        trial = list(picks)
        trial[bottleneck] = _next_larger(options[bottleneck], picks[bottleneck])
        if trial[bottleneck] == picks[bottleneck]:      # no setting with more lanes left
            frozen.add(bottleneck)
            continue
        candidate = _dataflow(layers, trial, options, ports, bits, extra)
        if budget.fits(candidate.total) and candidate.interval <= design.interval:
            picks, design = trial, candidate
        else:
            frozen.add(bottleneck)
    return design, True


def _lanes(knobs: dict[str, int]) -> int:
    return knobs.get("pi", 1) * knobs.get("po", 1) * knobs.get("pc", 1)


def _largest_within(options: list[dict], lanes: float) -> int:
    best = 0
    for i, knobs in enumerate(options):
        if _lanes(knobs) <= max(1.0, lanes):
            best = i
    return best


def _next_larger(options: list[dict], current: int) -> int:
    lanes = _lanes(options[current])
    for i in range(current + 1, len(options)):
        if _lanes(options[i]) > lanes:
            return i
    return current


@dataclass(frozen=True)
class EngineDesign:
    tm: int
    tn: int
    tr: int
    resources: Cost
    cycles: int                 # one sample, every step in turn


def search_engine(bounds: dict[str, int], step_cycles, budget: Budget, ports: int) -> tuple[EngineDesign, bool]:
    """`bounds`: max_k, max_s, max_w_in, max_w_out over the engine's convolutions;
    `step_cycles(tm, tn, tr)`: cycles of every step of one sample."""
    best, smallest = None, None
    for tm in ENGINE_TILES:
        for tn in ENGINE_TILES:
            for tr in ENGINE_ROWS:
                resources = engine_resources(tm, tn, tr, **bounds) + io_cost(ports)
                if smallest is None or (resources.dsp, resources.bram) < (smallest.resources.dsp, smallest.resources.bram):
                    smallest = EngineDesign(tm, tn, tr, resources, 0)
                if not budget.fits(resources):
                    continue
                cycles = step_cycles(tm, tn, tr)
                key = (cycles, resources.dsp, resources.bram, tm, tn, tr)
                if best is None or key < best[0]:
                    best = (key, EngineDesign(tm, tn, tr, resources, cycles))
    if best is None:
        return smallest, False
    return best[1], True


def no_fit_error(model: str, target: Target, smallest: Cost, style: str) -> UnsupportedError:
    part = part_resources(target)
    need = ", ".join(f"{smallest.resources()[k]:,} {k.upper()}{'18K' if k == 'bram' else ''} "
                     f"({100 * smallest.resources()[k] / part[k]:.0f}%)" for k in ("dsp", "bram", "lut", "ff"))
    return UnsupportedError(f"model '{model}' does not fit {target.name}: its smallest design ({style}) needs "
                            f"{need}; the limits are 80% of DSP/LUT/FF and 90% of BRAM")


def fmt_ratio(used: int, available: int) -> str:
    return f"{used:,}/{available:,} ({100 * used / available:.1f}%)" if available else str(used)


__all__ = ["Budget", "DataflowDesign", "EngineDesign", "search_dataflow", "search_engine", "no_fit_error",
           "part_resources"]
