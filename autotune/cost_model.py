"""Cost models: they rank candidate configs before anything is measured.

Design
- Features (`config_features`) are generic: every numeric field of every record, named by the
  record's kind and its string fields ("Param:MR", "Split:i", "Vectorize:j", "Bind:i:thread",
  "Reorder:k" = the loop's position). Names rather than positions, so the configs of one space line
  up even when a knob's choices have different records; a feature a config lacks reads -1.
- `RooflineModel` wraps a backend's analytic estimate (`estimate_seconds`); it never learns and
  ranks a config without an estimate last.
- `BoostedTreesModel`: gradient-boosted regression trees in numpy, fit on log(seconds) with squared
  loss. Trees are grown level by level over histograms of each feature's distinct values (at most
  `bins` per feature), so one `np.bincount` scores every split of every node of a level; ~100 trees
  refit in tens of milliseconds for a few hundred points, cheap enough to refit after every batch.
  Row subsampling is seeded, so a model is a pure function of (seed, data). Failures (None) are
  data: a second ensemble fits the failure indicator (a probability), and the prediction adds
  p(fail) * (log range of the successes + log 4), so a sure failure ranks 4x slower than the
  slowest success and the search steers away from failing regions without the time regression
  being bent by made-up timings. With a prior (e.g. a RooflineModel) its log estimate is one more feature, and before
  the model has any data it ranks by the prior.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable, Protocol, Sequence

import numpy as np

from compiler.ir.config import KernelConfig, Record

MISSING = -1.0             # the value of a feature a config lacks
FAILURE_PENALTY = math.log(4.0)   # a sure failure ranks 4x slower than the slowest success
PRIOR_FEATURE = "prior:log_seconds"


class CostModel(Protocol):
    def predict(self, configs: Sequence[KernelConfig]) -> np.ndarray: ...
    def update(self, configs: Sequence[KernelConfig], seconds: Sequence[float | None]) -> None: ...


def record_features(record: Record) -> list[tuple[str, float]]:
    """(name, value) for one record: its int fields as values, its string fields in the name,
    a tuple of loop names as each loop's position, and 1.0 for a record that has no number."""
    kind = type(record).__name__
    strings, numbers, sequences = [], [], []
    for field in fields(record):
        value = getattr(record, field.name)
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers.append((field.name, float(value)))
        elif isinstance(value, tuple):
            sequences.append(value)
    prefix = ":".join([kind, *strings])
    out = [(f"{prefix}:{item}", float(pos)) for seq in sequences for pos, item in enumerate(seq)]
    if len(numbers) == 1:
        out.append((prefix, numbers[0][1]))
    else:
        out.extend((f"{prefix}.{name}", value) for name, value in numbers)
    if not out:
        out.append((prefix, 1.0))
    return out


def feature_dict(config: KernelConfig, cache: dict | None = None) -> dict[str, float]:
    """Every record's features by name; a repeated name gets a '#2', '#3'... suffix."""
    out: dict[str, float] = {}
    for record in config.records:
        if cache is None:
            pairs = record_features(record)
        else:
            pairs = cache.get(record)
            if pairs is None:
                pairs = cache[record] = record_features(record)
        for name, value in pairs:
            key, n = name, 2
            while key in out:
                key, n = f"{name}#{n}", n + 1
            out[key] = value
    return out


def config_features(config: KernelConfig, names: Sequence[str] | None = None) -> np.ndarray:
    """The config's numeric features as a vector: in `names` order when given (absent ones read
    MISSING), else in sorted name order."""
    values = feature_dict(config)
    order = sorted(values) if names is None else names
    return np.array([values.get(name, MISSING) for name in order], dtype=np.float64)


class RooflineModel:
    """The backend's analytic estimate as a cost model (a prior: `update` learns nothing)."""

    def __init__(self, estimate: Callable[[KernelConfig], float | None]):
        self.estimate = estimate

    def predict(self, configs: Sequence[KernelConfig]) -> np.ndarray:
        values = [self.estimate(c) for c in configs]
        return np.array([v if v is not None and math.isfinite(v) and v > 0 else np.inf for v in values],
                        dtype=np.float64)

    def update(self, configs: Sequence[KernelConfig], seconds: Sequence[float | None]) -> None:
        return None


