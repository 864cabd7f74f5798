"""The dispatch plan (kernels/dispatches.json) and the shaders: everything both runtimes
(runtime.py through wgpu, runtime.js in a browser) need, as data, so they stay small and agree.

Memory is a few pools, so the per-stage binding limits hold for any model:
- weight pools: weights.bin cut at tensor boundaries into pieces of at most the target's
  binding size (128 MiB), each its own read-only buffer;
- the arena: one read-write buffer laid out at run time as [inputs | outputs | memory-plan
  regions | split-K scratch], each item starting on the 256-byte offset alignment; its size
  scales with the symbolic dimensions (a batch), so the runtimes compute bases from the items'
  byte counts. A split-K contraction's scratch (gemm_split.py) is an item of its own per call.
A dispatch binds its uniforms (slot of one uniform buffer, 256-byte aligned) and the pools its
shader reads; each kernel parameter becomes a word offset in the uniforms, so one shader serves
every call of a kernel whose tensors live in the same pools.

A contraction's dispatch also lists its variants (config name, the limits it needs, shader,
workgroup counts), the first being the dispatch's own shader: the runtimes pick one per
adapter (variants.py, runtime.js) and run it in the dispatch's place.

Expressions (workgroup counts) are JSON: an int, a symbol name, or [op, a, b].
"""
from __future__ import annotations

import hashlib
import json

from compiler.errors import UnsupportedError
from compiler.ir.config import KernelConfig
from compiler.ir.loops import Binary, Const, Expr, Var
from compiler.ir.types import Sym, TensorType
from compiler.target import Target
from backends.base import LoweredModel
from backends.webgpu.shaders import kernel_shaders, pool_order

PLAN_NAME = "dispatches.json"
SHADER_DIR = "kernels"
UNIFORM_SLOT = 256   # minUniformBufferOffsetAlignment


def expr_json(e: Expr):
    if isinstance(e, Const):
        return int(e.value)
    if isinstance(e, Var):
        return e.name
    if isinstance(e, Binary) and e.op in ("add", "sub", "mul", "div", "min", "max", "mod"):
        return [e.op, expr_json(e.a), expr_json(e.b)]
    raise UnsupportedError(f"webgpu: workgroup count {e!r} is not host-computable")


def _monomial(ttype: TensorType) -> tuple[int, list[str]]:
    """Bytes of a tensor as (constant, symbols multiplying it)."""
    size, per = ttype.dtype.itemsize, []
    for d in ttype.shape:
        if isinstance(d, Sym):
            per.append(d.name)
        else:
            size *= int(d)
    return size, per


