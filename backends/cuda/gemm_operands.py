"""How the CUDA GEMM template moves one operand's BK-deep slice from global into shared memory.

Every loader stages its slice in registers (`load`, issued before the block computes on the
current slice, so the global latency hides behind the FMAs) and then writes the other shared
buffer (`store`). Shared tiles are k-major (tile[k][m] and tile[k][n]), whichever axis the
operand has contiguous:

- float4 loads along the operand's contiguous axis, when it is dense, its strides and the
  extent along that axis are multiples of 4 (kernel parameters start on the arena's alignment,
  at least 64 bytes; see host.py), so no vector straddles an edge or a misaligned address;
- a 1 x 1, stride-1, unpadded convolution's im2col matrix is the dense image itself;
- any other im2col window is gathered per element with 32-bit index arithmetic (the pixel's
  window origin computed once per block, divisions by compile-time constants);
- anything else is gathered per element through the spec's addressing.
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.contraction import Contraction, Dense, Im2col, Im2colRows
from backends.contraction_text import strided_index, window_rows_args
from backends.cuda.gemm_tiles import Tiles

INT32_MAX = 2 ** 31 - 1
ZERO4 = "make_float4(0.0f, 0.0f, 0.0f, 0.0f)"


@dataclass(frozen=True)
class Loader:
    kind: str                 # for the kernel's comment
    declare: tuple[str, ...]  # per-block setup: staging registers, row/column offsets
    load: tuple[str, ...]     # global -> registers for the slice starting at `k_next`
    store: tuple[str, ...]    # registers -> shared buffer `buf`


def batch_offset(op: Dense) -> str:
    terms = [(op.batch_stride, "gb"), (op.group_stride, "gg")]
    return " + ".join(f"{name} * {stride}" for stride, name in terms if stride) or "0"


def _aligned(op: Dense, *strides: int) -> bool:
    return all(s % 4 == 0 for s in (op.batch_stride, op.group_stride, *strides))


def dense_view(operand, n: int):
    """A 1 x 1 stride-1 unpadded convolution reads its image as a dense (channel, pixel) matrix."""
    if (isinstance(operand, Im2col) and operand.kernel == (1, 1) and operand.stride == (1, 1)
            and operand.pad == (0, 0) and operand.out_width == operand.width and n == operand.height * operand.width):
        plane = operand.height * operand.width
        return Dense(operand.param, plane, 1, operand.image_stride, operand.channel_offset_per_group * plane)
    return operand


def _vector_loader(name: str, param: str, count: int, threads: int, fast_tile: int, base: str, offset: str,
                   inside: str, advance: str, k_of: str, transposed: bool, axis_label: str) -> Loader:
    """`count` float4 loads; f (the contiguous axis, in vectors) varies fastest across threads,
    s is the other axis. `offset`: element offset of (f, s) from `base`; `inside`: whether the
    vector's row or column lies inside the matrix; `advance`: the offset of slice `k_next`;
    `k_of`: the vector's k within the slice (all four lanes are in or out: K % 4 == 0)."""
    per = count // threads
    declare, load, store = [f"float4 {name}_stage[{per}];"], [], []
    for l in range(per):
        e = f"(threadIdx.x + {l * threads})"
        declare.append(f"const int {name}_f{l} = {e} % {fast_tile}, {name}_s{l} = {e} / {fast_tile};")
        declare.append(f"const auto* {name}_src{l} = {param} + {base} + {offset.format(f=f'{name}_f{l}', s=f'{name}_s{l}')};")
        declare.append(f"const bool {name}_in{l} = {inside.format(f=f'{name}_f{l}', s=f'{name}_s{l}')};")
        k_ok = k_of.format(f=f"{name}_f{l}", s=f"{name}_s{l}")
        load.append(f"{name}_stage[{l}] = ({name}_in{l} && k_next + {k_ok} < gemm_k) ? "
                    f"aotc_load4({name}_src{l} + {advance}) : {ZERO4};")
        if transposed:   # four k rows of one column of the k-major tile
            for c, lane in enumerate("xyzw"):
                store.append(f"{name}_tile[buf][{name}_f{l} * 4 + {c}][{name}_s{l}] = {name}_stage[{l}].{lane};")
        else:
            store.append(f"*(float4*)&{name}_tile[buf][{name}_s{l}][{name}_f{l} * 4] = {name}_stage[{l}];")
    return Loader(f"float4 along {axis_label}", tuple(declare), tuple(load), tuple(store))


def _gather_loader(name: str, count: int, threads: int, k_fast: bool, other: str, other_tile: int, bk: int,
                   element: str, inside: str) -> Loader:
    per = count // threads
    declare, load, store = [f"float {name}_stage[{per}];"], [], []
    for l in range(per):
        e = f"(threadIdx.x + {l * threads})"
        if k_fast:
            declare.append(f"const int {name}_k{l} = {e} % {bk}, {name}_o{l} = {e} / {bk};")
        else:
            declare.append(f"const int {name}_o{l} = {e} % {other_tile}, {name}_k{l} = {e} / {other_tile};")
        load.append(f"{{ const int64_t {other} = {other}0 + {name}_o{l}, k = k_next + {name}_k{l}; "
                    f"{name}_stage[{l}] = ({inside} && k < gemm_k) ? aotc_f32({element}) : 0.0f; }}")
        store.append(f"{name}_tile[buf][{name}_k{l}][{name}_o{l}] = {name}_stage[{l}];")
    return Loader("gathered", tuple(declare), tuple(load), tuple(store))