@dataclass(frozen=True)
class TreeEnsemble:
    """Complete binary trees of one depth in heap order: node i's children are 2i+1 and 2i+2;
    a sample goes right when x[feature] > threshold (an unsplit node has threshold +inf)."""
    base: float
    feature: np.ndarray     # [trees, 2^depth - 1] int
    threshold: np.ndarray   # [trees, 2^depth - 1] float
    leaf: np.ndarray        # [trees, 2^depth] float, learning rate applied
    depth: int

    def predict(self, x: np.ndarray) -> np.ndarray:
        trees = self.feature.shape[0]
        if trees == 0 or len(x) == 0:
            return np.full(len(x), self.base)
        rows = np.arange(len(x))[None, :]
        tree = np.arange(trees)[:, None]
        node = np.zeros((trees, len(x)), dtype=np.int64)
        for _ in range(self.depth):
            feat = self.feature[tree, node]
            right = x[rows, feat] > self.threshold[tree, node]
            node = 2 * node + 1 + right
        leaves = node - (2 ** self.depth - 1)
        return self.base + self.leaf[tree, leaves].sum(axis=0)


def split_thresholds(column: np.ndarray, bins: int) -> np.ndarray:
    """Candidate thresholds: midpoints between consecutive distinct values (quantiles when many)."""
    distinct = np.unique(column)
    if len(distinct) > bins:
        distinct = np.unique(np.quantile(distinct, np.linspace(0.0, 1.0, bins)))
    return (distinct[:-1] + distinct[1:]) / 2.0


def fit_trees(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, trees: int, depth: int,
              learning_rate: float, min_leaf: int, l2: float, subsample: float, bins: int) -> TreeEnsemble:
    """Least-squares gradient boosting, level-wise histogram splits."""
    n, nfeat = x.shape
    cuts = [split_thresholds(x[:, f], bins) for f in range(nfeat)]
    width = max([len(c) for c in cuts] + [0]) + 1        # bins per feature, padded
    if width == 1:                                       # nothing to split on: the mean
        trees = 0
    table = np.full((nfeat, width), np.inf)              # table[f, b]: the threshold after bin b
    binned = np.zeros((n, nfeat), dtype=np.int64)
    for f, c in enumerate(cuts):
        table[f, :len(c)] = c
        binned[:, f] = np.searchsorted(c, x[:, f], side="left")
    inner, leaves = 2 ** depth - 1, 2 ** depth
    features = np.zeros((trees, inner), dtype=np.int64)
    thresholds = np.full((trees, inner), np.inf)
    leaf_values = np.zeros((trees, leaves))
    base = float(y.mean()) if n else 0.0
    pred = np.full(n, base)
    feat_offsets = np.arange(nfeat) * width
    for t in range(trees):
        rows = np.flatnonzero(rng.random(n) < subsample) if subsample < 1.0 else np.arange(n)
        if len(rows) < 2 * min_leaf:
            rows = np.arange(n)
        residual = y[rows] - pred[rows]
        node = np.zeros(len(rows), dtype=np.int64)
        sub_bins = binned[rows]
        for d in range(depth):
            count = 2 ** d
            key = (node[:, None] * (nfeat * width) + feat_offsets[None, :] + sub_bins).ravel()
            size = count * nfeat * width
            sums = np.bincount(key, weights=np.repeat(residual, nfeat), minlength=size)
            cnts = np.bincount(key, minlength=size).astype(np.float64)
            cum_s = np.cumsum(sums.reshape(count, nfeat, width), axis=2)
            cum_n = np.cumsum(cnts.reshape(count, nfeat, width), axis=2)
            tot_s, tot_n = cum_s[:, :1, -1:], cum_n[:, :1, -1:]
            left_s, left_n = cum_s[:, :, :-1], cum_n[:, :, :-1]
            right_s, right_n = tot_s - left_s, tot_n - left_n
            gain = left_s ** 2 / (left_n + l2) + right_s ** 2 / (right_n + l2) - tot_s ** 2 / (tot_n + l2)
            valid = (left_n >= min_leaf) & (right_n >= min_leaf) & np.isfinite(table[None, :, :-1])
            gain = np.where(valid, gain, -np.inf).reshape(count, -1)
            best = np.argmax(gain, axis=1) if gain.shape[1] else np.zeros(count, dtype=np.int64)
            best_gain = gain[np.arange(count), best] if gain.shape[1] else np.full(count, -np.inf)
            split = best_gain > 1e-12
            best_f, best_b = np.divmod(best, max(width - 1, 1))
            heap = np.arange(count) + count - 1
            features[t, heap] = np.where(split, best_f, 0)
            thresholds[t, heap] = np.where(split, table[best_f, best_b], np.inf)
            goes_right = split[node] & (sub_bins[np.arange(len(rows)), best_f[node]] > best_b[node])
            node = 2 * node + goes_right
        leaf_sum = np.bincount(node, weights=residual, minlength=leaves)
        leaf_cnt = np.bincount(node, minlength=leaves)
        leaf_values[t] = learning_rate * leaf_sum / (leaf_cnt + l2)
        one = TreeEnsemble(0.0, features[t:t + 1], thresholds[t:t + 1], leaf_values[t:t + 1], depth)
        pred += one.predict(x)
    return TreeEnsemble(base, features, thresholds, leaf_values, depth)


