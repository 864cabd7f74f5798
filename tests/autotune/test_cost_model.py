"""Cost models: generic features, the roofline prior, and the numpy boosted trees."""
from __future__ import annotations

import numpy as np
import pytest

from autotune.cost_model import (MISSING, BoostedTreesModel, RooflineModel, config_features, feature_dict,
                                 fit_trees)
from compiler.ir.config import (Bind, KernelConfig, Parallel, Param, Reorder, ReuseFactor, Split, Stage, Unroll,
                                Vectorize)
from search_efficiency import synthetic_gemm_seconds as gemm_seconds
from search_efficiency import synthetic_gemm_space as gemm_space


def r_squared(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(1 - ((actual - predicted) ** 2).sum() / ((actual - actual.mean()) ** 2).sum())


def test_features_name_every_numeric_field():
    config = KernelConfig((Param("MR", 8), Split("i", 4), Split("i", 2), Vectorize("j", 0), Unroll("k", 4),
                           Reorder(("j", "i")), Bind("i", "block"), Stage("a", "shared"), Parallel("i"),
                           ReuseFactor(3)))
    assert feature_dict(config) == {
        "Param:MR": 8.0, "Split:i": 4.0, "Split:i#2": 2.0, "Vectorize:j": 0.0, "Unroll:k": 4.0,
        "Reorder:j": 0.0, "Reorder:i": 1.0, "Bind:i:block": 1.0, "Stage:a:shared": 1.0, "Parallel:i": 1.0,
        "ReuseFactor": 3.0}
    names = ["Unroll:k", "Param:NR", "Param:MR"]
    assert config_features(config, names).tolist() == [4.0, MISSING, 8.0]
    assert config_features(KernelConfig((Param("B", 2), Param("A", 1)))).tolist() == [1.0, 2.0]


def test_roofline_ranks_by_the_estimate_and_missing_last():
    configs = [KernelConfig((Param("T", t),)) for t in (3, 1, 0, 2)]
    model = RooflineModel(lambda c: None if c.param("T", 0) == 0 else 1e-3 * c.param("T", 0))
    assert np.argsort(model.predict(configs)).tolist() == [1, 3, 0, 2]
    model.update(configs, [1.0, None, 2.0, 3.0])                 # a prior learns nothing
    assert np.argsort(model.predict(configs)).tolist() == [1, 3, 0, 2]


def test_trees_fit_a_known_function():
    rng = np.random.default_rng(0)

    def f(x):
        return 0.1 * (x[:, 0] - 5) ** 2 + 0.3 * x[:, 1] + 0.5 * (x[:, 2] > 5) * (x[:, 3] > 3)
    train, test = rng.integers(0, 10, (300, 5)).astype(float), rng.integers(0, 10, (1000, 5)).astype(float)
    ensemble = fit_trees(train, f(train), np.random.default_rng(1), trees=100, depth=4, learning_rate=0.15,
                         min_leaf=1, l2=1.0, subsample=0.8, bins=32)
    assert r_squared(f(test), ensemble.predict(test)) > 0.95
    constant = fit_trees(np.ones((5, 2)), np.arange(5.0), np.random.default_rng(0), trees=10, depth=3,
                         learning_rate=0.1, min_leaf=1, l2=1.0, subsample=1.0, bins=8)
    assert np.allclose(constant.predict(np.zeros((3, 2))), 2.0)  # nothing to split on: the mean


def gemm_sample(count: int, seed: int):
    space = gemm_space()
    indices = np.random.default_rng(seed).choice(space.size(), size=count, replace=False)
    configs = [space.config_at(int(i)) for i in indices]
    return configs, [gemm_seconds(c) for c in configs]


def test_boosted_trees_learn_the_gemm_space_and_its_failures():
    configs, seconds = gemm_sample(2300, 0)
    model = BoostedTreesModel(seed=0)
    model.update(configs[:150], seconds[:150])
    model.update(configs[150:300], seconds[150:300])
    held, truth = configs[300:], seconds[300:]
    predicted = np.log(model.predict(held))
    ok = np.array([s is not None for s in truth])
    actual = np.log([s for s in truth if s is not None])
    # successes are ranked well; failures are predicted slower than nearly all successes
    assert np.corrcoef(np.argsort(np.argsort(actual)), np.argsort(np.argsort(predicted[ok])))[0, 1] > 0.8
    assert np.mean(predicted[~ok] > np.quantile(predicted[ok], 0.9)) > 0.8
    top = np.argsort(predicted)[:20]                                      # the model's top picks are
    assert all(truth[i] is not None for i in top)                        # real and fast
    assert np.median([np.log(truth[i]) for i in top]) < np.quantile(actual, 0.1)


def test_boosted_trees_are_deterministic_and_refit_online():
    configs, seconds = gemm_sample(400, 1)
    a, b = BoostedTreesModel(seed=5), BoostedTreesModel(seed=5)
    for model in (a, b):
        model.update(configs[:100], seconds[:100])
    assert np.array_equal(a.predict(configs[100:]), b.predict(configs[100:]))
    before = a.predict(configs[100:])
    a.update(configs[100:200], seconds[100:200])
    assert a.observations() == 200 and not np.array_equal(before, a.predict(configs[100:]))


def test_boosted_trees_before_data_and_with_only_failures():
    configs, _ = gemm_sample(10, 2)
    prior = RooflineModel(lambda c: gemm_seconds(c, noise=0.0))
    assert np.allclose(BoostedTreesModel(prior=prior).predict(configs), prior.predict(configs))
    blind = BoostedTreesModel()
    blind.update(configs, [None] * len(configs))
    assert not blind.fitted and np.all(blind.predict(configs) == 1.0)
    with pytest.raises(ValueError, match="3 configs but 2 timings"):
        blind.update(configs[:3], [1.0, 2.0])


def test_prior_is_a_feature():
    """With an exact analytic estimate, few measurements are enough to rank well."""
    configs, seconds = gemm_sample(1040, 3)
    prior = RooflineModel(lambda c: gemm_seconds(c, noise=0.0))
    with_prior, without = BoostedTreesModel(seed=0, prior=prior), BoostedTreesModel(seed=0)
    for model in (with_prior, without):
        model.update(configs[:40], seconds[:40])
    ok = [i for i in range(40, 1040) if seconds[i] is not None]
    actual = np.log([seconds[i] for i in ok])
    held = [configs[i] for i in ok]
    assert r_squared(actual, np.log(with_prior.predict(held))) > 0.9
    assert r_squared(actual, np.log(with_prior.predict(held))) > r_squared(actual, np.log(without.predict(held)))
