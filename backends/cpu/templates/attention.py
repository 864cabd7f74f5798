"""The CPU attention template: softmax(scale * q k^T + mask) v for one (batch..., head) at a
time, a few query rows at a time, never the S x T matrix.

The loop-nest lowering (passes/lower/attention.py) reads k and v through the exporters'
head-split strides: a key's d elements sit a whole QKV row apart, so neither the q.k nor the
p.v loop is contiguous and its scores live in memory. Here each thread first copies its
(batch, head)'s K transposed, [d][key], and V, [key][e], into contiguous scratch (a few KiB,
re-packed only when the head changes), then per pass of R query rows (their q scaled into
scratch first):
  scores: R x CH vector accumulators over a chunk of keys, the d loop outermost: CH key loads
          and R q broadcasts feed R x CH FMAs, so K^T streams from L2 once per R rows, not
          once per row (one row at a time, the loads outnumber the FMAs and L2 sets the pace);
          a causal pass stops at its last row's key, in whole vectors;
  softmax: mask / causal per row, max, exp and sum as vector loops (mathlib's aotc_expf), the
          weights normalised in place and zero past each row's own last key;
  p.v:     R x CH accumulators over value columns, one V load per CH and one weight broadcast
          per row for each key.
Threads split (head, block of rows) items, contiguous, so a thread re-packs rarely.
"""
from __future__ import annotations

import math

from compiler.ir.attention_spec import AttentionSpec, StridedView
from backends.contraction_text import float_literal

ROW_BLOCK = 32          # query rows per work item
MAX_CHUNK = 4           # vector accumulators per row over keys or value columns: enough to
                        # cover the FMA latency (4 cycles, one 512-bit FMA a cycle on Zen 4)


def rows_per_pass(vec: int) -> int:
    """Query rows sharing each K^T / V load: R x MAX_CHUNK accumulators plus MAX_CHUNK loads and
    R broadcasts must fit the register file (32 vector registers with AVX-512, 16 below)."""
    return 4 if vec >= 16 else 2


def _offset(view: StridedView, batch: tuple[int, ...]) -> str:
    """C expression: the view's offset for the batch index held in locals bi0, bi1, ..."""
    terms = [f"bi{a} * {stride}" for a, stride in enumerate(view.batch) if stride and batch[a] > 1]
    return " + ".join(terms) or "0"


