"""How the tensor-core GEMM (gemm_mma.py) moves one operand's BK-deep slice into shared memory.

Shared tiles hold raw 16-bit elements (fp16 or bf16 bits; zero is 0x0000 in both), in one of two
orientations, each row padded by 8 elements so `ldmatrix`'s eight 16-byte rows fall in distinct
banks:

- k inner (tile[mn][k]): the operand is contiguous along k; `ldmatrix` reads the mma fragment
  as it is;
- mn inner (tile[k][mn]): contiguous along m (A) or n (B); `ldmatrix.trans` transposes it.

Two ways in:

- `cp.async` of 16, 8 or 4 bytes (8, 4 or 2 elements) along the contiguous axis, where the operand
  is dense, that axis has stride 1, and its extent and every other stride are multiples of the
  chunk (parameters start on the arena's 256-byte alignment, host.py), so no chunk straddles an
  edge or a misaligned address; chunks outside the matrix are zero-filled (source size 0). A
  channels-last convolution's window rows (NHWC) are contiguous along k within one tap: chunks
  of channels, zero-filled in the padding;
- anything else (an im2col window, a stride that breaks the alignment) is gathered per element
  into registers while the block multiplies the current slice and stored to shared memory
  after it, as the CUDA-core template does.
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.contraction import Contraction, Dense, Im2col, Im2colRows
from backends.contraction_text import strided_index, window_rows_args
from backends.cuda.gemm_operands import batch_offset, dense_view

PAD = 8        # elements of padding per shared row (16 bytes)
INT32_MAX = 2 ** 31 - 1


@dataclass(frozen=True)
class MmaLoader:
    kind: str                 # for the kernel's comment
    k_inner: bool             # shared tile [mn][k] (else [k][mn])
    declare: tuple[str, ...]  # per-block setup
    issue: tuple[str, ...]    # the slice at `k_next` into stage `stage` (cp.async) or registers
    store: tuple[str, ...]    # gathered registers into stage `stage` (empty for cp.async)

    def shape(self, mn: int, bk: int) -> tuple[int, int]:
        return (mn, bk + PAD) if self.k_inner else (bk, mn + PAD)


def _chunk(extent: "int | str", *strides: int) -> int:
    """The widest cp.async chunk (elements) that divides the contiguous extent and every stride."""
    if not isinstance(extent, int):
        return 0
    for width in (8, 4, 2):
        if extent % width == 0 and all(s % width == 0 for s in strides):
            return width
    return 0


def _async_loader(name: str, param: str, width: int, tile_mn: int, bk: int, threads: int, k_inner: bool,
                  base: str, mn_var: str, mn_extent: str, mn_stride: int, k_stride: int) -> MmaLoader:
    """cp.async chunks of `width` elements along the operand's contiguous axis (k if `k_inner`)."""
    fast = (bk if k_inner else tile_mn) // width
    count = tile_mn * bk // width
    per = count // threads
    declare, issue = [], []
    for l in range(per):
        e = f"(threadIdx.x + {l * threads})"
        f, s = f"{name}_f{l}", f"{name}_s{l}"
        declare.append(f"const int {f} = {e} % {fast}, {s} = {e} / {fast};")
        if k_inner:   # s: row along mn, f: chunk along k
            mn, k, dest = s, f"{f} * {width}", f"{s}][{f} * {width}"
        else:
            mn, k, dest = f"{f} * {width}", s, f"{s}][{f} * {width}"
        declare.append(f"const bool {name}_in{l} = {mn_var}0 + {mn} < {mn_extent};")
        declare.append(f"const uint16_t* {name}_src{l} = (const uint16_t*){param} + {base} + "
                       f"({mn_var}0 + {mn}) * (int64_t){mn_stride} + (int64_t)({k}) * {k_stride};")
        issue.append(f"aotc_mma_cp_async<{width * 2}>(&{name}_shared[stage][{dest}], {name}_src{l} + (int64_t)k_next * {k_stride}, "
                     f"{name}_in{l} && k_next + {k} < gemm_k, {param});")
    axis = "k" if k_inner else ("m" if name == "a" else "n")
    return MmaLoader(f"cp.async {width * 2} B along {axis}", k_inner, tuple(declare), tuple(issue), ())


