"""The memory planner: no two simultaneously live tensors overlap, every tensor lies inside its
region, and the arena is never below the lower bound (property tests, no deadline)."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from passes.plan_memory import align, greedy_by_size, lower_bound


@st.composite
def lifetimes(draw):
    count = draw(st.integers(1, 40))
    items = {}
    for k in range(count):
        first = draw(st.integers(0, 30))
        last = draw(st.integers(first, first + draw(st.integers(0, 12))))
        items[f"t{k}"] = (first, last, draw(st.integers(1, 5000)))
    return items


@settings(deadline=None, max_examples=200)
@given(lifetimes(), st.sampled_from([1, 16, 64, 256]))
def test_greedy_plan_is_valid(items, alignment):
    offsets, total = greedy_by_size(items, alignment)
    assert set(offsets) == set(items)
    for name, (first, last, size) in items.items():
        assert offsets[name] % alignment == 0
        assert 0 <= offsets[name] and offsets[name] + size <= total
    names = sorted(items)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            fa, la, sa = items[a]
            fb, lb, sb = items[b]
            if fa <= lb and fb <= la:  # both live at some step
                assert offsets[a] + sa <= offsets[b] or offsets[b] + sb <= offsets[a], (a, b)
    assert total >= lower_bound(items)


def test_lower_bound_and_reuse_on_a_chain():
    # t0 -> t1 -> t2: t0 is dead when t2 is written, so t2 reuses t0's bytes.
    items = {"t0": (0, 1, 1000), "t1": (1, 2, 1000), "t2": (2, 3, 1000)}
    offsets, total = greedy_by_size(items, 64)
    assert lower_bound(items) == 2000
    assert total == 2 * align(1000, 64)
    assert offsets["t2"] == offsets["t0"]


@settings(deadline=None, max_examples=25)
@given(lifetimes())
def test_cpsat_plan_is_valid_no_worse_than_greedy_and_deterministic(items):
    from passes.plan_memory_cpsat import solve_offsets
    greedy, greedy_total = greedy_by_size(items, 64)
    aligned = {n: (f, l, align(s, 64)) for n, (f, l, s) in items.items()}
    bound = lower_bound(aligned)
    result = solve_offsets(items, 64, greedy, greedy_total, bound, deterministic_time=0.5)
    again = solve_offsets(items, 64, greedy, greedy_total, bound, deterministic_time=0.5)
    assert result.offsets == again.offsets and result.total == again.total
    assert bound <= result.total <= greedy_total
    names = sorted(items)
    for name in names:
        assert result.offsets[name] % 64 == 0 and result.offsets[name] + items[name][2] <= result.total
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            fa, la, sa = items[a]
            fb, lb, sb = items[b]
            if fa <= lb and fb <= la:
                assert result.offsets[a] + sa <= result.offsets[b] or result.offsets[b] + sb <= result.offsets[a]


def test_cpsat_beats_greedy_where_greedy_fragments():
    # Largest-first leaves a hole here that the later tensors cannot fill; CP-SAT closes it.
    from passes.plan_memory_cpsat import solve_offsets
    items = {"t0": (0, 2, 320), "t1": (4, 6, 192), "t2": (3, 5, 64), "t3": (1, 3, 128), "t4": (4, 6, 128)}
    greedy, greedy_total = greedy_by_size(items, 64)
    bound = lower_bound(items)
    assert (greedy_total, bound) == (512, 448)
    result = solve_offsets(items, 64, greedy, greedy_total, bound)
    assert result.total == bound and result.status == "optimal"


def _exp_minus_max():
    """e = Exp(x); s = ReduceMax(e); p = Sub(e, s); y = MatMul(p, w): p may take e's bytes (e's
    last reader is the Sub, which reads it element for element)."""
    import numpy as np
    from compiler.ir.dtypes import DType
    from compiler.ir.graph import Graph, Node, Value
    from compiler.ir.ops import NoAttrs
    from compiler.ir.ops.reduce import ReduceAttrs
    from compiler.ir.types import TensorType
    f32 = DType.float32
    big, col = TensorType((64, 32), f32), TensorType((64, 1), f32)
    nodes = (
        Node("Exp", "e", ("x",), (Value("e", big),), NoAttrs()),
        Node("ReduceMax", "s", ("e",), (Value("s", col),), ReduceAttrs((1,), True)),
        Node("Sub", "p", ("e", "s"), (Value("p", big),), NoAttrs()),
        Node("MatMul", "y", ("p", "w"), (Value("y", TensorType((64, 16), f32)),), NoAttrs()),
    )
    w = np.random.default_rng(1).standard_normal((32, 16)).astype(np.float32)
    return Graph("exp_minus_max", (Value("x", big),), ("y",), nodes, {"w": w})


def test_an_elementwise_output_takes_its_dying_inputs_bytes():
    from passes.lower import lower_graph
    from passes.plan_memory import plan_memory
    program = lower_graph(_exp_minus_max())
    plan = plan_memory(program, 64, "greedy")
    assert dict(plan.in_place) == {"p": "e"}
    assert plan.placements["p"].offset == plan.placements["e"].offset
    # e and s live together, then p over e: the arena is e + s, not e + s + p.
    assert plan.region_sizes[()] == 64 * 32 * 4 + align(64 * 4, 64)


def test_in_place_program_computes_the_same_values():
    """Through generated C: the Sub's output overwrites its input (the kernel's parameters are
    not restrict there), and the result still matches the interpreter."""
    import numpy as np
    import compiler
    from compiler.ir.interpreter import interpret
    graph = _exp_minus_max()
    artifact = compiler.compile(graph)
    assert artifact.manifest["plan"]["memory"]["in_place"] == {"p": "e"}
    source = (artifact.directory / "kernels" / "model.c").read_text()
    assert any("* out0" in line and "restrict out0" not in line for line in source.splitlines())
    x = np.random.default_rng(2).standard_normal((64, 32)).astype(np.float32)
    expected = interpret(graph, {"x": x})["y"]
    actual = artifact(x=x)
    assert float(np.linalg.norm(actual - expected) / np.linalg.norm(expected)) <= 1e-6
