"""The CUDA kernel printer on hand-built loop kernels: golden text for an elementwise and a
row-reduction kernel, and which loops become the grid."""
from __future__ import annotations

from dataclasses import replace

from compiler.ir.dtypes import DType
from compiler.ir.loops import (INDEX, Assign, Binary, Block, Buffer, Call, Const, Declare, For, Kernel, Load, LoopKind,
                               Store, Var)
from compiler.target import resolve_target
from backends.cuda.grid import phases
from backends.cuda.printer import kernel_functions

F32 = DType.float32
SM90 = resolve_target("cuda:sm_90")


def idx(value: int) -> Const:
    return Const(value, INDEX)


def elementwise() -> Kernel:
    body = For("i0", idx(1024), Store("y", Var("i0"), Call("exp", (Load("x", Var("i0"), F32),))), LoopKind.PARALLEL)
    return Kernel("k0", (Buffer("x", F32, 1024), Buffer("y", F32, 1024, writable=True)), (), body, ops=("Exp",))


def row_sum() -> Kernel:
    at = Binary("add", Binary("mul", Var("r"), idx(100)), Var("c"))
    inner = For("c", idx(100), Assign("acc", Binary("add", Var("acc", F32), Load("x", at, F32))),
                reductions=(("acc", "add"),))
    body = For("r", Var("rows"), Block((Declare("acc", F32, Const(0.0, F32)), inner, Store("y", Var("r"), Var("acc", F32)))),
               LoopKind.PARALLEL)
    return Kernel("k1", (Buffer("x", F32, 800), Buffer("y", F32, 8, writable=True)), ("rows",), body, ops=("ReduceSum",))


ELEMENTWISE = """\
/* Exp */
extern "C" __global__ void __launch_bounds__(256) aotc_d19e91f435b1ded7(const float* __restrict__ x, float* __restrict__ y) {
    const int64_t aotc_total = (1024);
    const int64_t aotc_vectors = aotc_total / 4;
    for (int64_t aotc_vec = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; aotc_vec < aotc_vectors; aotc_vec += (int64_t)gridDim.x * blockDim.x) {
        const float4 aotc_in_x = ((const float4*)x)[aotc_vec];
        float4 aotc_out_y;
        {
            aotc_out_y.x = expf(aotc_in_x.x);
        }
        {
            aotc_out_y.y = expf(aotc_in_x.y);
        }
        {
            aotc_out_y.z = expf(aotc_in_x.z);
        }
        {
            aotc_out_y.w = expf(aotc_in_x.w);
        }
        ((float4*)y)[aotc_vec] = aotc_out_y;
    }
    /* the last aotc_total % 4 elements */
    for (int64_t aotc_flat = aotc_vectors * 4 + (int64_t)blockIdx.x * blockDim.x + threadIdx.x; aotc_flat < aotc_total; aotc_flat += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i0 = aotc_flat;
        y[i0] = expf(x[i0]);
    }
}
"""

ROW_SUM = """\
/* ReduceSum */
extern "C" __global__ void __launch_bounds__(256) aotc_f8185fb30e2bd4b2(const float* __restrict__ x, float* __restrict__ y, int64_t rows) {
    const int64_t aotc_total = (rows);
    const int aotc_lane = threadIdx.x % 32;
    for (int64_t aotc_flat = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; aotc_flat < aotc_total; aotc_flat += (int64_t)gridDim.x * blockDim.x / 32) {
        const int64_t r = aotc_flat;
        float acc = 0.0f;
        {
            const float aotc_before_acc = acc; acc = 0.0f;
            #pragma unroll 4
            for (int64_t c = aotc_lane; c < 100; c += 32) {
                acc = (acc + x[((r * 100) + c)]);
            }
            for (int aotc_offset = 16; aotc_offset > 0; aotc_offset /= 2) acc = (acc + __shfl_xor_sync(0xffffffffu, acc, aotc_offset));
            acc = (aotc_before_acc + acc);
        }
        __syncwarp();
        if (aotc_lane == 0) {
            y[r] = acc;
        }
        __syncwarp();
    }
}
"""


def test_elementwise_kernel_golden():
    [(name, text, launch)] = kernel_functions(elementwise(), SM90)
    assert text == ELEMENTWISE
    assert launch.function == name and launch.block == 256


def test_reduction_kernel_golden():
    """A warp per row: its lanes split the reduced axis, shuffles combine their partial sums
    (after the accumulator's value before the loop), lane 0 stores."""
    [(_, text, _)] = kernel_functions(row_sum(), SM90)
    assert text == ROW_SUM


def test_names_depend_on_content_not_on_graph_names():
    a = kernel_functions(elementwise(), SM90)
    b = kernel_functions(replace(elementwise(), name="other", nodes=("n9",)), SM90)
    assert a == b


def test_serial_loops_that_write_disjoint_elements_join_the_grid():
    """A transpose-like nest: parallel, serial, vectorized; every store indexed by every loop."""
    index = Binary("add", Binary("mul", Var("a"), idx(12)), Binary("add", Binary("mul", Var("b"), idx(4)), Var("c")))
    store = Store("y", index, Load("x", index, F32))
    nest = For("a", idx(2), For("b", idx(3), For("c", idx(4), store, LoopKind.VECTORIZED)), LoopKind.PARALLEL)
    [phase] = phases(nest, ())
    assert [loop.var for loop in phase.loops] == ["a", "b", "c"]


