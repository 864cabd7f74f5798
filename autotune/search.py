"""Search over a ConfigSpace with an `evaluate(configs)` function, so it runs without a device.

Design
- A space is a mixed-radix product of knobs (compiler/ir/config.py): index = sum(digit_k * stride_k),
  first knob least significant. The search works on indices and never materialises the space
  (spaces reach ~10^7 configs); a config is built only for what is measured or ranked.
- One loop for every strategy: index 0 (the default config) is measured first unless `measured`
  holds it, so a tuned kernel is never slower than the untuned one; each round a strategy proposes
  up to `batch` unmeasured, distinct indices, they are evaluated together and recorded as Trials.
  Records passed in `measured` (a resumed job) are never re-measured and count toward `trials`.
  Failures (None, or a non-finite time) are data: never best, and the learned model fits them slow.
- "random": uniform sampling without replacement (rejection against the measured set, enumerating
  what is left only once most of a small space is measured).
- "evolutionary": a population of the best measured configs; children by tournament selection,
  then uniform crossover of knob digits or a mutation of one or two digits (half the time a step
  to the neighbouring choice, since choice lists are usually ordered sizes), deduplicated against
  everything measured; a tenth of each batch stays random.
- "model": each round a candidate pool (random indices plus mutations and crossovers of the
  current top-k; the whole rest of the space when it is small) is ranked by the cost model and the
  best `batch` are measured, each slot replaced by a random pool member with probability epsilon.
  The ranking starts from the prior (`cost_model`, e.g. a RooflineModel) or random picks, and
  moves to a BoostedTreesModel refit after every batch once it has a handful of measurements,
  blending the two rankings while the learned model has few points.
Every random choice comes from one numpy Generator seeded by `seed`: same inputs, same trials.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from autotune.cost_model import BoostedTreesModel, CostModel
from compiler.ir.config import ConfigSpace, KernelConfig

Evaluate = Callable[[Sequence[KernelConfig]], Sequence[float | None]]

STRATEGIES = ("random", "evolutionary", "model")


@dataclass(frozen=True)
class Trial:
    index: int                 # index in the ConfigSpace (ConfigSpace.config_at(index))
    config: KernelConfig
    seconds: float | None      # None: the candidate failed


@dataclass(frozen=True)
class SearchResult:
    trials: tuple[Trial, ...]  # in measurement order, including `measured` given on entry

    def best(self) -> Trial | None:
        ok = [t for t in self.trials if t.seconds is not None]
        return min(ok, key=lambda t: t.seconds) if ok else None


class Radix:
    """Index <-> per-knob choice digits of a mixed-radix space."""

    def __init__(self, space: ConfigSpace):
        self.sizes = [len(choices) for _, choices in space.knobs]
        self.strides = []
        stride = 1
        for size in self.sizes:
            self.strides.append(stride)
            stride *= size
        self.total = stride
        self.free = [k for k, size in enumerate(self.sizes) if size > 1]   # knobs a mutation can change

    def digits(self, index: int) -> list[int]:
        out = []
        for size in self.sizes:
            index, digit = divmod(index, size)
            out.append(digit)
        return out

    def index(self, digits: Sequence[int]) -> int:
        return sum(d * s for d, s in zip(digits, self.strides))


class Searcher:
    """What the strategies share: the space, the measured indices and the seeded Generator."""

    def __init__(self, space: ConfigSpace, rng: np.random.Generator):
        self.space = space
        self.radix = Radix(space)
        self.rng = rng
        self.seconds: dict[int, float | None] = {}
        self._configs: dict[int, KernelConfig] = {}

    def config(self, index: int) -> KernelConfig:
        config = self._configs.get(index)
        if config is None:
            config = self._configs[index] = self.space.config_at(index)
        return config

    def unmeasured(self) -> int:
        return self.radix.total - len(self.seconds)

    def ranked(self) -> list[int]:
        """Measured successes, fastest first (ties: lower index)."""
        ok = [(s, i) for i, s in self.seconds.items() if s is not None]
        return [i for _, i in sorted(ok)]

    def random_unmeasured(self, count: int, exclude: set[int] = frozenset()) -> list[int]:
        """Up to `count` distinct random indices outside the measured set and `exclude`."""
        taken = len(self.seconds) + sum(1 for i in exclude if i not in self.seconds)
        left = self.radix.total - taken
        count = min(count, left)
        if count <= 0:
            return []
        if left < 0.25 * self.radix.total or (2 * count > left and self.radix.total <= 2 ** 22):
            # rejection sampling would crawl; only a small space (or a mostly measured one) gets here
            rest = [i for i in range(self.radix.total) if i not in self.seconds and i not in exclude]
            picks = self.rng.choice(len(rest), size=count, replace=False)
            return [rest[p] for p in picks]
        out: dict[int, None] = {}
        while len(out) < count:
            for index in self.draw(2 * (count - len(out)) + 4):
                if index not in self.seconds and index not in exclude and index not in out:
                    out[index] = None
                    if len(out) == count:
                        break
        return list(out)

    def draw(self, count: int) -> list[int]:
        if self.radix.total < 2 ** 62:
            return [int(i) for i in self.rng.integers(0, self.radix.total, size=count)]
        digits = [self.rng.integers(0, size, size=count) for size in self.radix.sizes]
        return [self.radix.index([int(d[j]) for d in digits]) for j in range(count)]

    def mutate(self, index: int) -> int:
        """Change one knob's choice (two, a third of the time): a neighbouring choice or any other."""
        free = self.radix.free
        if not free:
            return index
        digits = self.radix.digits(index)
        changes = 2 if len(free) > 1 and self.rng.random() < 1 / 3 else 1
        for k in self.rng.choice(free, size=changes, replace=False):
            size, digit = self.radix.sizes[k], digits[k]
            if self.rng.random() < 0.5:
                step = 1 if self.rng.random() < 0.5 else -1
                new = digit + step if 0 <= digit + step < size else digit - step
            else:
                new = (digit + 1 + int(self.rng.integers(0, size - 1))) % size
            digits[k] = new
        return self.radix.index(digits)

    def crossover(self, a: int, b: int) -> int:
        da, db = self.radix.digits(a), self.radix.digits(b)
        pick = self.rng.random(len(da)) < 0.5
        return self.radix.index([x if p else y for x, y, p in zip(da, db, pick)])

    def children(self, parents: Sequence[int], count: int, exclude: set[int], attempts: int) -> list[int]:
        """Up to `count` new unmeasured indices bred from `parents` (fastest first)."""
        out: dict[int, None] = {}
        for _ in range(attempts):
            if len(out) >= count:
                break
            a = self.tournament(parents)
            if len(parents) > 1 and self.rng.random() < 0.3:
                child = self.crossover(a, self.tournament(parents))
                if self.rng.random() < 0.5:
                    child = self.mutate(child)
            else:
                child = self.mutate(a)
            if child not in self.seconds and child not in exclude and child not in out:
                out[child] = None
        return list(out)

    def tournament(self, parents: Sequence[int]) -> int:
        i, j = self.rng.integers(0, len(parents), size=2)
        return parents[min(i, j)]