class BoostedTreesModel:
    """Gradient-boosted trees on log(seconds), refit on all data after every `update`."""

    def __init__(self, *, seed: int = 0, prior: CostModel | None = None, trees: int = 100, depth: int = 4,
                 learning_rate: float = 0.15, min_leaf: int = 1, l2: float = 1.0, subsample: float = 0.8,
                 bins: int = 32, min_fit: int = 4):
        self.seed = seed
        self.prior = prior
        self.params = dict(trees=trees, depth=depth, learning_rate=learning_rate, min_leaf=min_leaf, l2=l2,
                           subsample=subsample, bins=bins)
        self.min_fit = min_fit
        self._names: dict[str, int] = {}
        self._rows: list[dict[str, float]] = []
        self._seconds: list[float | None] = []
        self._record_cache: dict = {}
        self._ensemble: TreeEnsemble | None = None     # log(seconds) of the successes
        self._failure: TreeEnsemble | None = None      # failure indicator (a probability)
        self._span = 0.0                               # log range of the successes

    @property
    def fitted(self) -> bool:
        return self._ensemble is not None

    def observations(self) -> int:
        return len(self._seconds)

    def _features(self, configs: Sequence[KernelConfig]) -> list[dict[str, float]]:
        rows = [feature_dict(c, self._record_cache) for c in configs]
        if self.prior is not None:
            for row, estimate in zip(rows, self.prior.predict(configs)):
                row[PRIOR_FEATURE] = math.log(estimate) if 0 < estimate < np.inf else 1e3
        return rows

    def _matrix(self, rows: list[dict[str, float]]) -> np.ndarray:
        x = np.full((len(rows), len(self._names)), MISSING)
        for i, row in enumerate(rows):
            for name, value in row.items():
                column = self._names.get(name)
                if column is not None:
                    x[i, column] = value
        return x

    def update(self, configs: Sequence[KernelConfig], seconds: Sequence[float | None]) -> None:
        if len(configs) != len(seconds):
            raise ValueError(f"cost model update: {len(configs)} configs but {len(seconds)} timings")
        rows = self._features(configs)
        for row in rows:
            for name in sorted(row):
                self._names.setdefault(name, len(self._names))
        self._rows.extend(rows)
        self._seconds.extend(s if s is not None and math.isfinite(s) and s > 0 else None for s in seconds)
        self.refit()

    def refit(self) -> None:
        """The time regressor on the successes; the failure classifier once both kinds exist."""
        ok = np.array([s is not None for s in self._seconds])
        if ok.sum() < self.min_fit:
            return
        x = self._matrix(self._rows)
        y = np.log([s for s in self._seconds if s is not None])
        rng = np.random.default_rng([self.seed, len(self._seconds)])
        self._ensemble = fit_trees(x[ok], y, rng, **self.params)
        self._span = float(y.max() - y.min())
        if not ok.all():
            self._failure = fit_trees(x, (~ok).astype(np.float64), rng, **self.params)

    def predict(self, configs: Sequence[KernelConfig]) -> np.ndarray:
        """Estimated seconds; a likely failure is pushed past the slowest success."""
        if self._ensemble is None:
            if self.prior is not None:
                return np.asarray(self.prior.predict(configs), dtype=np.float64)
            return np.ones(len(configs))
        x = self._matrix(self._features(configs))
        log_seconds = self._ensemble.predict(x)
        if self._failure is not None:
            fail = np.clip(self._failure.predict(x), 0.0, 1.0)
            log_seconds = log_seconds + fail * (self._span + FAILURE_PENALTY)
        return np.exp(log_seconds)