def test_a_serial_loop_carrying_a_dependence_stays_per_thread():
    """A running sum reads what the previous iteration stored: not independent."""
    prev = Load("y", Binary("sub", Var("j"), idx(1)), F32)
    store = Store("y", Var("j"), Binary("add", prev, Load("x", Var("j"), F32)))
    nest = For("i", idx(4), For("j", idx(10), store), LoopKind.PARALLEL)
    [phase] = phases(nest, ())
    assert [loop.var for loop in phase.loops] == ["i"]


def test_a_block_of_loops_is_one_launch_each():
    loop = elementwise().body
    assert len(phases(Block((loop, loop)), ())) == 2


def _row_reduction(row: int, column: bool = False) -> Kernel:
    """Sums over rows of `row` elements (or, with `column`, down columns: stride `row`)."""
    at = (Binary("add", Binary("mul", Var("c"), idx(8)), Var("r")) if column
          else Binary("add", Binary("mul", Var("r"), idx(row)), Var("c")))
    inner = For("c", idx(row), Assign("acc", Binary("add", Var("acc", F32), Load("x", at, F32))))
    body = For("r", idx(8), Block((Declare("acc", F32, Const(0.0, F32)), inner, Store("y", Var("r"), Var("acc", F32)))),
               LoopKind.PARALLEL)
    return Kernel("k2", (Buffer("x", F32, 8 * row), Buffer("y", F32, 8, writable=True)), (), body, ops=("ReduceSum",))


def test_a_row_shorter_than_a_warp_stays_one_thread_per_row():
    [(_, text, _)] = kernel_functions(_row_reduction(20), SM90)
    assert "aotc_lane" not in text and "for (int64_t c = 0; c < 20; ++c)" in text


def test_an_unannotated_accumulation_is_recognised_as_a_sum():
    [(_, text, _)] = kernel_functions(_row_reduction(64), SM90)
    assert "__shfl_xor_sync" in text and "c += 32" in text


def test_a_column_reduction_stays_one_thread_per_output():
    """Lanes walking a column would read 32 rows apart: no coalescing, so no warp."""
    [(_, text, _)] = kernel_functions(_row_reduction(64, column=True), SM90)
    assert "aotc_lane" not in text


def test_a_broadcast_operand_stays_scalar_in_a_vectorised_kernel():
    bias = Load("b", Binary("mod", Var("i0"), idx(8)), F32)
    body = For("i0", idx(1024), Store("y", Var("i0"), Binary("add", Load("x", Var("i0"), F32), bias)), LoopKind.PARALLEL)
    kernel = Kernel("k3", (Buffer("x", F32, 1024), Buffer("b", F32, 8), Buffer("y", F32, 1024, writable=True)), (), body)
    [(_, text, _)] = kernel_functions(kernel, SM90)
    assert "const float4 aotc_in_x" in text and "aotc_in_b" not in text and "const int64_t i0 = aotc_vec * 4 + 3;" in text


def test_a_store_elsewhere_than_the_grid_index_is_not_vectorised():
    body = For("i0", idx(512), Store("y", Binary("mul", Var("i0"), idx(2)), Load("x", Var("i0"), F32)), LoopKind.PARALLEL)
    kernel = Kernel("k4", (Buffer("x", F32, 512), Buffer("y", F32, 1024, writable=True)), (), body)
    [(_, text, _)] = kernel_functions(kernel, SM90)
    assert "float4" not in text


def _broadcast_mul(shape: tuple[int, int, int, int], transposed: bool = False) -> Kernel:
    """y[n, c, h, w] = x[n, c, h, w] * s[c] over a 4-loop grid (or, `transposed`, stored
    channels-last: a row-major index of other loops than the grid's)."""
    n, c, h, w = shape
    flat = Binary("add", Binary("add", Binary("add", Binary("mul", Var("i0"), idx(c * h * w)),
                                                     Binary("mul", Var("i1"), idx(h * w))),
                                       Binary("mul", Var("i2"), idx(w))), Var("i3"))
    out = (Binary("add", Binary("add", Binary("add", Binary("mul", Var("i0"), idx(c * h * w)), Binary("mul", Var("i2"), idx(w * c))),
                                Binary("mul", Var("i3"), idx(c))), Var("i1")) if transposed else flat)
    body = Store("y", out, Binary("mul", Load("x", flat, F32), Load("s", Var("i1"), F32)))
    for var, extent in reversed(list(zip(("i0", "i1", "i2", "i3"), shape))):
        body = For(var, idx(extent), body, LoopKind.PARALLEL)
    size = n * c * h * w
    return Kernel("k5", (Buffer("x", F32, size), Buffer("s", F32, c), Buffer("y", F32, size, writable=True)), (), body)


def test_a_broadcast_over_a_4d_grid_vectorises_with_one_index_split_per_vector():
    """The innermost extent is a multiple of 4: a vector never crosses a row."""
    [(_, text, _)] = kernel_functions(_broadcast_mul((2, 3, 5, 8)), SM90)
    assert "const float4 aotc_in_x" in text and "const int64_t i3 = aotc_inner + 2;" not in text
    assert text.count("uint32_t aotc_rest = (uint32_t)(aotc_vec * 4);") == 1 and "% 8u" in text


def test_rows_of_odd_length_split_the_index_per_lane():
    [(_, text, _)] = kernel_functions(_broadcast_mul((2, 3, 7, 7)), SM90)
    assert "const float4 aotc_in_x" in text and "(uint32_t)(aotc_vec * 4 + 3)" in text


def test_a_transposing_store_is_not_vectorised():
    [(_, text, _)] = kernel_functions(_broadcast_mul((2, 3, 5, 8), transposed=True), SM90)
    assert "float4" not in text
