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
extern "C" __global__ void __launch_bounds__(256) aotc_0292a4ad25247cfa(const float* __restrict__ x, float* __restrict__ y) {
    const int64_t aotc_total = (1024);
    for (int64_t aotc_flat = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; aotc_flat < aotc_total; aotc_flat += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i0 = aotc_flat;
        y[i0] = expf(x[i0]);
    }
}
"""

ROW_SUM = """\
/* ReduceSum */
extern "C" __global__ void __launch_bounds__(256) aotc_490bed7b3f3bb2e5(const float* __restrict__ x, float* __restrict__ y, int64_t rows) {
    const int64_t aotc_total = (rows);
    for (int64_t aotc_flat = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; aotc_flat < aotc_total; aotc_flat += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = aotc_flat;
        float acc = 0.0f;
        for (int64_t c = 0; c < 100; ++c) {
            acc = (acc + x[((r * 100) + c)]);
        }
        y[r] = acc;
    }
}
"""


def test_elementwise_kernel_golden():
    [(name, text, launch)] = kernel_functions(elementwise(), SM90)
    assert text == ELEMENTWISE
    assert launch.function == name and launch.block == 256


def test_reduction_kernel_golden():
    """The reduced axis stays a serial loop per thread; the rows are the grid."""
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
