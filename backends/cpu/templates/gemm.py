"""The CPU contraction template: packed, register-blocked GEMM with a prologue (packing that
reads dense/transposed/broadcast operands or convolution windows) and an epilogue (scale,
bias/residual adds, clamps) applied when the last K block is stored.

Loop order (BLIS): jc (NC) -> pc (KC) -> pack B -> ic (MC) -> pack A -> jr (NR) -> ir (MR) ->
microkernel. Threads split N (each thread its own NC blocks) or M. Every size is a config
parameter; the microkernel is written with GCC vector extensions at the ISA's vector width,
so one template serves AVX-512, AVX2 and SSE.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.ir.contraction import Contraction, Dense, EpilogueAdd, EpilogueClamp, EpilogueGelu, Im2col, Im2colRows
from compiler.ir.config import KernelConfig
from backends.contraction_text import clamp_lines as _clamp, float_literal as _cf, strided_index as _strided_index


@dataclass(frozen=True)
class GemmParams:
    mr: int
    nr: int
    mc: int
    kc: int
    nc: int
    split_n: bool
    vec: int                     # floats per vector register
    unroll: int = 0              # the microkernel's K loop: #pragma GCC unroll (0: the compiler's choice)
    prefetch: int = 0            # prefetch the B panel this many K steps ahead (0: none)
    winograd: int = 0            # a 3x3 convolution as Winograd F(m x m, 3 x 3) (0: the direct GEMM)

    @staticmethod
    def from_config(config: KernelConfig, defaults: "GemmParams") -> "GemmParams":
        mr, nr = config.param("MR", defaults.mr), config.param("NR", defaults.nr)
        # A tuned MC/NC is rounded up to whole MR/NR panels, so that every combination of the
        # space's independent knobs is a valid blocking (the default already is).
        mc, nc = config.param("MC", defaults.mc), config.param("NC", defaults.nc)
        return GemmParams(mr, nr, -(-mc // mr) * mr, config.param("KC", defaults.kc), -(-nc // nr) * nr,
                          bool(config.param("SPLIT_N", int(defaults.split_n))), defaults.vec,
                          config.param("UNROLL", defaults.unroll), config.param("PREFETCH", defaults.prefetch),
                          config.param("WINOGRAD", defaults.winograd))

    def check(self) -> None:
        if self.nr % self.vec or self.mc % self.mr or self.nc % self.nr or min(self.mr, self.kc) < 1:
            raise ValueError(f"inconsistent GEMM parameters {self}: NR must be a multiple of the vector "
                             f"width {self.vec}, MC of MR and NC of NR")


def _gelu(op: EpilogueGelu, var: str) -> str:
    """GELU of `var` through mathlib's inline (vectorisable) erf / exp. The tanh form as
    x / (1 + exp(-2u)), the same function (0.5 (1 + tanh u) = sigmoid(2u)) in one exp and one
    division: a third of the cost of tanh's, and no cancellation near 0."""
    if op.approximate == "tanh":
        inner = f"-1.5957691216057308f * ({var} + 0.044715f * {var} * {var} * {var})"
        return f"{var} = {var} / (1.0f + aotc_expf_bounded({inner}));"
    return f"{var} = 0.5f * {var} * (1.0f + aotc_erff({var} * 0.7071067811865476f));"


def _clamp_functions(op: EpilogueClamp, vec: int | None = None) -> tuple[str, str]:
    """mathlib's (max, min) for a clamp on floats, or on `vec`-wide vectors: the one-select
    forms (aotc_maxcf, aotc_vmaxc16) against bounds that are not NaN, else the general ones."""
    constant = not (math.isnan(op.low) or math.isnan(op.high))
    if vec is None:
        return ("aotc_maxcf", "aotc_mincf") if constant else ("aotc_maxf", "aotc_minf")
    kind = "c" if constant else "s"
    return f"aotc_vmax{kind}{vec}", f"aotc_vmin{kind}{vec}"


def scalar_epilogue(ops, var: str, row: str, col: str) -> list[str]:
    """C statements applying epilogue `ops` to the float `var` of output element (row, col)."""
    lines = []
    for op in ops:
        if isinstance(op, EpilogueAdd):
            scale = "" if op.scale == 1.0 else f"{_cf(op.scale)} * "
            lines.append(f"{var} += {scale}{op.param}[{_strided_index(op, row, col)}];")
        elif isinstance(op, EpilogueClamp):
            lines += _clamp(op, var, *_clamp_functions(op))
        elif isinstance(op, EpilogueGelu):
            lines.append(_gelu(op, var))
    return lines


