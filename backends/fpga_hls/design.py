"""One model's FPGA design: the style, every layer's configuration, the packed weights, the
estimate table and the project files. Pure functions of (graph, target): the same model gives
the same design and byte-identical files.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from compiler.errors import UnsupportedError
from compiler.ir.graph import Graph
from compiler.target import Target, fpga_part_number
from backends.fpga_hls.engine import Step, engine_bounds, step_cycles, to_steps
from backends.fpga_hls.engine_printer import print_engine
from backends.fpga_hls.estimate import FIXED_MAC, MAC, Cost
from backends.fpga_hls.layers import Layer, per_sample, to_layers
from backends.fpga_hls.precision import PRECISIONS, Format, LayerFormats, plan_formats
from backends.fpga_hls.printer import LIBRARY, pack, print_dataflow, weight_names
from backends.fpga_hls.project import bridge, hls_config, library_files, run_hls_tcl, testbench, top_header
from backends.fpga_hls.search import (Budget, DataflowDesign, EngineDesign, fifo_cost, no_fit_error,
                                      part_resources, search_dataflow, search_engine)

FIRMWARE = "hls/firmware/"


@dataclass(frozen=True)
class Design:
    style: str                                   # "dataflow" | "engine"
    layers: tuple[Layer, ...]
    inputs: tuple[tuple[str, int], ...]          # (graph value, floats per sample)
    outputs: tuple[tuple[str, int], ...]
    dataflow: DataflowDesign | None = None
    engine: EngineDesign | None = None
    steps: tuple[Step, ...] = ()
    bounds: tuple[tuple[str, int], ...] = ()
    precision: str = "float32"
    value_formats: Mapping[str, Format] = dataclasses.field(default_factory=dict)
    layer_formats: Mapping[str, LayerFormats] = dataclasses.field(default_factory=dict)

    @property
    def bits(self) -> int:
        return PRECISIONS[self.precision]


def _ports(graph: Graph, names, target: Target) -> tuple[tuple[str, int], ...]:
    from compiler.ir.graph import Node
    probe = Node("Input", "<graph>", (), (), None)
    return tuple((n, int(np.prod(per_sample(graph, n, probe, target), dtype=np.int64))) for n in names)


def plan_design(graph: Graph, target: Target, precision: str = "float32") -> Design:
    layers = to_layers(graph, target)
    value_formats, layer_formats = plan_formats(graph, layers, precision)
    inputs = _ports(graph, [v.name for v in graph.inputs], target)
    outputs = _ports(graph, graph.outputs, target)
    budget = Budget.of(target)
    ports = len(inputs) + len(outputs)
    bits = PRECISIONS[precision]
    dataflow, fits = search_dataflow(layers, budget, ports, bits, fifo_cost(layers, graph.outputs, bits))
    if fits:
        return Design("dataflow", layers, inputs, outputs, dataflow=dataflow, precision=precision,
                      value_formats=value_formats, layer_formats=layer_formats)
    if precision != "float32":
        raise UnsupportedError(f"model '{graph.name}' does not fit {target.name} as a dataflow design at {precision} "
                               f"and the streaming engine runs float32 only: compile it with precision float32")
    steps = to_steps(layers, graph.outputs, target)
    bounds = engine_bounds(steps)
    engine, engine_fits = search_engine(bounds, lambda tm, tn, tr: sum(step_cycles(s, tm, tn, tr) for s in steps),
                                        budget, ports + 2)
    if not engine_fits:
        part = part_resources(target)
        share = lambda c: max(c.resources()[k] / part[k] for k in part)   # noqa: E731
        smallest, style = min(((dataflow.total, "dataflow"), (engine.resources, "engine")), key=lambda t: share(t[0]))
        raise no_fit_error(graph.name, target, smallest, style)
    return Design("engine", layers, inputs, outputs, engine=engine, steps=steps, bounds=tuple(sorted(bounds.items())))


def packed_constants(design: Design) -> dict[str, np.ndarray]:
    """What weights.bin holds: dataflow ROM contents (also printed into weights.h) or the engine's
    DDR weights, in the layout its loads read (the graph's own)."""
    out: dict[str, np.ndarray] = {}
    if design.style == "dataflow":
        for layer, knobs in zip(design.layers, design.dataflow.knobs):
            out.update(zip(weight_names(layer), (np.ascontiguousarray(a, np.float32) for a in pack(layer, knobs))))
        return out
    for step in design.steps:
        if step.kind == "conv":
            w, b = step.layer.weights
            out[f"{step.layer.name}_w"] = np.ascontiguousarray(w, np.float32).reshape(-1)
            out[f"{step.layer.name}_b"] = np.ascontiguousarray(b, np.float32).reshape(-1)
    return out


def estimate_report(design: Design, target: Target) -> dict:
    """The table `aotc inspect` prints: per layer (dataflow) or per step (engine), totals, shares."""
    part, mhz = part_resources(target), target.limit("mhz")
    macs = sum(layer.macs for layer in design.layers)
    rows = []
    if design.style == "dataflow":
        df = design.dataflow
        for layer, knobs, cost in zip(design.layers, df.knobs, df.costs):
            if layer.kind != "alias":
                rows.append({"layer": layer.name, "op": layer.op, "node": layer.node, "config": dict(knobs),
                             "format": design.value_formats.get(layer.output, Format()).c_type(saturate=False),
                             "cycles": cost.cycles, **cost.resources()})
        total, interval, latency = df.total, df.interval, df.total.cycles
    else:
        en = design.engine
        for step in design.steps:
            rows.append({"layer": step.layer.name, "op": "+".join([step.layer.op] + (["Add"] if step.residual else [])
                                                                   + (["Relu"] if step.relu else [])),
                         "node": step.layer.node, "config": {},
                         "cycles": step_cycles(step, en.tm, en.tn, en.tr), "dsp": 0, "bram": 0, "lut": 0, "ff": 0})
        rows.append({"layer": "engine", "op": "shared array", "node": "", "cycles": 0,
                     "config": {"tm": en.tm, "tn": en.tn, "tr": en.tr}, **en.resources.resources()})
        total, interval, latency = en.resources, en.cycles, en.cycles
    seconds = interval / (mhz * 1e6) if interval else 0.0
    per_mac = FIXED_MAC[8 if design.bits <= 8 else 16][0] if design.bits else MAC["dsp"]
    peak = part["dsp"] * mhz * 1e6 / per_mac       # multiply-adds per second with every DSP busy
    return {"style": design.style, "precision": design.precision, "part": target.name, "mhz": mhz, "layers": rows,
            "total": total.resources(), "limits": part,
            "share": {k: round(total.resources()[k] / part[k], 4) for k in part},
            "latency_cycles": latency, "interval_cycles": interval,
            "samples_per_second": round(1 / seconds, 2) if seconds else 0.0,
            "macs_per_sample": macs,
            "macs_per_second": round(macs / seconds, 1) if seconds else 0.0,
            "dsp_roofline_macs_per_second": peak}


def project_files(design: Design, target: Target, weight_offsets: Mapping[str, int]) -> dict[str, str]:
    """Every file of DIR/hls/ by path. `weight_offsets`: constant name -> byte offset in weights.bin."""
    engine = design.style == "engine"
    if engine:
        sizes = {layer.output: layer.out_size for layer in design.layers}
        floats = {name: offset // 4 for name, offset in weight_offsets.items()}
        firmware, _ = print_engine(design.steps, design.engine, dict(design.bounds), design.inputs,
                                   design.outputs, floats, sizes)
    else:
        firmware = print_dataflow(design.layers, design.dataflow, design.inputs, design.outputs,
                                  design.value_formats, design.layer_formats, design.bits)
    n_in, n_out = len(design.inputs), len(design.outputs)
    firmware = {**firmware, **library_files(LIBRARY), "aotc_top.h": top_header(n_in, n_out, engine),
                "aotc_tb.cpp": testbench(design.inputs, design.outputs, engine),
                "csim_bridge.cpp": bridge(n_in, n_out, engine)}
    part, mhz = fpga_part_number(target), target.limit("mhz")
    files = {FIRMWARE + name: text for name, text in firmware.items()}
    files["hls/run_hls.tcl"] = run_hls_tcl(part, mhz)
    files["hls/hls_config.cfg"] = hls_config(part, mhz)
    files["hls/estimate.json"] = json.dumps(estimate_report(design, target), indent=1, sort_keys=True) + "\n"
    return files


__all__ = ["Design", "plan_design", "packed_constants", "estimate_report", "project_files", "Cost"]
