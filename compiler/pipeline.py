"""The compilation pipeline, one readable list per target kind.

    graph --eliminate_dead_code--> --materialize_outputs--> --lower--> Program --tile-->
          --plan_memory--> MemoryPlan   + layout_weights --> backend.lower --> Source --build--> Binary
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

import numpy as np

from compiler.errors import TargetError
from compiler.ir.config import KernelConfig
from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph
from compiler.ir.program import MemoryPlan, Program, WeightsLayout
from compiler.options import CompileOptions
from compiler.target import Target
from backends.base import Binary, LoweredModel, Source
from passes.convert_layout import ConvertLayout
from passes.convert_precision import ConvertPrecision
from passes.eliminate_dead_code import EliminateDeadCode
from passes.fuse import PlanEpilogues
from passes.lower import Lower
from passes.materialize_outputs import MaterializeOutputs
from passes.plan_memory import PlanMemory, layout_weights
from passes.schedule import Schedule
from passes.simplify import Simplify
from passes.tile import Tile

PRECISIONS = {"fp32": DType.float32, "fp16": DType.float16, "bf16": DType.bfloat16}


def precision(options: CompileOptions) -> DType:
    try:
        return PRECISIONS[options.dtype]
    except KeyError:
        raise TargetError(f"unknown dtype '{options.dtype}' (fp32, fp16 or bf16)") from None


def graph_passes(target: Target, dtype: DType = DType.float32) -> tuple:
    """The graph-level pipeline for a target, in order. Precision converts after Simplify, so
    that Softmax/LayerNorm/Attention are matched on the float32 graph and kept float32 whole."""
    if target.kind in ("cpu", "cuda", "webgpu"):
        convert = (ConvertPrecision(dtype),) if dtype is not DType.float32 else ()
        return (Simplify(), *convert, ConvertLayout(target.activation_layout), EliminateDeadCode(),
                MaterializeOutputs())
    if target.kind == "fpga":   # NCHW throughout: the layer library streams tensors in ONNX's order
        if dtype is not DType.float32:
            raise TargetError(f"target {target.name}: --dtype {dtype.value} is for cpu/cuda/webgpu; FPGA number "
                              "formats are chosen with --fpga-precision")
        return (Simplify(), EliminateDeadCode(), MaterializeOutputs())
    raise TargetError(f"target {target.name} has no graph pipeline yet")


def backend_for(target: Target, options: CompileOptions):
    if target.kind == "cpu":
        from backends.cpu import CpuBackend
        return CpuBackend(cache_dir=options.build_cache, profile=options.profile, opt_level=options.c_opt_level)
    if target.kind == "cuda":
        from backends.cuda import CudaBackend
        return CudaBackend(cache_dir=options.build_cache)
    if target.kind == "webgpu":
        from backends.webgpu import WebGpuBackend
        return WebGpuBackend()
    if target.kind == "fpga":
        from backends.fpga_hls import FpgaHlsBackend
        return FpgaHlsBackend(cache_dir=options.build_cache, precision=options.fpga_precision)
    raise TargetError(f"target {target.name} has no backend in this version of aotc yet "
                      f"(available: cpu, cpu:<isa>, cuda:<sm>, webgpu, fpga:<part>; see `aotc targets`)")


@dataclass(frozen=True)
class Compiled:
    target: Target
    graph: Graph              # after the graph passes
    program: Program          # after tiling
    memory: MemoryPlan
    weights: WeightsLayout
    configs: Mapping[str, KernelConfig]
    constants: Mapping[str, np.ndarray]   # weights.bin's contents, by name
    output_names: tuple[str, ...]         # the model's output names, in order
    source: Source
    binary: Binary
    pipeline: tuple[str, ...]
    # Kernels whose config came from a tuning record: the record's key and time, by kernel name.
    tuned: Mapping[str, Mapping] = field(default_factory=dict)


def pass_name(p) -> str:
    return type(p).__name__


ChooseConfigs = Callable[[Program, object, Target], "TunedConfigs"]


@dataclass(frozen=True)
class TunedConfigs:
    """A config per kernel, and for the kernels a tuning record chose: what the manifest says
    about that record (its key and time)."""
    configs: Mapping[str, KernelConfig]
    tuned: Mapping[str, Mapping] = field(default_factory=dict)


def default_configs(program: Program, backend, target: Target) -> TunedConfigs:
    return TunedConfigs({name: backend.default_config(kernel, target) for name, kernel in program.kernels.items()})


@dataclass(frozen=True)
class LoweredGraph:
    """The pipeline up to Lower: the graph after its passes and the untiled Program."""
    target: Target
    backend: object
    graph: Graph
    program: Program
    output_names: tuple[str, ...]
    pipeline: tuple[str, ...]


def lower_graph(graph: Graph, target: Target, options: CompileOptions,
                on_step: Callable[[str], None] = lambda step: None) -> LoweredGraph:
    """Graph passes, epilogue planning and Lower: kernels as the tuner keys them (untiled)."""
    if options.activation_layout is not None:
        if options.activation_layout not in ("NCHW", "NHWC", "auto"):
            raise TargetError(f"unknown activation layout '{options.activation_layout}' (NCHW, NHWC or auto)")
        target = replace(target, activation_layout=options.activation_layout)
    backend = backend_for(target, options)
    output_names = graph.outputs   # what the user calls them, whatever the passes rename
    names = []
    for graph_pass in graph_passes(target, precision(options)):
        on_step(pass_name(graph_pass))
        graph = graph_pass(graph)
        names.append(pass_name(graph_pass))
    on_step("PlanEpilogues")
    fusion = PlanEpilogues(target)(graph)
    on_step("Lower")
    program = Lower(fusion, target.per_point_windows, target.half_contractions)(graph)
    return LoweredGraph(target, backend, graph, program, output_names, tuple(names) + ("PlanEpilogues", "Lower"))


def compile_graph(graph: Graph, target: Target, options: CompileOptions,
                  on_step: Callable[[str], None] = lambda step: None,
                  choose_configs: ChooseConfigs | None = None) -> Compiled:
    """`choose_configs` picks each kernel's config (default: the tuning database of
    options.tuning_db if any, else the backend's default_config)."""
    lowered = lower_graph(graph, target, options, on_step)
    if choose_configs is None:
        choose_configs = tuning_db_configs(options.tuning_db) if options.tuning_db else default_configs
    chosen = choose_configs(lowered.program, lowered.backend, lowered.target)
    return compile_program(lowered, chosen, options, on_step)


