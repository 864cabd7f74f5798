"""Picking a contraction's variant per adapter, as runtime.js does in a browser (keep the two
telling the same story).

A dispatch of a contraction lists its variants (plan.py): config name, the limits it needs,
shader, workgroup counts. Dispatches whose variant lists are the same shaders form one group
(one kernel, called once or more) and run the same pick. The pick, per group:
1. by limits: drop variants needing more invocations per workgroup or workgroup storage than
   the device grants (the artifact's own target limits never exceed the spec defaults, so
   this bites only when a tuning record chose past them);
2. then by policy: "measure" times each remaining variant on the group's first dispatch (a few
   dispatches each, device time to completion) and keeps the fastest; "limits" keeps the
   first remaining one on a GPU, the last (the smallest tile) on a software adapter; an int
   forces that variant slot (tests, benchmarks), clamped to the remaining ones.
The default is "measure" on a GPU and "limits" on a software adapter (lavapipe, SwiftShader:
measuring there costs seconds and the small tile is the right one anyway).
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

# The plan's limit names -> wgpu-py's device.limits keys (runtime.js: the camelCase spec names).
LIMIT_NAMES = {"invocations_per_workgroup": "max-compute-invocations-per-workgroup",
               "workgroup_storage": "max-compute-workgroup-storage-size"}


def variant_groups(dispatches: Sequence[Mapping]) -> dict[tuple[str, ...], list[int]]:
    """Dispatch indices by their variant shaders (dispatches without variants are in none)."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for k, dispatch in enumerate(dispatches):
        if dispatch.get("variants"):
            groups.setdefault(tuple(v["shader"] for v in dispatch["variants"]), []).append(k)
    return groups


def eligible(variants: Sequence[Mapping], limits: Mapping[str, int]) -> list[int]:
    """Slots of the variants within the device's limits (the first one whatever: it fits the
    target's limits, which the device was asked for)."""
    fits = [i for i, v in enumerate(variants)
            if all(need <= limits.get(name, need) for name, need in v["needs"].items())]
    return fits or [0]


def default_policy(software: bool) -> str:
    return "limits" if software else "measure"


def choose(dispatches: Sequence[Mapping], limits: Mapping[str, int], software: bool, policy: "str | int",
           measure: Callable[[int, int], float]) -> dict[tuple[str, ...], int]:
    """The chosen variant slot per group. `measure(dispatch index, slot)` returns seconds."""
    choice = {}
    for key, members in variant_groups(dispatches).items():
        variants = dispatches[members[0]]["variants"]
        slots = eligible(variants, limits)
        if isinstance(policy, int):
            choice[key] = slots[min(max(policy, 0), len(slots) - 1)]
        elif policy == "measure" and len(slots) > 1:
            times = {slot: measure(members[0], slot) for slot in slots}
            choice[key] = min(slots, key=lambda slot: (times[slot], slot))
        elif policy in ("measure", "limits"):
            choice[key] = slots[-1] if software else slots[0]
        else:
            raise ValueError(f"unknown variant policy {policy!r} (measure, limits or a slot number)")
    return choice


def resolve(dispatch: Mapping, choice: Mapping[tuple[str, ...], int]) -> Mapping:
    """What to run for one dispatch: its chosen variant (shader, workgroups), else itself."""
    if not dispatch.get("variants"):
        return dispatch
    variants = dispatch["variants"]
    return variants[choice.get(tuple(v["shader"] for v in variants), 0)]


__all__ = ["LIMIT_NAMES", "choose", "default_policy", "eligible", "resolve", "variant_groups"]