def _window_async_loader(a: Im2colRows, width: int, bm: int, bk: int, threads: int) -> MmaLoader:
    """cp.async chunks of a channels-last convolution's window rows: `width` channels of one tap
    (the chunk never straddles taps: it divides the channels per group), zero-filled outside
    the image. The thread's rows (output pixels) and their window origins are fixed per block."""
    kw = a.kernel[1]
    (sh, sw), (ph, pw), (dh, dw) = a.stride, a.pad, a.dilation
    cg = a.channels_per_group
    fast = bk // width
    per = bm * bk // width // threads
    declare = [f"const uint16_t* a_image = (const uint16_t*){a.param} + gb * (int64_t){a.image_stride} + gg * {cg};"]
    issue = []
    for l in range(per):
        e = f"(threadIdx.x + {l * threads})"
        f, s = f"a_f{l}", f"a_s{l}"
        declare.append(f"const int {f} = {e} % {fast}, {s} = {e} / {fast};")
        declare.append(f"const bool a_in{l} = m0 + {s} < gemm_m;")
        declare.append(f"const int a_y{l} = (int)((m0 + {s}) / {a.out_width}) * {sh} - {ph}, "
                       f"a_x{l} = (int)((m0 + {s}) % {a.out_width}) * {sw} - {pw};")
        issue.append(f"{{ const int k = k_next + {f} * {width}, tap = k / {cg}, ci = k % {cg}; "
                     f"const int iy = a_y{l} + tap / {kw} * {dh}, ix = a_x{l} + tap % {kw} * {dw}; "
                     f"const bool inside = a_in{l} && k < gemm_k && (unsigned)iy < {a.height}u && (unsigned)ix < {a.width}u; "
                     f"aotc_mma_cp_async<{width * 2}>(&a_shared[stage][{s}][{f} * {width}], "
                     f"a_image + ((int64_t)iy * {a.width} + ix) * {a.channels} + ci, inside, {a.param}); }}")
    return MmaLoader(f"cp.async {width * 2} B window rows", True, tuple(declare), tuple(issue), ())


def _gather_loader(name: str, tile_mn: int, bk: int, threads: int, k_inner: bool, mn_var: str,
                   mn_extent: str, element, kind: str = "gathered", setup=lambda mn: []) -> MmaLoader:
    """One element per (thread, l) through registers, the contiguous axis fastest across threads;
    `element` reads (mn_var, k) as raw bits. The thread count is a multiple of the fast extent,
    so a thread keeps one position along it (`setup(mn)` declares its constants) and steps the
    other axis by threads / fast."""
    fast = bk if k_inner else tile_mn
    assert threads % fast == 0, (threads, fast)
    per, step = tile_mn * bk // threads, threads // fast
    declare = [f"uint16_t {name}_stage[{per}];",
               f"const int {name}_f = threadIdx.x % {fast}, {name}_s = threadIdx.x / {fast};"]
    if not k_inner:
        declare += setup(f"{mn_var}0 + {name}_f")
    issue, store = [], []
    for l in range(per):
        s = f"{name}_s + {l * step}"
        mn, k = (s, f"{name}_f") if k_inner else (f"{name}_f", s)
        issue.append(f"{{ const int64_t {mn_var} = {mn_var}0 + {mn}; const int k = k_next + {k}; (void){mn_var}; "
                     f"{name}_stage[{l}] = ({mn_var} < {mn_extent} && k < gemm_k) ? {element} : (uint16_t)0; }}")
        store.append(f"{name}_shared[stage][{s}][{name}_f] = {name}_stage[{l}];")
    return MmaLoader(kind, k_inner, tuple(declare), tuple(issue), tuple(store))


