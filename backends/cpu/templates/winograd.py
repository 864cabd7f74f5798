"""The CPU Winograd template: a channels-last 3x3 / stride-1 convolution as F(m x m, 3 x 3)
(backends/cpu/winograd.py has the math).

Three phases in one OpenMP region, a barrier between each:
  1. input transform, threads split the tiles: V[xi][tile][c] = (B^T d B)[xi], over channels
     (contiguous, so each of the a^2 values is one vector expression per channel block);
     patch pixels outside the image read a zero row;
  2. a^2 GEMMs, threads split (xi, NR panel) pairs: M[xi] = V[xi] @ U[xi] with the contraction
     template's own microkernel, A read in place through row pointers, U pre-packed at compile
     time in B-panel order;
  3. output transform, threads split the tiles: Y = A^T M A into an m x m x K tile buffer, then
     the valid pixels get the convolution's epilogue (bias, residual, clamps, GELU) on the way
     to the output.
V and M live in one heap block per call (glibc serves repeat sizes from its heap, not mmap).
"""
from __future__ import annotations

from compiler.ir.contraction import Contraction, EpilogueAdd
from backends.contraction_text import float_literal
from backends.cpu.templates.gemm import GemmParams, GemmPrinter, scalar_epilogue
from backends.cpu.winograd import WinogradShape, gemm_spec, input_transform, output_transform, shape_of


def _combination(coefficients, names) -> str:
    """sum_i coefficients[i] * names[i] as C, integer coefficients, zero terms dropped."""
    terms = []
    for c, name in zip(coefficients, names):
        if c == 0:
            continue
        sign = "-" if c < 0 else "+"
        magnitude = abs(c)
        terms.append(f"{sign} {name}" if magnitude == 1 else f"{sign} {float_literal(float(magnitude))} * {name}")
    text = " ".join(terms) or "0.0f"
    return text[2:] if text.startswith("+ ") else text


def _two_sided(matrix, rows: int, inputs: list[list[str]], prefix: str) -> tuple[list[str], list[list[str]]]:
    """Lines computing R = matrix X matrix^T (X square, named `inputs`) as `prefix`i_j locals."""
    size = len(inputs)
    lines = []
    half = [[f"{prefix}h{i}_{j}" for j in range(size)] for i in range(rows)]
    for i in range(rows):
        for j in range(size):
            lines.append(f"const float {half[i][j]} = {_combination(matrix[i], [inputs[a][j] for a in range(size)])};")
    out = [[f"{prefix}{i}_{j}" for j in range(rows)] for i in range(rows)]
    for i in range(rows):
        for j in range(rows):
            lines.append(f"const float {out[i][j]} = {_combination(matrix[j], half[i])};")
    return lines, out


