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
