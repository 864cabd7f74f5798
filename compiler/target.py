"""Targets are plain data: the facts passes and backends read (ISA, cores, caches, limits).

Presets by name; `cpu` means "this host", resolved from /proc/cpuinfo and sysconf.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from compiler.errors import TargetError


@dataclass(frozen=True, slots=True)
class CpuIsa:
    name: str                        # e.g. "x86-64-v4"
    march: str                       # the C compiler's -march value
    features: tuple[str, ...]        # what the library checks for at load (__builtin_cpu_supports names)
    vector_bits: int                 # widest SIMD register


@dataclass(frozen=True, slots=True)
class Target:
    name: str                        # canonical preset name, e.g. "cpu:x86-64-v4"
    kind: str                        # "cpu" | "cuda" | "webgpu" | "fpga"
    isa: CpuIsa | None = None
    cores: int = 1
    cache_bytes: tuple[int, int, int] = (32 * 1024, 1024 * 1024, 32 * 1024 * 1024)   # L1d, L2, L3
    # What the fuse pass may group, as data (passes never import backends).
    fusible: tuple[str, ...] = ()
    memory_alignment: int = 64
    limits: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    # The layout convolution regions run in (convert_layout): "NCHW" (ONNX's own), "NHWC", or
    # "auto" (decided per model by passes/convert_layout.py's choose_layout).
    activation_layout: str = "NCHW"
    # The window ops ("Conv" for depthwise convolutions, "MaxPool") lowered with one parallel
    # iteration per output element (GPUs, which need the threads) rather than per channel plane
    # with a vectorised interior (CPUs). WebGPU takes max pools only: per point, MobileNetV2's
    # depthwise convolutions ran past the browser test's 9-minute limit in headless Chromium
    # (SwiftShader), while ResNet-18's plane-per-invocation max pool took 1.6 ms on an H100.
    per_point_windows: tuple[str, ...] = ()
    # The contraction templates read float16/bfloat16 operands (converting to float32 as they
    # load); where False, half MatMul/Gemm/Conv keep their float32-accumulating loop nests.
    half_contractions: bool = False

    def limit(self, key: str, default: int | None = None) -> int:
        for name, value in self.limits:
            if name == key:
                return value
        if default is None:
            raise KeyError(f"target {self.name} has no limit '{key}'")
        return default

    @property
    def fingerprint(self) -> str:
        isa = f"{self.isa.march}" if self.isa else ""
        return f"{self.name}|{isa}"


ISAS = {
    "generic": CpuIsa("generic", "x86-64", (), 128),
    "x86-64-v2": CpuIsa("x86-64-v2", "x86-64-v2", ("sse4.2", "popcnt"), 128),
    "x86-64-v3": CpuIsa("x86-64-v3", "x86-64-v3", ("avx2", "fma", "bmi2"), 256),
    "x86-64-v4": CpuIsa("x86-64-v4", "x86-64-v4",
                        ("avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"), 512),
    # Sapphire Rapids adds AVX512-FP16: a preset many hosts lack, used to test the load-time check.
    "sapphirerapids": CpuIsa("sapphirerapids", "sapphirerapids",
                             ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512fp16"), 512),
}

CUDA_PRESETS = {
    "sm_90": (("sms", 132), ("smem_per_block", 227 * 1024), ("regs_per_sm", 65536), ("warp", 32)),
    "sm_80": (("sms", 108), ("smem_per_block", 163 * 1024), ("regs_per_sm", 65536), ("warp", 32)),
}

_CPU_FUSIBLE = ("elementwise", "reduction_prologue", "reduction_epilogue", "contraction_epilogue")
# The CUDA backend prints any fused loop kernel and applies contraction epilogues in its GEMM.
_CUDA_FUSIBLE = _CPU_FUSIBLE
# The WebGPU backend prints any fused loop kernel as WGSL and applies epilogues in its GEMM.
_WEBGPU_FUSIBLE = _CPU_FUSIBLE
# The WebGPU spec's default limits: what every adapter grants without asking for more.
WEBGPU_LIMITS = (("invocations_per_workgroup", 256), ("workgroup_storage", 16384),
                 ("storage_buffers_per_stage", 8), ("binding_bytes", 128 * 1024 * 1024),
                 ("offset_alignment", 256))

# FPGA parts: the device (for Vitis's set_part) and its resources, from AMD's data sheets
# (DS962 for the U280's XCU280, DS891 for the ZCU102's XCZU9EG). One BRAM36 is two BRAM18K;
# "mhz" is the default kernel clock the designs are estimated and constrained at.
FPGA_PARTS = {
    "xcu280": ("xcu280-fsvh2892-2L-e", (("dsp", 9024), ("bram36", 2016), ("bram18k", 4032), ("uram", 960),
                                        ("lut", 1303680), ("ff", 2607360), ("mhz", 300))),
    "xczu9eg": ("xczu9eg-ffvb1156-2-e", (("dsp", 2520), ("bram36", 912), ("bram18k", 1824), ("uram", 0),
                                         ("lut", 274080), ("ff", 548160), ("mhz", 300))),
}


def fpga_part_number(target: Target) -> str:
    return FPGA_PARTS[target.name.partition(":")[2]][0]


def host_cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


# /proc/cpuinfo spells some features differently from __builtin_cpu_supports.
_PROC_NAME = {"sse4.2": "sse4_2", "avx512fp16": "avx512_fp16"}


def host_has(feature: str, flags: frozenset[str] | None = None) -> bool:
    flags = host_cpu_flags() if flags is None else flags
    return _PROC_NAME.get(feature, feature) in flags


def host_isa(flags: frozenset[str] | None = None) -> CpuIsa:
    """The best preset whose every feature this host has."""
    flags = host_cpu_flags() if flags is None else flags
    for name in ("x86-64-v4", "x86-64-v3", "x86-64-v2"):
        if all(host_has(f, flags) for f in ISAS[name].features):
            return ISAS[name]
    return ISAS["generic"]


def _cache_sizes() -> tuple[int, int, int]:
    sizes = []
    for key in ("SC_LEVEL1_DCACHE_SIZE", "SC_LEVEL2_CACHE_SIZE", "SC_LEVEL3_CACHE_SIZE"):
        try:
            value = os.sysconf(key)
        except (ValueError, OSError):
            value = 0
        sizes.append(int(value) if value and value > 0 else 0)
    defaults = (32 * 1024, 1024 * 1024, 32 * 1024 * 1024)
    return tuple(s or d for s, d in zip(sizes, defaults))  # type: ignore[return-value]


def cpu_target(isa: CpuIsa, cores: int | None = None) -> Target:
    return Target(name=f"cpu:{isa.name}", kind="cpu", isa=isa, cores=cores or os.cpu_count() or 1,
                  cache_bytes=_cache_sizes(), fusible=_CPU_FUSIBLE, memory_alignment=64,
                  activation_layout="auto")


def resolve_target(spec: "str | Target") -> Target:
    """`cpu` (this host), `cpu:<isa>`, `cuda:sm_XX`, `webgpu`, `fpga:<part>`."""
    if isinstance(spec, Target):
        return spec
    kind, _, variant = spec.partition(":")
    if kind == "cpu":
        if not variant or variant == "host":
            return cpu_target(host_isa())
        if variant in ISAS:
            return cpu_target(ISAS[variant])
        raise TargetError(f"unknown CPU ISA '{variant}' in target '{spec}'; known: "
                          f"{', '.join(sorted(ISAS))}")
    if kind == "cuda":
        arch = variant or "sm_90"
        if arch not in CUDA_PRESETS:
            raise TargetError(f"unknown CUDA architecture '{arch}'; known: {', '.join(sorted(CUDA_PRESETS))}")
        return Target(name=f"cuda:{arch}", kind="cuda", limits=CUDA_PRESETS[arch], memory_alignment=256,
                      fusible=_CUDA_FUSIBLE, per_point_windows=("Conv", "MaxPool"), half_contractions=True)
    if kind == "webgpu":
        return Target(name="webgpu", kind="webgpu", memory_alignment=256, limits=WEBGPU_LIMITS,
                      fusible=_WEBGPU_FUSIBLE, per_point_windows=("MaxPool",))
    if kind == "fpga":
        if variant not in FPGA_PARTS:
            raise TargetError(f"unknown FPGA part '{variant}'; known: {', '.join(sorted(FPGA_PARTS))}")
        return Target(name=f"fpga:{variant}", kind="fpga", limits=FPGA_PARTS[variant][1], memory_alignment=64)
    raise TargetError(f"unknown target '{spec}'; see `aotc targets`")


def known_targets() -> list[str]:
    return (["cpu"] + [f"cpu:{n}" for n in ISAS] + [f"cuda:{a}" for a in CUDA_PRESETS]
            + ["webgpu", "fpga:xcu280", "fpga:xczu9eg"])