def window_run(a: Im2colRows) -> int | None:
    """K elements one row pointer covers in a channels-last window, or None when runs are too
    short to read in place. Few channels (an RGB stem): a whole kernel row, kw taps of all
    channels, contiguous in the image when there are no groups and no horizontal dilation
    (rows cut by the image's left/right edge are copied, zero-filled); else one tap's channels."""
    cg = a.channels_per_group
    if cg < 16 and cg == a.channels and a.dilation[1] == 1:
        return a.kernel[1] * cg
    return cg if cg >= 8 else None


def reads_a_in_place(spec: Contraction, kc: int) -> bool:
    """Whether the microkernel reads A where it lies, through MR row pointers per K run,
    instead of packing it (as MLAS and XNNPACK's indirect convolution do): a non-constant A
    whose K axis is contiguous, i.e. row-major activations or channels-last windows whose K
    runs are long enough to amortise fetching the row pointers. A K block must then split
    into equal runs that each stay inside one tap (or one kernel row)."""
    a = spec.a
    if isinstance(a, Dense):
        return not a.constant and a.col_stride == 1 and not page_aliased(a.row_stride)
    if isinstance(a, Im2colRows):
        unit, kc = window_run(a), min(kc, spec.k)
        if unit is None:
            return False
        if unit > a.channels_per_group:      # kernel rows: whole ones only
            return kc % unit == 0
        return kc % unit == 0 or unit % kc == 0
    return False


def page_aliased(row_stride: int) -> bool:
    """Rows a whole number of 4 KiB pages apart (K = 1024, 2048, 3072 floats): the MR rows the
    microkernel reads in place all map to one set of the L1 cache (set index = address bits
    6-11), which holds 8 lines, so 14 row streams evict each other every K step. Such an A is
    packed instead: ResNet-50's 1x1 convolution from 1024 channels (m 196, n 256) took 0.87-0.89 ms
    reading A in place and 0.67 ms packed, alone on this 2-core Zen 4 (2 KiB strides showed no
    difference)."""
    return (row_stride * 4) % 4096 == 0