def _im2col_loader(b: Im2col, count: int, threads: int, tiles: Tiles) -> Loader:
    """Element (k, n) of a channels-first convolution's im2col matrix: n = (oy, ox) fastest
    across threads (contiguous along a row of the image), k = (ci, ky, kx)."""
    per = count // threads
    kh, kw = b.kernel
    (sh, sw), (ph, pw), (dh, dw) = b.stride, b.pad, b.dilation
    plane = b.height * b.width
    index = "int" if b.channels * plane <= INT32_MAX else "int64_t"
    declare = [f"float b_stage[{per}];",
               f"const auto* b_image = {b.param} + gb * {b.image_stride} + gg * {b.channel_offset_per_group * plane};"]
    load, store = [], []
    for l in range(per):
        e = f"(threadIdx.x + {l * threads})"
        declare.append(f"const int b_o{l} = {e} % {tiles.bn}, b_k{l} = {e} / {tiles.bn};")
        declare.append(f"const int64_t b_n{l} = n0 + b_o{l};")
        declare.append(f"const bool b_in{l} = b_n{l} < gemm_n;")
        declare.append(f"const int b_y{l} = (int)(b_n{l} / {b.out_width}) * {sh} - {ph}, "
                       f"b_x{l} = (int)(b_n{l} % {b.out_width}) * {sw} - {pw};")
        load.append(f"{{ const int k = k_next + b_k{l}, tap = k % {kh * kw}; "
                    f"const int iy = b_y{l} + (tap / {kw}) * {dh}, ix = b_x{l} + (tap % {kw}) * {dw}; "
                    f"b_stage[{l}] = (b_in{l} && k < gemm_k && (unsigned)iy < {b.height}u && (unsigned)ix < {b.width}u) ? "
                    f"aotc_f32(b_image[(({index})(k / {kh * kw}) * {b.height} + iy) * {b.width} + ix]) : 0.0f; }}")
        store.append(f"b_tile[buf][b_k{l}][b_o{l}] = b_stage[{l}];")
    return Loader("im2col gather", tuple(declare), tuple(load), tuple(store))


def a_loader(spec: Contraction, tiles: Tiles) -> Loader:
    a, t, count = spec.a, tiles.threads, tiles.bm * tiles.bk
    if isinstance(a, Dense) and a.col_stride == 1 and spec.k % 4 == 0 and _aligned(a, a.row_stride):
        return _vector_loader("a", a.param, count // 4, t, tiles.bk // 4, batch_offset(a),
                              f"(m0 + {{s}}) * {a.row_stride} + {{f}} * 4", "m0 + {s} < gemm_m", "k_next",
                              "{f} * 4", transposed=True, axis_label="k")
    if (isinstance(a, Dense) and a.row_stride == 1 and isinstance(spec.m, int) and spec.m % 4 == 0
            and _aligned(a, a.col_stride)):
        return _vector_loader("a", a.param, count // 4, t, tiles.bm // 4, batch_offset(a),
                              f"(m0 + {{f}} * 4) + (int64_t){{s}} * {a.col_stride}", "m0 + {f} * 4 < gemm_m",
                              f"(int64_t)k_next * {a.col_stride}", "{s}", transposed=False, axis_label="m")
    if isinstance(a, Dense):
        element = f"{a.param}[{strided_index(a, 'm', 'k')}]"
        k_fast = a.col_stride == 1
    elif isinstance(a, Im2colRows):
        element = (f"aotc_window_rows({a.param} + gb * {a.image_stride} + gg * {a.channels_per_group}, m, k, "
                   f"{window_rows_args(a)})")
        k_fast = True   # channels-last windows are contiguous along k
    else:
        raise NotImplementedError(f"CUDA GEMM: operand A of type {type(a).__name__}")
    return _gather_loader("a", count, t, k_fast, "m", tiles.bm, tiles.bk, element, "m < gemm_m")


def b_loader(spec: Contraction, tiles: Tiles) -> Loader:
    b, t, count = dense_view(spec.b, spec.n), tiles.threads, tiles.bn * tiles.bk
    if isinstance(b, Dense) and b.col_stride == 1 and spec.n % 4 == 0 and _aligned(b, b.row_stride):
        return _vector_loader("b", b.param, count // 4, t, tiles.bn // 4, batch_offset(b),
                              f"(int64_t){{s}} * {b.row_stride} + n0 + {{f}} * 4", "n0 + {f} * 4 < gemm_n",
                              f"(int64_t)k_next * {b.row_stride}", "{s}", transposed=False, axis_label="n")
    if isinstance(b, Dense) and b.row_stride == 1 and spec.k % 4 == 0 and _aligned(b, b.col_stride):
        return _vector_loader("b", b.param, count // 4, t, tiles.bk // 4, batch_offset(b),
                              f"(n0 + {{s}}) * {b.col_stride} + {{f}} * 4", "n0 + {s} < gemm_n", "k_next",
                              "{f} * 4", transposed=True, axis_label="k")
    if isinstance(b, Dense):
        return _gather_loader("b", count, t, b.row_stride == 1, "n", tiles.bn, tiles.bk,
                              f"{b.param}[{strided_index(b, 'k', 'n')}]", "n < gemm_n")
    if isinstance(b, Im2col):
        return _im2col_loader(b, count, t, tiles)
    raise NotImplementedError(f"CUDA GEMM: operand B of type {type(b).__name__}")
