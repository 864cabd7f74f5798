"""The CPU attention template: softmax(scale * q k^T + mask) v for one (batch..., head) at a
time, one query row at a time, never the S x T matrix.

The loop-nest lowering (passes/lower/attention.py) reads k and v through the exporters'
head-split strides: a key's d elements sit a whole QKV row apart, so neither the q.k nor the
p.v loop is contiguous and its scores live in memory. Here each thread first copies its
(batch, head)'s K transposed, [d][key], and V, [key][e], into contiguous scratch (a few KiB,
re-packed only when the head changes), then per row:
  scores: CH vector accumulators over a chunk of keys, the d loop outermost (one q broadcast
          and CH loads per CH FMAs), stored once;
  softmax: mask / causal on the row, max, exp and sum as vector loops (mathlib's aotc_expf);
  p.v:     the value row's vectors in registers, one p broadcast per key.
Threads split (head, block of rows) items, contiguous, so a thread re-packs rarely.
"""
from __future__ import annotations

import math

from compiler.ir.attention_spec import AttentionSpec, StridedView
from backends.contraction_text import float_literal

ROW_BLOCK = 32          # query rows per work item
MAX_CHUNK = 4           # vector accumulators per pass over keys or value columns: enough to
                        # cover the FMA latency (4 cycles, one 512-bit FMA a cycle on Zen 4),
                        # and a causal row stops at the chunk that holds its last key


def _offset(view: StridedView, batch: tuple[int, ...]) -> str:
    """C expression: the view's offset for the batch index held in locals bi0, bi1, ..."""
    terms = [f"bi{a} * {stride}" for a, stride in enumerate(view.batch) if stride and batch[a] > 1]
    return " + ".join(terms) or "0"


class AttentionPrinter:
    def __init__(self, name: str, spec: AttentionSpec, vec: int, signature: str):
        self.name, self.spec, self.vec, self.signature = name, spec, vec, signature
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

    def _scores(self) -> str:
        s, vec, ch = self.spec, self.vec, self.key_chunk
        q = s.q
        inits = " ".join(f"aotc_vf acc{c} = zero;" for c in range(ch))
        fmas = " ".join(f"acc{c} += qd * *(const aotc_vf*)(kd + {c * vec});" for c in range(ch))
        stores = " ".join(f"*(aotc_vf*)(row + t0 + {c * vec}) = acc{c};" for c in range(ch))
        return f"""\
            for (int64_t t0 = 0; t0 < t_end; t0 += {ch * vec}) {{
                {inits}
                for (int64_t d = 0; d < {s.depth}; ++d) {{
                    const float qd = {float_literal(s.scale)} * q[q_off + i * {q.row_stride} + d * {q.col_stride}];
                    const float* restrict kd = kt + d * {self.keys_padded} + t0;
                    {fmas}
                }}
                {stores}
            }}"""

    def _softmax(self) -> str:
        """Keys past t_end (a causal row's future) are never read again: no -inf fill needed."""
        s = self.spec
        lines = []
        if s.mask is not None:
            m = s.mask
            lines.append(f"""\
            #pragma omp simd
            for (int64_t t = 0; t < t_end; ++t) row[t] += mask[mask_off + i * {m.row_stride} + t * {m.col_stride}];""")
        lines.append("""\
            float row_max = -INFINITY;
            #pragma omp simd reduction(max:row_max)
            for (int64_t t = 0; t < t_end; ++t) row_max = aotc_maxf(row_max, row[t]);
            float row_sum = 0.0f;
            #pragma omp simd reduction(+:row_sum)
            for (int64_t t = 0; t < t_end; ++t) { const float p = aotc_expf(row[t] - row_max); row[t] = p; row_sum += p; }
            const float inv_sum = 1.0f / row_sum;""")
        return "\n".join(lines)

    def _values(self) -> str:
        s, vec, ch = self.spec, self.vec, self.value_chunk
        o = s.out
        inits = " ".join(f"aotc_vf acc{c} = zero;" for c in range(ch))
        weight = "row[t] * inv_sum"
        if s.zero_nan_rows:
            weight = f"({weight} != {weight} ? 0.0f : {weight})"     # NaN weight (all-masked row): 0
        fmas = " ".join(f"acc{c} += p * *(const aotc_vf*)(vt + {c * vec});" for c in range(ch))
        stores = " ".join(f"*(aotc_vf*)(result + e0 + {c * vec}) = acc{c};" for c in range(ch))
        return f"""\
            for (int64_t e0 = 0; e0 < {self.width_padded}; e0 += {ch * vec}) {{
                {inits}
                for (int64_t t = 0; t < t_end; ++t) {{
                    const float p = {weight};
                    const float* restrict vt = vv + t * {self.width_padded} + e0;
                    {fmas}
                }}
                {stores}
            }}
            #pragma omp simd
            for (int64_t e = 0; e < {s.width}; ++e) out0[out_off + i * {o.row_stride} + e * {o.col_stride}] = result[e];"""

    def render(self) -> str:
        s = self.spec
        heads = math.prod(s.batch)
        blocks = -(-s.rows // ROW_BLOCK)
        k, v, q = s.k, s.v, s.q
        mask_offset = f"const int64_t mask_off = {_offset(s.mask, s.batch)};" if s.mask is not None else ""
        return f"""\
/* attention {self.name}: {heads} heads x {s.rows} rows, {s.keys} keys, depth {s.depth}, width {s.width};
   K^T and V packed per head, {self.key_chunk} / {self.value_chunk} vector accumulators */
{self.signature} {{
    const float* restrict q = in0;
    const float* restrict k = in1;
    const float* restrict v = in2;
    {"const float* restrict mask = in3;" if s.mask is not None else ""}
    #pragma omp parallel num_threads(nthreads)
    {{
        float* kt = aligned_alloc(64, sizeof(float) * {s.depth * self.keys_padded});
        float* vv = aligned_alloc(64, sizeof(float) * {s.keys * self.width_padded});
        float* row = aligned_alloc(64, sizeof(float) * {self.keys_padded});
        float* result = aligned_alloc(64, sizeof(float) * {self.width_padded});
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
            for (int64_t i = i0; i < i1; ++i) {{
                const int64_t t_end = {"i + 1 < " + str(s.keys) + " ? i + 1 : " + str(s.keys) if s.causal else s.keys};
{self._scores()}
{self._softmax()}
{self._values()}
            }}
        }}
        free(kt); free(vv); free(row); free(result);
    }}
}}
"""