def packed_panel_count(rows: int, r: int) -> int:
    """Panels of `r` rows (the last zero-padded) that cover `rows`."""
    return -(-rows // r)


class GemmPrinter:
    """Prints one contraction kernel: its pack routines, microkernel, store and driver."""

    def __init__(self, name: str, spec: Contraction, params: GemmParams, signature: str):
        params.check()
        self.name, self.spec, self.p, self.signature = name, spec, params, signature

    # --------------------------------------------------------------- operand access
    def _a_value(self, row: str, col: str) -> str:
        a = self.spec.a
        assert isinstance(a, Dense)
        return f"{a.param}[{_strided_index(a, row, col)}]"

    def _pack_a(self) -> str:
        """A block [mc x kc] -> panels [mc/MR][kc][MR], rows past M zero."""
        mr = self.p.mr
        if isinstance(self.spec.a, Im2colRows):
            return self._pack_a_windows()
        return f"""\
static void {self.name}_pack_a(const float* restrict {self.spec.a.param}, int64_t gb, int64_t gg, int64_t m0, int64_t mc, int64_t k0, int64_t kc, float* restrict dst) {{
    for (int64_t ip = 0; ip < mc; ip += {mr}) {{
        float* restrict panel = dst + (ip / {mr}) * kc * {mr};
        const int64_t rows = mc - ip < {mr} ? mc - ip : {mr};
        for (int64_t p = 0; p < kc; ++p) {{
            for (int64_t i = 0; i < rows; ++i) panel[p * {mr} + i] = {self._a_value("m0 + ip + i", "k0 + p")};
            for (int64_t i = rows; i < {mr}; ++i) panel[p * {mr} + i] = 0.0f;
        }}
    }}
}}
"""

    def _pack_a_windows(self) -> str:
        """Channels-last windows: each output pixel's k run is (ky, kx) taps of contiguous
        input channels, copied (or zeroed outside the image) a channel run at a time."""
        a, mr = self.spec.a, self.p.mr
        kh, kw = a.kernel
        sh, sw = a.stride
        ph, pw = a.pad
        dh, dw = a.dilation
        cg = a.channels_per_group
        return f"""\
static void {self.name}_pack_a(const float* restrict {a.param}, int64_t gb, int64_t gg, int64_t m0, int64_t mc, int64_t k0, int64_t kc, float* restrict dst) {{
    const float* restrict image = {a.param} + gb * {a.image_stride} + gg * {cg};
    for (int64_t ip = 0; ip < mc; ip += {mr}) {{
        float* restrict panel = dst + (ip / {mr}) * kc * {mr};
        const int64_t rows = mc - ip < {mr} ? mc - ip : {mr};
        for (int64_t i = 0; i < rows; ++i) {{
            const int64_t pixel = m0 + ip + i, oy = pixel / {a.out_width}, ox = pixel % {a.out_width};
            int64_t p = 0;
            while (p < kc) {{
                const int64_t k = k0 + p, tap = k / {cg}, ci = k % {cg};
                const int64_t ky = tap / {kw}, kx = tap % {kw};
                int64_t run = {cg} - ci;
                if (run > kc - p) run = kc - p;
                const int64_t iy = oy * {sh} - {ph} + ky * {dh}, ix = ox * {sw} - {pw} + kx * {dw};
                if (iy >= 0 && iy < {a.height} && ix >= 0 && ix < {a.width}) {{
                    const float* restrict src = image + (iy * {a.width} + ix) * {a.channels} + ci;
                    for (int64_t t = 0; t < run; ++t) panel[(p + t) * {mr} + i] = src[t];
                }} else {{
                    for (int64_t t = 0; t < run; ++t) panel[(p + t) * {mr} + i] = 0.0f;
                }}
                p += run;
            }}
        }}
        for (int64_t i = rows; i < {mr}; ++i)
            for (int64_t p = 0; p < kc; ++p) panel[p * {mr} + i] = 0.0f;
    }}
}}
"""

    def _run_length(self) -> str:
        """K elements per row pointer: a tap's channels (or a divisor of them) for windows,
        the whole K block for a dense A."""
        a = self.spec.a
        return str(min(self.p.kc, window_run(a))) if isinstance(a, Im2colRows) else "kc"

    def _index_a(self) -> str:
        """Row pointers of an A block [mc x kc]: [mc/MR][runs][MR], each pointing at its run
        of `run` contiguous K elements. Rows past the block repeat its last row (dense) or read
        zeros (windows); their results land in the edge tile and are dropped."""
        a, mr = self.spec.a, self.p.mr
        head = (f"static void {self.name}_index_a(const float* restrict {a.param}, int64_t gb, int64_t gg, int64_t m0, "
                f"int64_t mc, int64_t k0, int64_t kc, const float** restrict dst) {{")
        if isinstance(a, Dense):
            return f"""\
{head}
    for (int64_t i = 0; i < (mc + {mr - 1}) / {mr} * {mr}; ++i) {{
        const int64_t row = m0 + (i < mc ? i : mc - 1);
        dst[i] = {a.param} + {_strided_index(a, "row", "k0")};
    }}
}}
"""
        kw = a.kernel[1]
        (sh, sw), (ph, pw), (dh, dw) = a.stride, a.pad, a.dilation
        cg, run = a.channels_per_group, self._run_length()
        if window_run(a) > cg:
            return self._index_a_rows(head)
        return f"""\
static const float {self.name}_zeros[{run}];
{head}
    const float* restrict image = {a.param} + gb * {a.image_stride} + gg * {cg};
    const int64_t runs = kc / {run};
    for (int64_t i = 0; i < (mc + {mr - 1}) / {mr} * {mr}; ++i) {{
        const int64_t pixel = m0 + i, oy = pixel / {a.out_width}, ox = pixel % {a.out_width};
        const float** restrict panel = dst + (i / {mr}) * runs * {mr} + i % {mr};
        for (int64_t r = 0; r < runs; ++r) {{
            const int64_t k = k0 + r * {run}, tap = k / {cg}, ci = k % {cg};
            const int64_t iy = oy * {sh} - {ph} + (tap / {kw}) * {dh}, ix = ox * {sw} - {pw} + (tap % {kw}) * {dw};
            const int inside = i < mc && iy >= 0 && iy < {a.height} && ix >= 0 && ix < {a.width};
            panel[r * {mr}] = inside ? image + (iy * {a.width} + ix) * {a.channels} + ci : {self.name}_zeros;
        }}
    }}
}}
"""

    def _index_a_rows(self, head: str) -> str:
        """Row pointers over whole kernel rows (kw taps x all channels, contiguous): rows above
        or below the image read zeros; rows cut by its left/right edge are copied into
        `scratch` with the outside taps zeroed."""
        a, mr = self.spec.a, self.p.mr
        kw, cg = a.kernel[1], a.channels
        (sh, sw), (ph, pw), (dh, _) = a.stride, a.pad, a.dilation
        run = kw * cg
        head = head.replace("const float** restrict dst) {", "const float** restrict dst, float* restrict scratch) {")
        return f"""\
static const float {self.name}_zeros[{run}];
{head}
    const float* restrict image = {a.param} + gb * {a.image_stride};
    const int64_t runs = kc / {run};
    for (int64_t i = 0; i < (mc + {mr - 1}) / {mr} * {mr}; ++i) {{
        const int64_t pixel = m0 + i, oy = pixel / {a.out_width}, ox = pixel % {a.out_width};
        const int64_t ix0 = ox * {sw} - {pw};
        const float** restrict panel = dst + (i / {mr}) * runs * {mr} + i % {mr};
        for (int64_t r = 0; r < runs; ++r) {{
            const int64_t ky = (k0 + r * {run}) / {run}, iy = oy * {sh} - {ph} + ky * {dh};
            if (i >= mc || iy < 0 || iy >= {a.height}) {{ panel[r * {mr}] = {self.name}_zeros; continue; }}
            const float* restrict row = image + (iy * {a.width} + ix0) * {cg};
            if (ix0 >= 0 && ix0 + {kw} <= {a.width}) {{ panel[r * {mr}] = row; continue; }}
            float* restrict copy = scratch + (i * runs + r) * {run};
            for (int64_t kx = 0; kx < {kw}; ++kx) {{
                const int inside = ix0 + kx >= 0 && ix0 + kx < {a.width};
                for (int64_t c = 0; c < {cg}; ++c) copy[kx * {cg} + c] = inside ? row[kx * {cg} + c] : 0.0f;
            }}
            panel[r * {mr}] = copy;
        }}
    }}
}}
"""

    def _pack_b(self) -> str:
        """B block [kc x nc] -> panels [nc/NR][kc][NR], columns past N zero."""
        nr, b = self.p.nr, self.spec.b
        head = (f"static void {self.name}_pack_b(const float* restrict {b.param}, int64_t gb, int64_t gg, "
                f"int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* restrict dst) {{")
        if isinstance(b, Dense):
            value = f"{b.param}[{_strided_index(b, 'k0 + p', 'n0 + jp + j')}]"
            return f"""\
{head}
    for (int64_t jp = 0; jp < nc; jp += {nr}) {{
        float* restrict panel = dst + (jp / {nr}) * kc * {nr};
        const int64_t cols = nc - jp < {nr} ? nc - jp : {nr};
        for (int64_t p = 0; p < kc; ++p) {{
            for (int64_t j = 0; j < cols; ++j) panel[p * {nr} + j] = {value};
            for (int64_t j = cols; j < {nr}; ++j) panel[p * {nr} + j] = 0.0f;
        }}
    }}
}}
"""
        assert isinstance(b, Im2col)
        kh, kw = b.kernel
        sh, sw = b.stride
        ph, pw = b.pad
        dh, dw = b.dilation
        # Each panel row covers NR consecutive outputs, i.e. a few output-row segments; per
        # segment the input row is tested once and the valid columns are a computed range,
        # so the copy in the middle is a plain (strided) vectorizable loop.
        return f"""\
{head}
    const float* restrict image = {b.param} + gb * {b.image_stride} + gg * {b.channel_offset_per_group * b.height * b.width};
    for (int64_t jp = 0; jp < nc; jp += {nr}) {{
        float* restrict panel = dst + (jp / {nr}) * kc * {nr};
        const int64_t cols = nc - jp < {nr} ? nc - jp : {nr};
        const int64_t oy0 = (n0 + jp) / {b.out_width}, ox0 = (n0 + jp) % {b.out_width};
        for (int64_t p = 0; p < kc; ++p) {{
            const int64_t k = k0 + p;
            const int64_t ci = k / {kh * kw}, ky = (k / {kw}) % {kh}, kx = k % {kw};
            const float* restrict plane = image + ci * {b.height * b.width};
            float* restrict row = panel + p * {nr};
            const int64_t offset = kx * {dw} - {pw};
            /* Output columns ox whose input column ox * {sw} + offset lies in [0, {b.width}). */
            const int64_t ox_first = aotc_ceil_div(-offset, {sw});
            const int64_t ox_last = aotc_floor_div({b.width - 1} - offset, {sw});
            int64_t j = 0, oy = oy0, ox = ox0;
            while (j < cols) {{
                int64_t segment = {b.out_width} - ox;
                if (segment > cols - j) segment = cols - j;
                const int64_t iy = oy * {sh} - {ph} + ky * {dh};
                if (iy < 0 || iy >= {b.height}) {{
                    for (int64_t t = 0; t < segment; ++t) row[j + t] = 0.0f;
                }} else {{
                    const float* restrict src = plane + iy * {b.width} + offset;
                    int64_t lo = ox_first - ox, hi = ox_last - ox + 1;
                    lo = lo < 0 ? 0 : (lo > segment ? segment : lo);
                    hi = hi > segment ? segment : (hi < lo ? lo : hi);
                    for (int64_t t = 0; t < lo; ++t) row[j + t] = 0.0f;
                    #pragma omp simd
                    for (int64_t t = lo; t < hi; ++t) row[j + t] = src[(ox + t) * {sw}];
                    for (int64_t t = hi; t < segment; ++t) row[j + t] = 0.0f;
                }}
                j += segment;
                ox = 0;
                ++oy;
            }}
            for (int64_t t = cols; t < {nr}; ++t) row[t] = 0.0f;
        }}
    }}
}}
"""

    def _vector_epilogue(self) -> str | None:
        """Alpha and the epilogue on the accumulators themselves (full tiles, last K block),
        when every addend is a row vector or a per-row scalar; None when one is not."""
        spec, mr, vec = self.spec, self.p.mr, self.p.vec
        nv = self.p.nr // vec
        lines = []
        if spec.alpha != 1.0:
            lines += [f"        acc{i}_{v} *= {_cf(spec.alpha)};" for i in range(mr) for v in range(nv)]
        for op in spec.epilogue:
            if isinstance(op, EpilogueAdd):
                if op.col_stride not in (0, 1):
                    return None
                scale = "" if op.scale == 1.0 else f"{_cf(op.scale)} * "
                for i in range(mr):
                    for v in range(nv):
                        # col_stride 1: a row vector, loaded; 0: one value per row, broadcast.
                        at = f"{op.param} + {_strided_index(op, f'm0 + {i}', f'n0 + {v * vec}')}"
                        value = f"*(const aotc_vf{vec}_unaligned*)({at})" if op.col_stride else f"({at})[0]"
                        lines.append(f"        acc{i}_{v} += {scale}{value};")
            elif isinstance(op, EpilogueClamp):
                lines += [f"        {line}" for i in range(mr) for v in range(nv)
                          for line in _clamp(op, f"acc{i}_{v}", *_clamp_functions(op, vec))]
            else:
                return None     # GELU: after the store, in the vectorised per-tile epilogue
        return "\n".join(lines)

    def microkernel(self) -> str:
        """C[0:MR, 0:NR] (row stride ldc) = (accumulate ? C : 0) + A panel x B panel, with the
        MR x NR accumulators in vector registers; on a full tile's last K block the epilogue
        is applied to the registers before the one store."""
        mr, nr, vec = self.p.mr, self.p.nr, self.p.vec
        nv = nr // vec
        acc_init = "\n".join(
            f"    aotc_vf{vec} acc{i}_{v} = accumulate ? *(const aotc_vf{vec}_unaligned*)(c + {i} * ldc + {v * vec}) : zero;"
            for i in range(mr) for v in range(nv))
        # Unaligned loads: pre-packed panels sit in the caller's weights buffer and C rows in
        # the caller's outputs, whose alignment the ABI does not demand.
        loads = "\n".join(f"        const aotc_vf{vec} b{v} = *(const aotc_vf{vec}_unaligned*)(b + p * {nr} + {v * vec});" for v in range(nv))
        direct = reads_a_in_place(self.spec, self.p.kc)
        a_at = (lambda i: f"a{i}[p]") if direct else (lambda i: f"a[p * {mr} + {i}]")
        fmas = "\n".join(f"        {{ const float a_i = {a_at(i)}; "
                         + " ".join(f"acc{i}_{v} += a_i * b{v};" for v in range(nv)) + " }"
                         for i in range(mr))
        stores = "\n".join(f"    *(aotc_vf{vec}_unaligned*)(c + {i} * ldc + {v * vec}) = acc{i}_{v};"
                           for i in range(mr) for v in range(nv))
        epilogue = self._vector_epilogue() or ""
        extra = "".join(f", const float* restrict {op.param}" for op in self.spec.epilogue if isinstance(op, EpilogueAdd))
        # Tuned knobs: an unroll pragma on the K loop, a prefetch of B's panel ahead of it.
        pragma = f"    #pragma GCC unroll {self.p.unroll}\n" if self.p.unroll else ""
        if self.p.prefetch:
            loads = f"        __builtin_prefetch(b + (p + {self.p.prefetch}) * {nr});\n" + loads
        if direct:
            # The K loop runs over `runs` runs of `run` elements, each row's run at its own
            # pointer; B's panel is contiguous across runs.
            rows = "\n".join(f"        const float* restrict a{i} = a[r * {mr} + {i}];" for i in range(mr))
            a_param, k_loop = "int64_t runs, int64_t run, const float* const* restrict a", f"""\
    for (int64_t r = 0; r < runs; ++r, b += run * {nr}) {{
{rows}
{pragma}    for (int64_t p = 0; p < run; ++p) {{
{loads}
{fmas}
    }}
    }}"""
        else:
            a_param, k_loop = "int64_t kc, const float* restrict a", f"""\
{pragma}    for (int64_t p = 0; p < kc; ++p) {{
{loads}
{fmas}
    }}"""
        return f"""\
static inline void {self.name}_ukr({a_param}, const float* restrict b, float* restrict c, int64_t ldc, int accumulate, int last, int64_t gb, int64_t gg, int64_t m0, int64_t n0{extra}) {{
    const aotc_vf{vec} zero = {{0}};
{acc_init}
{k_loop}
    (void)last; (void)gb; (void)gg; (void)m0; (void)n0;
    if (last) {{
{epilogue}
    }}
{stores}
}}
"""

    def _epilogue_body(self) -> str:
        spec = self.spec
        epilogue = []
        if spec.alpha != 1.0:
            epilogue.append(f"v *= {_cf(spec.alpha)};")
        return " ".join(epilogue + scalar_epilogue(spec.epilogue, "v", "m0 + i", "n0 + j"))

    def _store(self) -> str:
        """Edge tiles: merge the local MR x NR tile into C. Then (any tile) on the last K
        block: alpha and the epilogue, in place."""
        spec, nr = self.spec, self.p.nr
        out = spec.out_param
        row = f"{out} + gb * {spec.out_batch_stride} + gg * {spec.out_group_stride} + (m0 + i) * {spec.out_row_stride} + n0"
        extra_params = "".join(f", const float* restrict {op.param}" for op in spec.epilogue if isinstance(op, EpilogueAdd))
        body = self._epilogue_body()
        epilogue_fn = f"""\
static inline void {self.name}_epilogue(float* restrict {out}{extra_params}, int64_t gb, int64_t gg, int64_t m0, int64_t n0, int64_t rows, int64_t cols) {{
    for (int64_t i = 0; i < rows; ++i) {{
        float* restrict c = {row};
        #pragma omp simd
        for (int64_t j = 0; j < cols; ++j) {{ float v = c[j]; {body} c[j] = v; }}
    }}
}}
""" if body else ""
        return f"""\
static inline void {self.name}_merge(const float* restrict tile, float* restrict {out}, int64_t gb, int64_t gg, int64_t m0, int64_t n0, int64_t rows, int64_t cols, int first) {{
    for (int64_t i = 0; i < rows; ++i) {{
        float* restrict c = {row};
        const float* restrict t = tile + i * {nr};
        if (first) {{
            #pragma omp simd
            for (int64_t j = 0; j < cols; ++j) c[j] = t[j];
        }} else {{
            #pragma omp simd
            for (int64_t j = 0; j < cols; ++j) c[j] += t[j];
        }}
    }}
}}
{epilogue_fn}"""

    def _driver(self) -> str:
        spec, p = self.spec, self.p
        a_packed = isinstance(spec.a, Dense) and spec.a.constant
        b_packed = isinstance(spec.b, Dense) and spec.b.constant
        m_panels = packed_panel_count(spec.m, p.mr) if isinstance(spec.m, int) else f"(({spec.m} + {p.mr - 1}) / {p.mr})"
        n_panels = packed_panel_count(spec.n, p.nr)
        a_group = "gg" if isinstance(spec.a, Dense) and spec.a.group_stride else "0"
        b_group = "gg" if isinstance(spec.b, Dense) and spec.b.group_stride else "0"
        groups_total = spec.batch * spec.groups if isinstance(spec.batch, int) else f"({spec.batch} * {spec.groups})"
        extra_args = "".join(f", {op.param}" for op in spec.epilogue if isinstance(op, EpilogueAdd))
        out = spec.out_param
        direct = reads_a_in_place(spec, p.kc)
        if direct:
            run = self._run_length()
            scratch = ", abuf" if self._copies_edge_rows() else ""
            get_a = (f"{self.name}_index_a({spec.a.param}, gb, gg, ic, mc, pc, kc, aind{scratch});\n"
                     f"                const int64_t run = {run}, runs = kc / run;\n"
                     f"                const float* const* ap = (const float* const*)aind;\n"
                     f"                const int64_t a_panel_stride = runs * {p.mr};")
            a_args = "runs, run, a_panel"
        elif a_packed:
            get_a = (f"const float* restrict ap = {spec.a.param} + (({a_group} * {m_panels} + ic / {p.mr}) * {spec.k} + pc) * {p.mr};\n"
                     f"                const int64_t a_panel_stride = {spec.k * p.mr};")
        else:
            get_a = (f"{self.name}_pack_a({spec.a.param}, gb, gg, ic, mc, pc, kc, abuf);\n"
                     f"                const float* restrict ap = abuf;\n"
                     f"                const int64_t a_panel_stride = kc * {p.mr};")
        if b_packed:
            get_b = (f"const float* restrict bp = {spec.b.param} + (({b_group} * {n_panels} + jc / {p.nr}) * {spec.k} + pc) * {p.nr};\n"
                     f"            const int64_t b_panel_stride = {spec.k * p.nr};")
        else:
            get_b = (f"{self.name}_pack_b({spec.b.param}, gb, gg, pc, kc, jc, nc, bbuf);\n"
                     f"            const float* restrict bp = bbuf;\n"
                     f"            const int64_t b_panel_stride = kc * {p.nr};")
        if not direct:
            a_args = "kc, a_panel"
        split = "n" if p.split_n else "m"
        epilogue_call = (f"if (last) {self.name}_epilogue({out}{extra_args}, gb, gg, ic + ir, jc + jr, rows, cols);"
                         if self._epilogue_body() else "")
        in_registers = self._vector_epilogue() is not None
        vector_last = "last" if in_registers else "0"
        full_epilogue_call = "" if in_registers else epilogue_call
        return f"""\
{self.signature} {{
    #pragma omp parallel num_threads(nthreads)
    {{
        const int64_t tid = omp_get_thread_num(), nt = omp_get_num_threads();
        float* abuf = {"NULL" if a_packed or (direct and not self._copies_edge_rows()) else f"aligned_alloc(64, sizeof(float) * {p.mc * p.kc})"};
        const float** aind = {f"malloc(sizeof(float*) * {self._index_capacity()})" if direct else "NULL"};
        float* bbuf = {"NULL" if b_packed else f"aligned_alloc(64, sizeof(float) * {p.kc * p.nc})"};
        float tile[{p.mr * p.nr}] __attribute__((aligned(64)));
        /* This thread's share of the {split} panels. */
        const int64_t panels = {n_panels if p.split_n else m_panels};
        const int64_t lo = panels * tid / nt, hi = panels * (tid + 1) / nt;
        const int64_t n_lo = {f"lo * {p.nr}" if p.split_n else "0"}, n_hi = {f"hi * {p.nr} < {spec.n} ? hi * {p.nr} : {spec.n}" if p.split_n else spec.n};
        const int64_t m_lo = {"0" if p.split_n else f"lo * {p.mr}"}, m_hi = {spec.m if p.split_n else f"hi * {p.mr} < {spec.m} ? hi * {p.mr} : {spec.m}"};
        for (int64_t g = 0; g < {groups_total}; ++g) {{
        const int64_t gb = g / {spec.groups}, gg = g % {spec.groups};
        for (int64_t jc = n_lo; jc < n_hi; jc += {p.nc}) {{
          const int64_t nc = n_hi - jc < {p.nc} ? n_hi - jc : {p.nc};
          for (int64_t pc = 0; pc < {spec.k}; pc += {p.kc}) {{
            const int64_t kc = {spec.k} - pc < {p.kc} ? {spec.k} - pc : {p.kc};
            {get_b}
            for (int64_t ic = m_lo; ic < m_hi; ic += {p.mc}) {{
                const int64_t mc = m_hi - ic < {p.mc} ? m_hi - ic : {p.mc};
                {get_a}
                for (int64_t jr = 0; jr < nc; jr += {p.nr}) {{
                    const int64_t cols = nc - jr < {p.nr} ? nc - jr : {p.nr};
                    for (int64_t ir = 0; ir < mc; ir += {p.mr}) {{
                        const int64_t rows = mc - ir < {p.mr} ? mc - ir : {p.mr};
                        float* restrict c = {out} + gb * {spec.out_batch_stride} + gg * {spec.out_group_stride} + (ic + ir) * {spec.out_row_stride} + jc + jr;
                        {"const float* const*" if direct else "const float* restrict"} a_panel = ap + (ir / {p.mr}) * a_panel_stride;
                        const float* restrict b_panel = bp + (jr / {p.nr}) * b_panel_stride;
                        const int last = pc + kc == {spec.k};
                        if (rows == {p.mr} && cols == {p.nr}) {{
                            {self.name}_ukr({a_args}, b_panel, c, {spec.out_row_stride}, pc != 0, {vector_last}, gb, gg, ic + ir, jc + jr{extra_args});
                            {full_epilogue_call}
                        }} else {{
                            {self.name}_ukr({a_args}, b_panel, tile, {p.nr}, 0, 0, gb, gg, ic + ir, jc + jr{extra_args});
                            {self.name}_merge(tile, {out}, gb, gg, ic + ir, jc + jr, rows, cols, pc == 0);
                            {epilogue_call}
                        }}
                    }}
                }}
            }}
          }}
        }}
        }}
        free(abuf);
        free((void*)aind);
        free(bbuf);
    }}
}}
"""

    def _copies_edge_rows(self) -> bool:
        """Whole-kernel-row windows (window_run): edge rows need a scratch copy."""
        a = self.spec.a
        return isinstance(a, Im2colRows) and reads_a_in_place(self.spec, self.p.kc) and window_run(a) > a.channels_per_group

    def _index_capacity(self) -> int:
        """Row pointers for one MC x KC block: panels x runs x MR."""
        a, p = self.spec.a, self.p
        runs = -(-p.kc // min(p.kc, window_run(a))) if isinstance(a, Im2colRows) else 1
        return -(-p.mc // p.mr) * runs * p.mr

    def render(self) -> str:
        parts = [f"/* contraction {self.name}: g={self.spec.batch}x{self.spec.groups} m={self.spec.m} "
                 f"n={self.spec.n} k={self.spec.k}; MR={self.p.mr} NR={self.p.nr} MC={self.p.mc} "
                 f"KC={self.p.kc} NC={self.p.nc} split={'n' if self.p.split_n else 'm'}"
                 + (f" unroll={self.p.unroll}" if self.p.unroll else "")
                 + (f" prefetch={self.p.prefetch}" if self.p.prefetch else "") + " */"]
        if reads_a_in_place(self.spec, self.p.kc):
            parts.append(self._index_a())
        elif not (isinstance(self.spec.a, Dense) and self.spec.a.constant):
            parts.append(self._pack_a())
        if not (isinstance(self.spec.b, Dense) and self.spec.b.constant):
            parts.append(self._pack_b())
        parts += [self.microkernel(), self._store(), self._driver()]
        return "\n".join(parts)


def pack_a_panels(matrix_groups, mr: int):
    """Constant A [G][M][K] -> [G][ceil(M/MR)][K][MR] (rows past M zero)."""
    import numpy as np
    g, m, k = matrix_groups.shape
    panels = packed_panel_count(m, mr)
    padded = np.zeros((g, panels * mr, k), np.float32)
    padded[:, :m, :] = matrix_groups
    return np.ascontiguousarray(padded.reshape(g, panels, mr, k).transpose(0, 1, 3, 2))


def pack_b_panels(matrix_groups, nr: int):
    """Constant B [G][K][N] -> [G][ceil(N/NR)][K][NR] (columns past N zero)."""
    import numpy as np
    g, k, n = matrix_groups.shape
    panels = packed_panel_count(n, nr)
    padded = np.zeros((g, k, panels * nr), np.float32)
    padded[:, :, :n] = matrix_groups
    return np.ascontiguousarray(padded.reshape(g, k, panels, nr).transpose(0, 2, 1, 3))
