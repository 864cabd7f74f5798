"""The FPGA backend: a Vitis HLS project (DIR/hls/) built from a tested layer library
(include/*.h), a resource estimator with a config search that keeps every design within the
part, and a C-simulation build that aotc runs to check the numbers.

    graph -> layers.py (one record per node) -> design.py (style, search.py, estimate.py)
          -> printer.py (dataflow) | engine_printer.py (shared engine) -> project.py (tb, tcl)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from compiler.ir.config import KernelConfig
from compiler.ir.program import Program
from compiler.target import Target
from backends.base import Binary, LoweredModel, NoKernelConfigs, Source
from backends.fpga_hls.build import build_csim
from backends.fpga_hls.design import packed_constants, plan_design, project_files


@dataclass(frozen=True)
class FpgaHlsBackend(NoKernelConfigs):   # parallelism: search.py, per design
    cache_dir: Path | None = None
    precision: str = "float32"       # or "fixed16" / "fixed8": ap_fixed, widths from calibration
    name: str = "fpga_hls"

    def prepare(self, program: Program, configs: Mapping[str, KernelConfig],
                target: Target) -> tuple[Program, dict[str, np.ndarray]]:
        """Plans the design (failing here, before anything is written, if an op is unsupported or
        the model cannot fit) and returns the weights packed as its layers read them."""
        return program, packed_constants(plan_design(program.graph, target, self.precision))

    def lower(self, model: LoweredModel, target: Target) -> Source:
        design = plan_design(model.program.graph, target, self.precision)
        return Source(project_files(design, target, model.weights.offsets), entry="hls/firmware/aotc_top.cpp")

    def build(self, source: Source, target: Target) -> Binary:
        return build_csim(source, self.cache_dir)

    def load(self, directory: Path, weights, manifest: Mapping):
        from backends.fpga_hls.runtime import FpgaCsimModel
        return FpgaCsimModel(Path(directory), weights, manifest)


__all__ = ["FpgaHlsBackend"]
