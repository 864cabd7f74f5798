"""Search strategies on a synthetic GEMM-like space (no device): the loop's contract for every
strategy, and the cost-model strategy's advantage over random search."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from autotune.search import STRATEGIES, SearchResult, run_search
from compiler.ir.config import ConfigSpace, KernelConfig, Param, Unroll

BLOCKS = [(mr, nr) for mr in (4, 6, 8, 12, 16) for nr in (8, 16, 24, 32)]


def gemm_space() -> ConfigSpace:
    """24,000 configs: register block, MC, KC, NC, split and unroll, default first."""
    return ConfigSpace((
        ("block", tuple(KernelConfig((Param("MR", mr), Param("NR", nr))) for mr, nr in BLOCKS)),
        ("mc", tuple(KernelConfig((Param("MC", v),)) for v in (32, 64, 96, 128, 192, 256))),
        ("kc", tuple(KernelConfig((Param("KC", v),)) for v in (64, 128, 256, 384, 512))),
        ("nc", tuple(KernelConfig((Param("NC", v),)) for v in (256, 512, 1024, 2048, 4096))),
        ("split", (KernelConfig((Param("SPLIT_N", 0),)), KernelConfig((Param("SPLIT_N", 1),)))),
        ("unroll", tuple(KernelConfig((Unroll("k", f),)) if f > 1 else KernelConfig() for f in (1, 2, 4, 8))),
    ))


def gemm_seconds(config: KernelConfig, noise: float = 0.03) -> float | None:
    """A roofline-flavoured cost with interactions, fixed noise per config, and failing regions
    (register blocks that spill, MC not a multiple of MR)."""
    mr, nr, mc = config.param("MR", 0), config.param("NR", 0), config.param("MC", 0)
    kc, nc, split = config.param("KC", 0), config.param("NC", 0), config.param("SPLIT_N", 0)
    unroll = next((r.factor for r in config.records if isinstance(r, Unroll)), 1)
    if mr * nr > 256 or mc % mr:
        return None
    log_t = 0.8 * (math.log(mr * nr) - math.log(192)) ** 2          # register tile efficiency
    log_t += 1.2 * max(0.0, math.log(mc * kc * 4 / 262144))          # A block beyond L2
    log_t += 1.5 * max(0.0, math.log(kc * nr * 4 / 32768))           # B micro-panel beyond L1
    log_t += 0.6 * max(0.0, math.log(nc * kc * 4 / 2 ** 21))          # B block beyond L3 share
    log_t += 0.3 * abs(math.log2(kc / 256)) / 2                       # short K loops pay overhead
    log_t += (-0.15 if nc >= 1024 else 0.2) * split                   # splitting N helps wide blocks
    log_t += 0.05 * abs(math.log2(unroll) - 2) + (0.3 if unroll == 8 and mr >= 12 else 0.0)
    rng = np.random.default_rng(_stable(config))
    return 1e-3 * math.exp(log_t + noise * rng.standard_normal())


def _stable(config: KernelConfig) -> int:
    return int.from_bytes(hashlib.sha256(config.dumps().encode()).digest()[:4], "little")


def evaluate_with(cost, log: list | None = None):
    def evaluate(configs):
        if log is not None:
            log.append(list(configs))
        return [cost(c) for c in configs]
    return evaluate


def small_space(sizes: tuple[int, ...]) -> ConfigSpace:
    return ConfigSpace(tuple((f"k{k}", tuple(KernelConfig((Param(f"P{k}", v),)) for v in range(size)))
                             for k, size in enumerate(sizes)))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_default_first_no_duplicates_budget(strategy):
    space = gemm_space()
    calls: list = []
    result = run_search(strategy, space, evaluate_with(gemm_seconds, calls), 60, seed=1, batch=8)
    assert result.trials[0].index == 0 and result.trials[0].config == space.config_at(0)
    indices = [t.index for t in result.trials]
    assert len(indices) == 60 == len(set(indices))
    assert sum(len(c) for c in calls) == 60 and all(len(c) <= 8 for c in calls)
    assert all(t.config == space.config_at(t.index) for t in result.trials)
    assert all(t.seconds == gemm_seconds(t.config) for t in result.trials)
    best = result.best()
    assert best.seconds == min(t.seconds for t in result.trials if t.seconds is not None)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_deterministic_per_seed(strategy):
    space = gemm_space()
    runs = [run_search(strategy, space, evaluate_with(gemm_seconds), 40, seed=s, batch=5) for s in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert [t.index for t in runs[0].trials] != [t.index for t in runs[2].trials]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_resume_never_remeasures(strategy):
    space = gemm_space()
    first = run_search(strategy, space, evaluate_with(gemm_seconds), 24, seed=0)
    measured = {t.index: t.seconds for t in first.trials[1:]}      # the default not among them
    asked: list = []
    result = run_search(strategy, space, evaluate_with(gemm_seconds, asked), 50, seed=7, measured=measured)
    new = [c for batch in asked for c in batch]
    assert len(result.trials) == 50 and len(new) == 50 - len(measured)
    assert new[0] == space.config_at(0)                               # still measured first
    assert not {space.config_at(i) for i in measured} & set(new)
    assert [t.index for t in result.trials[:len(measured)]] == list(measured)
    assert len({t.index for t in result.trials}) == 50


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_budget_already_spent_measures_nothing(strategy):
    calls: list = []
    result = run_search(strategy, gemm_space(), evaluate_with(gemm_seconds, calls), 3, seed=0,
                        measured={5: 1.0, 6: None, 7: 2.0})
    assert calls == [] and [t.index for t in result.trials] == [5, 6, 7] and result.best().index == 5


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_should_stop_and_on_batch(strategy):
    batches: list = []
    result = run_search(strategy, gemm_space(), evaluate_with(gemm_seconds), 200, seed=2, batch=6,
                        on_batch=batches.append, should_stop=lambda: len(batches) >= 3)
    assert len(batches) == 3 and all(len(b) == 6 for b in batches)
    assert tuple(t for b in batches for t in b) == result.trials


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_small_space_is_exhausted_exactly(strategy):
    space = small_space((3, 2, 2))
    result = run_search(strategy, space, evaluate_with(lambda c: 1.0 + c.param("P0", 0)), 100, seed=0, batch=5)
    assert sorted(t.index for t in result.trials) == list(range(12))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_huge_space_is_never_materialised(strategy):
    space = small_space((10,) * 20)                                    # 10^20 configs
    cost = evaluate_with(lambda c: sum((c.param(f"P{k}", 0) - 3) ** 2 for k in range(20)) + 1.0)
    result = run_search(strategy, space, cost, 40, seed=0)
    assert len({t.index for t in result.trials}) == 40 and result.trials[0].index == 0
    assert max(t.index for t in result.trials) > 2 ** 63


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_failures_are_data(strategy):
    space = gemm_space()
    only_default = run_search(strategy, space, evaluate_with(lambda c: 1.0 if c == space.config_at(0) else None),
                              30, seed=0)
    assert only_default.best().index == 0 and len(only_default.trials) == 30
    nothing = run_search(strategy, space, evaluate_with(lambda c: None), 20, seed=0)
    assert nothing.best() is None and len(nothing.trials) == 20
    odd = run_search(strategy, space, evaluate_with(lambda c: float("nan")), 5, seed=0)
    assert all(t.seconds is None for t in odd.trials)


def test_bad_arguments():
    space = gemm_space()
    with pytest.raises(ValueError, match="unknown search strategy 'beam'"):
        run_search("beam", space, evaluate_with(gemm_seconds), 10, seed=0)
    with pytest.raises(ValueError, match="2 timings for 8 configs"):
        run_search("random", space, lambda configs: [1.0, 2.0], 10, seed=0)
    with pytest.raises(ValueError, match="outside the config space"):
        run_search("random", space, evaluate_with(gemm_seconds), 10, seed=0, measured={10 ** 9: 1.0})
    assert SearchResult(()).best() is None