def _im2col(b: Im2col, tile_n: int, bk: int, threads: int) -> MmaLoader:
    """Element (k, n) of a channels-first convolution's im2col matrix, n fastest across threads:
    the pixel's window origin once per block, the tap per slice."""
    kh, kw = b.kernel
    (sh, sw), (ph, pw), (dh, dw) = b.stride, b.pad, b.dilation
    plane = b.height * b.width
    index = "int" if b.channels * plane <= INT32_MAX else "int64_t"
    image = f"((const uint16_t*){b.param} + gb * (int64_t){b.image_stride} + gg * (int64_t){b.channel_offset_per_group * plane})"

    def setup(n):
        return [f"const int b_y = (int)(({n}) / {b.out_width}) * {sh} - {ph}, "
                f"b_x = (int)(({n}) % {b.out_width}) * {sw} - {pw};"]
    iy, ix = f"(b_y + (k % {kh * kw} / {kw}) * {dh})", f"(b_x + (k % {kw}) * {dw})"
    element = (f"((unsigned){iy} < {b.height}u && (unsigned){ix} < {b.width}u ? "
               f"{image}[(({index})(k / {kh * kw}) * {b.height} + {iy}) * {b.width} + {ix}] : (uint16_t)0)")
    return _gather_loader("b", tile_n, bk, threads, False, "n", "gemm_n", element, "im2col gather", setup)


def _window_rows(a: Im2colRows) -> str:
    return (f"aotc_window_rows_bits((const uint16_t*){a.param} + gb * (int64_t){a.image_stride} "
            f"+ gg * {a.channels_per_group}, m, k, {window_rows_args(a)})")


def a_loader(spec: Contraction, bm: int, bk: int, threads: int) -> MmaLoader:
    a = spec.a
    if isinstance(a, Dense) and a.col_stride == 1:
        width = _chunk(spec.k, a.row_stride, a.batch_stride, a.group_stride)
        if width:
            return _async_loader("a", a.param, width, bm, bk, threads, True, batch_offset(a), "m", "gemm_m",
                                 a.row_stride, 1)
    if isinstance(a, Dense) and a.row_stride == 1:
        width = _chunk(spec.m, a.col_stride, a.batch_stride, a.group_stride)
        if width:
            return _async_loader("a", a.param, width, bm, bk, threads, False, batch_offset(a), "m", "gemm_m",
                                 1, a.col_stride)
    if isinstance(a, Dense):
        element = f"((const uint16_t*){a.param})[{strided_index(a, 'm', 'k')}]"
        return _gather_loader("a", bm, bk, threads, a.row_stride != 1, "m", "gemm_m", element)
    if isinstance(a, Im2colRows):
        width = _chunk(a.channels_per_group, a.channels, a.image_stride)
        if width:
            return _window_async_loader(a, width, bm, bk, threads)
        return _gather_loader("a", bm, bk, threads, True, "m", "gemm_m", _window_rows(a), "window gather")
    raise NotImplementedError(f"CUDA mma GEMM: operand A of type {type(a).__name__}")


def b_loader(spec: Contraction, bn: int, bk: int, threads: int) -> MmaLoader:
    b = dense_view(spec.b, spec.n)
    if isinstance(b, Dense) and b.col_stride == 1:
        width = _chunk(spec.n, b.row_stride, b.batch_stride, b.group_stride)
        if width:
            return _async_loader("b", b.param, width, bn, bk, threads, False, batch_offset(b), "n", "gemm_n",
                                 1, b.row_stride)
    if isinstance(b, Dense) and b.row_stride == 1:
        width = _chunk(spec.k, b.col_stride, b.batch_stride, b.group_stride)
        if width:
            return _async_loader("b", b.param, width, bn, bk, threads, True, batch_offset(b), "n", "gemm_n",
                                 b.col_stride, 1)
    if isinstance(b, Dense):
        element = f"((const uint16_t*){b.param})[{strided_index(b, 'k', 'n')}]"
        return _gather_loader("b", bn, bk, threads, b.col_stride != 1, "n", "gemm_n", element)
    if isinstance(b, Im2col):
        return _im2col(b, bn, bk, threads)
    raise NotImplementedError(f"CUDA mma GEMM: operand B of type {type(b).__name__}")