class AttentionPrinter:
    def __init__(self, name: str, spec: AttentionSpec, vec: int, signature: str):
        self.name, self.spec, self.vec, self.signature = name, spec, vec, signature
        self.rows = rows_per_pass(vec)
        key_vectors = -(-spec.keys // vec)
        self.key_chunk = min(MAX_CHUNK, key_vectors)                         # vectors per scores pass
        self.keys_padded = -(-key_vectors // self.key_chunk) * self.key_chunk * vec
        value_vectors = -(-spec.width // vec)
        self.value_chunk = min(MAX_CHUNK, value_vectors)
        self.width_padded = -(-value_vectors // self.value_chunk) * self.value_chunk * vec

    def _batch_indices(self) -> str:
        lines, rest = [], "bb"
        for a in reversed(range(len(self.spec.batch))):
            extent = self.spec.batch[a]
            lines.append(f"const int64_t bi{a} = {rest} % {extent};")
            rest = f"({rest} / {extent})"
        return " ".join(lines)

    def _register_tile(self, chunk: int, loop: str, vectors: str, weight: str, out: str) -> str:
        """R x chunk vector accumulators over `loop`: per step, `chunk` vector loads (vectors + c
        vec) each FMA'd with the R rows' scalar weights (weight(r)); then stored (out(r) + c vec)."""
        vec, rows = self.vec, self.rows
        inits = " ".join(f"aotc_vf acc{r}_{c} = zero;" for r in range(rows) for c in range(chunk))
        loads = " ".join(f"const aotc_vf x{c} = *(const aotc_vf*)({vectors} + {c * vec});" for c in range(chunk))
        fmas = " ".join(f"{{ const float w = {weight.format(r=r)}; " +
                        " ".join(f"acc{r}_{c} += w * x{c};" for c in range(chunk)) + " }"
                        for r in range(rows))
        stores = " ".join(f"*(aotc_vf*)({out.format(r=r)} + {c * vec}) = acc{r}_{c};"
                          for r in range(rows) for c in range(chunk))
        return f"""\
                    {inits}
                    {loop} {{
                        {loads}
                        {fmas}
                    }}
                    {stores}"""

    def _scores_pass(self, chunk: int) -> str:
        """Scores of the R rows for `chunk` vectors of keys from t0 (kt is zero past the keys)."""
        return self._register_tile(
            chunk, f"for (int64_t d = 0; d < {self.spec.depth}; ++d)", f"(kt + d * {self.keys_padded} + t0)",
            f"qs[{{r}} * {self.spec.depth} + d]", f"(sc + {{r}} * {self.keys_padded} + t0)")

    def _scores(self) -> str:
        vec, ch = self.vec, self.key_chunk
        return f"""\
                const int64_t t_vec_end = (t_end + {vec - 1}) / {vec} * {vec};
                int64_t t0 = 0;
                for (; t0 + {ch * vec} <= t_vec_end; t0 += {ch * vec}) {{
{self._scores_pass(ch)}
                }}
                for (; t0 < t_vec_end; t0 += {vec}) {{
{self._scores_pass(1)}
                }}"""

    def _softmax(self) -> str:
        """Per row: its keys' weights, normalised; zero from its own end to the pass's."""
        s = self.spec
        lines = [f"""\
                for (int64_t r = 0; r < {self.rows}; ++r) {{
                    float* restrict row = sc + r * {self.keys_padded};
                    const int64_t i = ir[r], row_end = {self._row_end("i")};"""]
        if s.mask is not None:
            m = s.mask
            lines.append(f"""\
                    #pragma omp simd
                    for (int64_t t = 0; t < row_end; ++t) row[t] += mask[mask_off + i * {m.row_stride} + t * {m.col_stride}];""")
        weight = "row[t] * inv_sum"
        if s.zero_nan_rows:
            weight = f"({weight} != {weight} ? 0.0f : {weight})"     # NaN weight (all-masked row): 0
        lines.append(f"""\
                    float row_max = -INFINITY;
                    #pragma omp simd reduction(max:row_max)
                    for (int64_t t = 0; t < row_end; ++t) row_max = aotc_maxf(row_max, row[t]);
                    float row_sum = 0.0f;
                    #pragma omp simd reduction(+:row_sum)
                    for (int64_t t = 0; t < row_end; ++t) {{ const float p = aotc_expf(row[t] - row_max); row[t] = p; row_sum += p; }}
                    const float inv_sum = 1.0f / row_sum;
                    #pragma omp simd
                    for (int64_t t = 0; t < row_end; ++t) row[t] = {weight};
                    for (int64_t t = row_end; t < t_end; ++t) row[t] = 0.0f;
                }}""")
        return "\n".join(lines)

    def _values(self) -> str:
        s, ch, rows = self.spec, self.value_chunk, self.rows
        o = s.out
        tile = self._register_tile(
            ch, "for (int64_t t = 0; t < t_end; ++t)", f"(vv + t * {self.width_padded} + e0)",
            f"sc[{{r}} * {self.keys_padded} + t]", f"(result + {{r}} * {self.width_padded} + e0)")
        return f"""\
                for (int64_t e0 = 0; e0 < {self.width_padded}; e0 += {ch * self.vec}) {{
{tile}
                }}
                for (int64_t r = 0; r < i1 - ib && r < {rows}; ++r) {{
                    #pragma omp simd
                    for (int64_t e = 0; e < {s.width}; ++e) out0[out_off + ir[r] * {o.row_stride} + e * {o.col_stride}] = result[r * {self.width_padded} + e];
                }}"""

    def _row_end(self, row: str) -> str:
        keys = self.spec.keys
        return f"({row} + 1 < {keys} ? {row} + 1 : {keys})" if self.spec.causal else str(keys)

    def _pack_q(self) -> str:
        """The pass's rows (a short last pass repeats its last row, computed but never stored),
        their q scaled once."""
        s, q = self.spec, self.spec.q
        return f"""\
                int64_t ir[{self.rows}];
                for (int64_t r = 0; r < {self.rows}; ++r) ir[r] = ib + r < i1 ? ib + r : i1 - 1;
                for (int64_t r = 0; r < {self.rows}; ++r)
                    for (int64_t d = 0; d < {s.depth}; ++d)
                        qs[r * {s.depth} + d] = {float_literal(s.scale)} * q[q_off + ir[r] * {q.row_stride} + d * {q.col_stride}];
                const int64_t t_end = {self._row_end(f"ir[{self.rows - 1}]")};"""

    def render(self) -> str:
        s = self.spec
        heads = math.prod(s.batch)
        blocks = -(-s.rows // ROW_BLOCK)
        k, v, q = s.k, s.v, s.q
        mask_offset = f"const int64_t mask_off = {_offset(s.mask, s.batch)};" if s.mask is not None else ""
        return f"""\
/* attention {self.name}: {heads} heads x {s.rows} rows, {s.keys} keys, depth {s.depth}, width {s.width};
   K^T and V packed per head, {self.rows} rows x {self.key_chunk} / {self.value_chunk} vector accumulators */
{self.signature} {{
    const float* restrict q = in0;
    const float* restrict k = in1;
    const float* restrict v = in2;
    {"const float* restrict mask = in3;" if s.mask is not None else ""}
    #pragma omp parallel num_threads(nthreads)
    {{
        float* kt = aligned_alloc(64, sizeof(float) * {s.depth * self.keys_padded});
        float* vv = aligned_alloc(64, sizeof(float) * {s.keys * self.width_padded});
        float* sc = aligned_alloc(64, sizeof(float) * {self.rows * self.keys_padded});
        float* qs = aligned_alloc(64, sizeof(float) * {-(-self.rows * s.depth // 16) * 16});
        float* result = aligned_alloc(64, sizeof(float) * {self.rows * self.width_padded});
        const aotc_vf zero = {{0}};
        int64_t packed = -1;
        #pragma omp for schedule(static)
        for (int64_t item = 0; item < {heads * blocks}; ++item) {{
            const int64_t bb = item / {blocks}, i0 = (item % {blocks}) * {ROW_BLOCK};
            {self._batch_indices()}
            const int64_t q_off = {_offset(q, s.batch)}, out_off = {_offset(s.out, s.batch)};
            {mask_offset}
            if (bb != packed) {{
                const int64_t k_off = {_offset(k, s.batch)}, v_off = {_offset(v, s.batch)};
                for (int64_t t = 0; t < {s.keys}; ++t)
                    for (int64_t d = 0; d < {s.depth}; ++d)
                        kt[d * {self.keys_padded} + t] = k[k_off + t * {k.row_stride} + d * {k.col_stride}];
                for (int64_t d = 0; d < {s.depth}; ++d)
                    for (int64_t t = {s.keys}; t < {self.keys_padded}; ++t) kt[d * {self.keys_padded} + t] = 0.0f;
                for (int64_t t = 0; t < {s.keys}; ++t) {{
                    for (int64_t e = 0; e < {s.width}; ++e) vv[t * {self.width_padded} + e] = v[v_off + t * {v.row_stride} + e * {v.col_stride}];
                    for (int64_t e = {s.width}; e < {self.width_padded}; ++e) vv[t * {self.width_padded} + e] = 0.0f;
                }}
                packed = bb;
            }}
            const int64_t i1 = i0 + {ROW_BLOCK} < {s.rows} ? i0 + {ROW_BLOCK} : {s.rows};
            for (int64_t ib = i0; ib < i1; ib += {self.rows}) {{
{self._pack_q()}
{self._scores()}
{self._softmax()}
{self._values()}
            }}
        }}
        free(kt); free(vv); free(sc); free(qs); free(result);
    }}
}}
"""
