"""The WebGPU GEMM's configuration space and the variants an artifact carries.

The user's GPU is unknown at compile time, so a contraction kernel ships up to three variants
of the template (gemm.py), picked per adapter at load (variants.py, runtime.js). The space is
web-sized (a few dozen configs): workgroup tile BM x BN, depth BK, an invocation's register
block TM x TN (multiples of 4: one vec4 per four columns), single or double buffered workgroup
tiles; every config within the spec-default limits (256 invocations, 16 KiB workgroup storage)
and with operand tiles that split into whole vec4 loads per invocation.

Which variants a kernel carries is its KernelConfig: `Param("variant<i>", index into SPACE)`,
so a tuning record can name the winners; without one, DEFAULT_VARIANTS (a big tile for
discrete GPUs, a small one for integrated GPUs and small problems, and the compact loop-form
kernel for software adapters), dropping unrolled tiles far larger than the problem.
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.config import ConfigSpace, KernelConfig, Param
from compiler.ir.contraction import Contraction
from compiler.target import Target

MAX_VARIANTS = 3
VECTOR = 4


@dataclass(frozen=True, slots=True)
class GemmConfig:
    bm: int
    bn: int
    bk: int
    tm: int
    tn: int
    double_buffer: bool
    # The unrolled template (gemm.py); else the loop-form one (gemm_compact.py, COMPACT only):
    # several times less text for compilers that pay per instruction (SwiftShader's JIT).
    unroll: bool = True

    @property
    def threads(self) -> int:
        return (self.bm // self.tm) * (self.bn // self.tn)

    @property
    def storage(self) -> int:
        """Bytes of workgroup memory: both operand tiles, twice when double buffered."""
        return (self.bm + self.bn) * self.bk * 4 * (2 if self.double_buffer else 1)

    @property
    def name(self) -> str:
        return (f"{self.bm}x{self.bn}x{self.bk}_{self.tm}x{self.tn}{'_db' if self.double_buffer else ''}"
                f"{'' if self.unroll else '_loop'}")

    def needs(self) -> dict[str, int]:
        """The adapter limits the variant needs (the runtimes compare them with the device's)."""
        return {"invocations_per_workgroup": self.threads, "workgroup_storage": self.storage}

    def fits(self, limits: dict[str, int]) -> bool:
        return all(value <= limits.get(key, value) for key, value in self.needs().items())


def _valid(c: GemmConfig) -> bool:
    vectors_a, vectors_b = c.bm * c.bk // VECTOR, c.bn * c.bk // VECTOR
    return (c.bm % c.tm == 0 and c.bn % c.tn == 0 and c.threads in (64, 128, 256)
            and c.storage <= 16 * 1024 and vectors_a % c.threads == 0 and vectors_b % c.threads == 0)


# The loop-form template (gemm_compact.py): one config, for software adapters' compilers.
COMPACT = GemmConfig(64, 64, 16, 4, 4, False, unroll=False)

SPACE: tuple[GemmConfig, ...] = tuple(
    c for c in (GemmConfig(bm, bn, bk, tm, tn, db)
                for bm in (32, 64, 128) for bn in (32, 64, 128) for bk in (8, 16, 32)
                for tm in (4, 8) for tn in (4, 8) for db in (True, False))
    if _valid(c)) + (COMPACT,)

# In preference order for a fast discrete GPU; runtimes on software adapters take the last.
# The first was the fastest of the space on a 2048^3 GEMM on an H100 (wgpu over Vulkan), checked
# and trusted alike: 0.58 ms checked, 0.45 trusted, vs 0.72 / 0.70 for 128x128x8_8x8_db.
DEFAULT_VARIANTS = (GemmConfig(128, 128, 16, 8, 8, False), GemmConfig(32, 32, 16, 4, 4, True), COMPACT)


def config_index(config: GemmConfig) -> int:
    return SPACE.index(config)


def config_space(spec: Contraction, target: Target) -> ConfigSpace:
    """The first variant over the whole space within the target's limits (the default first);
    the other slots stay the defaults. A tuner measures on one adapter with slot 0 forced
    (benchmark.py), so the record names the variant that adapter wants first, and the artifact
    still carries the small and compact fallbacks for other adapters."""
    defaults = default_variants(spec, target)
    limits = dict(target.limits)
    order = [defaults[0]] + [c for c in SPACE if c != defaults[0] and c.fits(limits)]
    first = tuple(KernelConfig((Param("variant0", config_index(c)),)) for c in order)
    rest = KernelConfig(tuple(Param(f"variant{slot}", config_index(c)) for slot, c in enumerate(defaults) if slot))
    return ConfigSpace((("variant0", first), ("fallbacks", (rest,))))


def default_variants(spec: Contraction, target: Target) -> tuple[GemmConfig, ...]:
    """DEFAULT_VARIANTS within the target's limits, less tiles over twice the problem's static
    extent (a 128-row tile on a 16-row GEMM idles most invocations); at least one remains."""
    limits = dict(target.limits)
    fitting = [c for c in DEFAULT_VARIANTS if c.fits(limits)]
    sized = [c for c in fitting if c == COMPACT
             or (not isinstance(spec.m, int) or c.bm <= max(2 * spec.m, 32)) and c.bn <= max(2 * spec.n, 32)]
    return tuple(sized)


def default_config(spec: Contraction, target: Target) -> KernelConfig:
    return KernelConfig(tuple(Param(f"variant{slot}", config_index(c))
                              for slot, c in enumerate(default_variants(spec, target))))


def variants(config: KernelConfig, spec: Contraction, target: Target) -> tuple[GemmConfig, ...]:
    """The kernel's variants from its config (a tuning record or the default), distinct, in
    slot order, at most MAX_VARIANTS."""
    chosen: list[GemmConfig] = []
    for slot in range(MAX_VARIANTS):
        index = config.param(f"variant{slot}", -1)
        if 0 <= index < len(SPACE) and SPACE[index] not in chosen:
            chosen.append(SPACE[index])
    return tuple(chosen) or default_variants(spec, target)


__all__ = ["COMPACT", "DEFAULT_VARIANTS", "GemmConfig", "MAX_VARIANTS", "SPACE", "config_index", "config_space",
           "default_config", "default_variants", "variants"]