class RandomStrategy:
    def __init__(self, searcher: Searcher, seed: int, cost_model: CostModel | None):
        self.s = searcher

    def start(self) -> None:
        return None

    def propose(self, count: int, exclude: set[int]) -> list[int]:
        return self.s.random_unmeasured(count, exclude)

    def observe(self, trials: Sequence[Trial]) -> None:
        return None


class EvolutionaryStrategy(RandomStrategy):
    POPULATION = 16
    RANDOM_SHARE = 0.1

    def propose(self, count: int, exclude: set[int]) -> list[int]:
        parents = self.s.ranked()[:self.POPULATION]
        if len(parents) < 2:
            return self.s.random_unmeasured(count, exclude)
        explore = int(self.s.rng.binomial(count, self.RANDOM_SHARE))
        picks = self.s.children(parents, count - explore, exclude, attempts=50 * count)
        return picks + self.s.random_unmeasured(count - len(picks), exclude | set(picks))


class ModelStrategy(RandomStrategy):
    POOL_RANDOM = 256       # random candidates per round
    POOL_BRED = 512         # mutations and crossovers of the top-k per round
    TOP_K = 8
    EPSILON = 0.1           # chance a slot goes to a random pool member instead of the model's pick
    LEARNED_AFTER = 8       # measurements before the learned model ranks
    BLEND_UNTIL = 32        # with a prior: rankings blended until this many measurements

    def __init__(self, searcher: Searcher, seed: int, cost_model: CostModel | None):
        super().__init__(searcher, seed, cost_model)
        if isinstance(cost_model, BoostedTreesModel):
            self.learned, self.prior = cost_model, None
        else:
            self.learned, self.prior = BoostedTreesModel(seed=seed, prior=cost_model), cost_model

    def start(self) -> None:
        known = list(self.s.seconds.items())
        if known:
            self.observe([Trial(i, self.s.config(i), s) for i, s in known])

    def observe(self, trials: Sequence[Trial]) -> None:
        configs, seconds = [t.config for t in trials], [t.seconds for t in trials]
        self.learned.update(configs, seconds)
        if self.prior is not None:
            self.prior.update(configs, seconds)

    def pool(self, exclude: set[int]) -> list[int]:
        s = self.s
        if s.unmeasured() <= self.POOL_RANDOM + self.POOL_BRED:
            return s.random_unmeasured(s.unmeasured(), exclude)
        top = s.ranked()[:self.TOP_K]
        bred = s.children(top, self.POOL_BRED, exclude, attempts=2 * self.POOL_BRED) if top else []
        rand = s.random_unmeasured(self.POOL_RANDOM, exclude | set(bred))
        return bred + rand

    def scores(self, configs: list[KernelConfig]) -> np.ndarray | None:
        n = self.learned.observations()
        learned = self.learned.predict(configs) if n >= self.LEARNED_AFTER and self.learned.fitted else None
        prior = self.prior.predict(configs) if self.prior is not None else None
        if learned is None or prior is None:
            return learned if learned is not None else prior
        weight = min(1.0, n / self.BLEND_UNTIL)
        return weight * rank(learned) + (1 - weight) * rank(prior)

    def propose(self, count: int, exclude: set[int]) -> list[int]:
        pool = self.pool(exclude)
        if len(pool) <= count:
            return pool
        scores = self.scores([self.s.config(i) for i in pool])
        if scores is None:
            return [pool[i] for i in self.s.rng.choice(len(pool), size=count, replace=False)]
        order = iter(np.argsort(scores, kind="stable"))
        chosen: dict[int, None] = {}
        while len(chosen) < count:
            if self.s.rng.random() < self.EPSILON:
                pick = int(self.s.rng.integers(0, len(pool)))
                if pick in chosen:
                    continue
            else:
                pick = int(next(order))
                while pick in chosen:
                    pick = int(next(order))
            chosen[pick] = None
        return [pool[i] for i in chosen]