def weight_pools(model: LoweredModel, target: Target) -> tuple[list[dict], dict[str, dict]]:
    """Pools as {offset, bytes} slices of weights.bin, and each constant's location."""
    limit = target.limit("binding_bytes")
    pools: list[dict] = []
    where: dict[str, dict] = {}
    for name, offset in sorted(model.weights.offsets.items(), key=lambda item: item[1]):
        size = model.weights.sizes[name]
        if size > limit:
            raise UnsupportedError(f"constant '{name}' is {size:,} bytes, over target webgpu's {limit:,}-byte "
                                   f"storage binding limit")
        if not pools or offset + size - pools[-1]["offset"] > limit:
            pools.append({"offset": offset, "bytes": 0})
        pool = pools[-1]
        pool["bytes"] = max(pool["bytes"], offset + size - pool["offset"])
        where[name] = {"pool": f"w{len(pools) - 1}", "offset": offset - pool["offset"]}
    for pool in pools:
        pool["bytes"] = -(-pool["bytes"] // 4) * 4
    return pools, where


def arena_items(model: LoweredModel) -> tuple[list[dict], dict[str, dict]]:
    """The arena's items in order and the location of every value living in it."""
    graph, memory = model.program.graph, model.memory
    items: list[dict] = []
    where: dict[str, dict] = {}
    for kind, values in (("input", graph.inputs), ("output", graph.output_values())):
        for value in values:
            size, per = _monomial(value.type)
            where.setdefault(value.name, {"pool": "arena", "item": len(items), "offset": 0, "per": []})
            items.append({"kind": kind, "bytes": size, "per": per})
    regions = {}
    for region in memory.regions:
        regions[region] = len(items)
        items.append({"kind": "region", "bytes": memory.region_sizes[region], "per": list(region)})
    for name, place in sorted(memory.placements.items()):
        if name not in where:
            where[name] = {"pool": "arena", "item": regions[place.region], "offset": place.offset,
                           "per": list(place.region)}
    return items, where


def symbol_sources(model: LoweredModel) -> list[dict]:
    """Each symbol's first occurrence among the input shapes (the runtimes check the rest)."""
    seen: dict[str, dict] = {}
    for i, value in enumerate(model.program.graph.inputs):
        for axis, d in enumerate(value.type.shape):
            if isinstance(d, Sym) and d.name not in seen:
                seen[d.name] = {"name": d.name, "input": i, "axis": axis}
    return [seen[name] for name in sorted(seen)]


def _signature(values, names) -> list[dict]:
    return [{"name": n, "dtype": v.type.dtype.value,
             "shape": [d.name if isinstance(d, Sym) else int(d) for d in v.type.shape]}
            for n, v in zip(names, values)]


def _shader_file(shaders: dict[str, str], text: str) -> str:
    """The shader's path in the artifact (named by content hash), recording its text."""
    file = f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.wgsl"
    shaders[file] = text
    return f"{SHADER_DIR}/{file}"


def plan(model: LoweredModel, target: Target) -> dict[str, str]:
    """Source files: every distinct shader by content hash, and the dispatch plan."""
    program, graph = model.program, model.program.graph
    pools, where = weight_pools(model, target)
    items, arena = arena_items(model)
    where.update(arena)
    shaders: dict[str, str] = {}
    dispatches = []
    for call in program.calls:
        kernel = program.kernels[call.kernel]
        missing = [a for a in call.args if a not in where]
        if missing:
            raise UnsupportedError(f"webgpu: value '{missing[0]}' of node '{call.nodes[0]}' has no storage")
        pools_of = {b.name: where[a]["pool"] for b, a in zip(kernel.params, call.args)}
        uniforms = [where[a] for a in call.args] + [{"symbol": s} for s in kernel.symbols]
        bound = sorted(set(pools_of.values()), key=pool_order)
        scratch = None      # the call's scratch item (split-K), shared by its dispatches
        for shader in kernel_shaders(kernel, pools_of, target, model.configs.get(call.kernel, KernelConfig())):
            extra, binds = [], bound
            if shader.scratch_bytes:
                if scratch is None:
                    scratch = len(items)
                    items.append({"kind": "scratch", "bytes": shader.scratch_bytes, "per": []})
                extra = [{"pool": "arena", "item": scratch, "offset": 0, "per": []}]
                binds = sorted(set(bound) | {"arena"}, key=pool_order)
            dispatch = {"shader": _shader_file(shaders, shader.text), "pools": binds, "uniforms": uniforms + extra,
                        "workgroups": [expr_json(e) for e in shader.workgroups], "nodes": list(call.nodes)}
            if shader.variants:
                dispatch["variants"] = [{"config": v.config.name, "needs": v.config.needs(),
                                         "shader": _shader_file(shaders, v.text),
                                         "workgroups": [expr_json(e) for e in v.workgroups]}
                                        for v in shader.variants]
            dispatches.append(dispatch)
    document = {
        "format": "aotc-webgpu-1",
        "limits": dict(target.limits),
        "uniform_slot": UNIFORM_SLOT,
        "alignment": target.memory_alignment,
        "inputs": _signature(graph.inputs, [v.name for v in graph.inputs]),
        "outputs": _signature(graph.output_values(), model.output_names),
        "symbols": symbol_sources(model),
        "weight_pools": pools,
        "arena": items,
        "dispatches": dispatches,
    }
    return {**shaders, PLAN_NAME: json.dumps(document, indent=1, sort_keys=True) + "\n"}


__all__ = ["PLAN_NAME", "expr_json", "plan"]