def tuning_db_configs(path) -> ChooseConfigs:
    def choose(program: Program, backend, target: Target) -> TunedConfigs:
        from autotune.database import TuningDatabase
        from autotune.space import tuned_configs
        with TuningDatabase.open_existing(path) as db:
            configs, tuned = tuned_configs(program, backend, target, db)
        return TunedConfigs(configs, tuned)
    return choose


def compile_program(lowered: LoweredGraph, chosen: TunedConfigs, options: CompileOptions,
                    on_step: Callable[[str], None] = lambda step: None, schedule: bool = True) -> Compiled:
    """Tile onward: the chosen configs replayed, scheduled, memory planned, printed and built."""
    target, backend, configs = lowered.target, lowered.backend, dict(chosen.configs)
    on_step("Tile")
    program = Tile(configs)(lowered.program)
    names = list(lowered.pipeline) + ["Tile"]
    if schedule:
        on_step("Schedule")
        scheduled = Schedule(deterministic_time=1.0)(program)
        program = scheduled.program
        names.append("Schedule")
    on_step("PlanMemory")
    memory = PlanMemory(target.memory_alignment, options.memory_planner)(program)
    if schedule:
        # Notes go into the manifest: no timings there, or two compiles would differ.
        memory = replace(memory, notes=(f"schedule: peak of live intermediates {scheduled.peak_before:,} B -> "
                                        f"{scheduled.peak_after:,} B ({scheduled.status})",) + memory.notes)
    on_step(f"{backend.name}.prepare")
    program, constants = backend.prepare(program, configs, target)
    weights = layout_weights(constants, target.memory_alignment)
    names += ["PlanMemory", f"{backend.name}.prepare", "LayoutWeights"]
    model = LoweredModel(program, memory, weights, configs, constants, lowered.output_names)
    on_step(f"{backend.name}.lower")
    source = backend.lower(model, target)
    on_step(f"{backend.name}.build")
    binary = backend.build(source, target)
    return Compiled(target, lowered.graph, program, memory, weights, configs, constants, lowered.output_names,
                    source, binary, tuple(names), dict(chosen.tuned))