def rank(values: np.ndarray) -> np.ndarray:
    """0 for the smallest value ... len-1 for the largest (stable)."""
    out = np.empty(len(values))
    out[np.argsort(values, kind="stable")] = np.arange(len(values))
    return out


STRATEGY_CLASSES = {"random": RandomStrategy, "evolutionary": EvolutionaryStrategy, "model": ModelStrategy}


def clean_seconds(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


def run_search(strategy: str, space: ConfigSpace, evaluate: Evaluate, trials: int, *, seed: int,
               batch: int = 8, cost_model: CostModel | None = None,
               measured: Mapping[int, float | None] = {},
               on_batch: Callable[[Sequence[Trial]], None] | None = None,
               should_stop: Callable[[], bool] = lambda: False) -> SearchResult:
    """Measure up to `trials` configs of `space` in total (counting `measured`), `batch` at a time."""
    if strategy not in STRATEGY_CLASSES:
        raise ValueError(f"unknown search strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}")
    if batch < 1:
        raise ValueError(f"search batch must be at least 1, got {batch}")
    searcher = Searcher(space, np.random.default_rng(seed))
    history: list[Trial] = []
    for index, seconds in measured.items():
        if not 0 <= index < searcher.radix.total:
            raise ValueError(f"measured index {index} is outside the config space of {searcher.radix.total}")
        searcher.seconds[index] = clean_seconds(seconds)
        history.append(Trial(index, searcher.config(index), searcher.seconds[index]))
    proposer = STRATEGY_CLASSES[strategy](searcher, seed, cost_model)
    proposer.start()
    while len(searcher.seconds) < trials and searcher.unmeasured() > 0 and not should_stop():
        want = min(batch, trials - len(searcher.seconds))
        picks = [] if 0 in searcher.seconds else [0]
        if want > len(picks):
            picks += proposer.propose(want - len(picks), set(picks))
        if not picks:
            break
        configs = [searcher.config(i) for i in picks]
        results = list(evaluate(configs))
        if len(results) != len(picks):
            raise ValueError(f"evaluate returned {len(results)} timings for {len(picks)} configs")
        new = [Trial(i, c, clean_seconds(s)) for i, c, s in zip(picks, configs, results)]
        for trial in new:
            searcher.seconds[trial.index] = trial.seconds
        history.extend(new)
        proposer.observe(new)
        if on_batch is not None:
            on_batch(new)
    return SearchResult(tuple(history))
