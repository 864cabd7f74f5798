"""Compile options: plain data. Only cli.py and api.py read the environment to fill them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CompileOptions:
    # Content-addressed cache of built kernels/libraries; None disables caching.
    build_cache: Path | None = None
    # Tuning database to take the best config per kernel from; None: default configs only.
    tuning_db: Path | None = None
    # Time every kernel call inside the library (aotc run --profile reads the totals).
    profile: bool = False
    # Override the target's activation layout for convolution regions ("NCHW" | "NHWC" | "auto").
    activation_layout: str | None = None
    # "cpsat" (exact, deterministic, warm-started from greedy) or "greedy".
    memory_planner: str = "cpsat"
    # The C compiler's optimisation level (0-3); conformance runs use 1 to build faster.
    c_opt_level: int = 3
    # Precision of weights and activations: "fp32" (as the model declares), "fp16" or "bf16"
    # (passes/convert_precision.py; the model's float32 inputs and outputs keep their type).
    dtype: str = "fp32"
    # FPGA number format: "float32", or "fixed16"/"fixed8" (ap_fixed, per-layer widths).
    fpga_precision: str = "float32"

    def manifest_fields(self) -> dict:
        """What of these options can change the artifact (caches cannot)."""
        return {"tuning_db": bool(self.tuning_db), "profile": self.profile,
                "activation_layout": self.activation_layout, "memory_planner": self.memory_planner, "c_opt_level": self.c_opt_level,
                "dtype": self.dtype,
                **({"fpga_precision": self.fpga_precision} if self.fpga_precision != "float32" else {})}