class WinogradPrinter:
    """Prints one Winograd convolution kernel: transforms, microkernel and driver."""

    def __init__(self, name: str, spec: Contraction, params: GemmParams, signature: str):
        self.name, self.spec, self.p, self.signature = name, spec, params, signature
        self.shape: WinogradShape = shape_of(spec, params.winograd)
        self.rows = self.shape.padded_tiles(params.mr)                      # tiles, padded to MR
        self.cols = -(-self.shape.out_channels // params.nr) * params.nr    # K, padded to NR
        self.gemm = GemmPrinter(name, gemm_spec(spec, params.winograd, self.rows), params, "")
        # The epilogue's addends ride along as extra parameters of the driver and _out.
        adds = [op.param for op in spec.epilogue if isinstance(op, EpilogueAdd)]
        self.extra_params = "".join(f", const float* restrict {name}" for name in adds)
        self.extra_args = "".join(f", {name}" for name in adds)

    def _tile_coordinates(self) -> str:
        s = self.shape
        return (f"const int64_t b = t / {s.tiles_h * s.tiles_w}, ty = (t / {s.tiles_w}) % {s.tiles_h}, "
                f"tx = t % {s.tiles_w};")

    def _input(self) -> str:
        s, alpha, c = self.shape, self.shape.alpha, self.shape.channels
        ph, pw = s.pad
        # Which patch rows and columns lie inside the image: one test each, not one per pixel.
        inside = [f"        const int64_t y0 = ty * {s.m} - {ph}, x0 = tx * {s.m} - {pw};"]
        inside += [f"        const int row{y} = y0 + {y} >= 0 && y0 + {y} < {s.height};" for y in range(alpha)]
        inside += [f"        const int col{x} = x0 + {x} >= 0 && x0 + {x} < {s.width};" for x in range(alpha)]
        pointers = inside + [
            f"        const float* restrict p{y}_{x} = row{y} && col{x} ? image + ((y0 + {y}) * {s.width} + x0 + {x}) * {c}"
            f" : {self.name}_zeros;" for y in range(alpha) for x in range(alpha)]
        names = [[f"p{y}_{x}[c]" for x in range(alpha)] for y in range(alpha)]
        lines, out = _two_sided(input_transform(s.m), alpha, names, "v")
        stores = [f"dst[{(i * alpha + j) * self.rows * c}] = {out[i][j]};" for i in range(alpha) for j in range(alpha)]
        body = "\n".join(f"            {line}" for line in lines + stores)
        pointer_text = "\n".join(pointers)
        return f"""\
static const float {self.name}_zeros[{c}];
static void {self.name}_in(const float* restrict x, float* restrict v, int64_t t0, int64_t t1) {{
    for (int64_t t = t0; t < t1; ++t) {{
        {self._tile_coordinates()}
        const float* restrict image = x + b * {s.height * s.width * c};
{pointer_text}
        #pragma omp simd
        for (int64_t c = 0; c < {c}; ++c) {{
            float* restrict dst = v + t * {c} + c;
{body}
        }}
    }}
}}
"""

    def _output(self) -> str:
        s, alpha, k = self.shape, self.shape.alpha, self.shape.out_channels
        spec = self.spec
        epilogue = " ".join(scalar_epilogue(spec.epilogue, "y", "pixel", "k"))
        names = [[f"q{a * alpha + b}[k]" for b in range(alpha)] for a in range(alpha)]
        lines, out = _two_sided(output_transform(s.m), s.m, names, "y")
        stores = [f"tile[{(i * s.m + j) * k} + k] = {out[i][j]};" for i in range(s.m) for j in range(s.m)]
        body = "\n".join(f"            {line}" for line in lines + stores)
        rows = "\n".join(f"        const float* restrict q{xi} = mt + {xi * self.rows * self.cols} + t * {self.cols};"
                         for xi in range(alpha * alpha))
        return f"""\
static void {self.name}_out(const float* restrict mt, float* restrict {spec.out_param}{self.extra_params}, float* restrict tile, int64_t t0, int64_t t1) {{
    for (int64_t t = t0; t < t1; ++t) {{
        {self._tile_coordinates()}
        const int64_t gb = b, gg = 0;
        (void)gg;
{rows}
        #pragma omp simd
        for (int64_t k = 0; k < {k}; ++k) {{
{body}
        }}
        for (int64_t i = 0; i < {s.m}; ++i) {{
            const int64_t oy = ty * {s.m} + i;
            if (oy >= {s.out_height}) break;
            for (int64_t j = 0; j < {s.m}; ++j) {{
                const int64_t ox = tx * {s.m} + j;
                if (ox >= {s.out_width}) break;
                const int64_t pixel = oy * {s.out_width} + ox;
                const float* restrict src = tile + (i * {s.m} + j) * {k};
                float* restrict dst = {spec.out_param} + gb * {spec.out_batch_stride} + pixel * {spec.out_row_stride};
                #pragma omp simd
                for (int64_t k = 0; k < {k}; ++k) {{ float y = src[k]; {epilogue} dst[k] = y; }}
            }}
        }}
    }}
}}
"""

    def _driver(self) -> str:
        s, p = self.shape, self.p
        alpha2, c = s.alpha ** 2, s.channels
        n_panels = self.cols // p.nr
        v_floats = alpha2 * self.rows * c
        m_floats = alpha2 * self.rows * self.cols
        weights = self.spec.b.param
        return f"""\
{self.signature} {{
    float* restrict v = aligned_alloc(64, sizeof(float) * {v_floats + m_floats});
    float* restrict mt = v + {v_floats};
    #pragma omp parallel num_threads(nthreads)
    {{
        const int64_t tid = omp_get_thread_num(), nt = omp_get_num_threads();
        float* tile = aligned_alloc(64, sizeof(float) * {s.m * s.m * s.out_channels});
        const float* aind[{p.mr}];
        {self.name}_in({self.spec.a.param}, v, {s.tiles} * tid / nt, {s.tiles} * (tid + 1) / nt);
        if (tid == nt - 1) {{
            /* Rows past the last tile feed only padding rows of M: zero, not uninitialised. */
            for (int64_t xi = 0; xi < {alpha2}; ++xi)
                memset(v + (xi * {self.rows} + {s.tiles}) * {c}, 0, sizeof(float) * {(self.rows - s.tiles) * c});
        }}
        #pragma omp barrier
        const int64_t items = {alpha2 * n_panels};
        for (int64_t item = items * tid / nt; item < items * (tid + 1) / nt; ++item) {{
            const int64_t xi = item / {n_panels}, jp = item % {n_panels};
            for (int64_t pc = 0; pc < {c}; pc += {p.kc}) {{
                const int64_t kc = {c} - pc < {p.kc} ? {c} - pc : {p.kc};
                const float* restrict bp = {weights} + ((xi * {n_panels} + jp) * {c} + pc) * {p.nr};
                for (int64_t ir = 0; ir < {self.rows}; ir += {p.mr}) {{
                    for (int64_t i = 0; i < {p.mr}; ++i) aind[i] = v + (xi * {self.rows} + ir + i) * {c} + pc;
                    {self.name}_ukr(1, kc, (const float* const*)aind, bp, mt + (xi * {self.rows} + ir) * {self.cols} + jp * {p.nr}, {self.cols}, pc != 0, 0, 0, 0, 0, 0);
                }}
            }}
        }}
        #pragma omp barrier
        {self.name}_out(mt, {self.spec.out_param}{self.extra_args}, tile, {s.tiles} * tid / nt, {s.tiles} * (tid + 1) / nt);
        free(tile);
    }}
    free(v);
}}
"""

    def render(self) -> str:
        s, p = self.shape, self.p
        header = (f"/* contraction {self.name}: Winograd F({s.m}x{s.m},3x3), {s.tiles} tiles, C={s.channels} "
                  f"K={s.out_channels}; {s.alpha ** 2} GEMMs {self.rows}x{self.cols}x{s.channels}; "
                  f"MR={p.mr} NR={p.nr} KC={p.kc}"
                  + (f" unroll={p.unroll}" if p.unroll else "") + (f" prefetch={p.prefetch}" if p.prefetch else "") + " */")
        return "\n".join([header, self._input(), self.gemm.microkernel(), self._output(), self._driver()])
