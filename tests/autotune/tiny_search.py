"""A tiny stand-in for autotune.search.run_search (same signature and guarantees) so the job
tests do not depend on the search's strategies: the default first, then random indices."""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Trial:
    index: int
    config: object
    seconds: float | None


def tiny_search(strategy, space, evaluate, trials, *, seed, batch=8, cost_model=None, measured={},
                on_batch=None, should_stop=lambda: False):
    rng = random.Random(seed)
    done = dict(measured)
    order = [0] + rng.sample(range(1, space.size()), min(space.size() - 1, trials + len(done)))
    pending = [i for i in order if i not in done]
    out = []
    while len(done) < min(trials, space.size()) and pending and not should_stop():
        chunk = pending[:min(batch, trials - len(done))]
        pending = pending[len(chunk):]
        configs = [space.config_at(i) for i in chunk]
        new = [Trial(i, c, s) for i, c, s in zip(chunk, configs, evaluate(configs))]
        done.update((t.index, t.seconds) for t in new)
        out += new
        if on_batch:
            on_batch(new)
    return out
