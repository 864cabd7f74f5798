"""Run a WebGPU artifact from Python through wgpu (wgpu-py), as runtime.js does in a browser:
the same dispatch plan (kernels/dispatches.json) interpreted the same way.

Load: request an adapter (any: lavapipe on a CPU-only machine), upload the weight pools.
Run: bind symbols from the input shapes, lay the arena out (re-created when a batch needs
more), write inputs and uniforms, pick each contraction's variant on the first run
(variants.py: by the device's limits, then by measuring them on a GPU), encode every dispatch
in one compute pass, copy the outputs back. Shaders compile (naga validates them) when a
dispatch first needs them, so variants never picked are never compiled.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from compiler.errors import TargetError
from compiler.ir.dtypes import DType
from backends.webgpu.plan import PLAN_NAME, SHADER_DIR
from backends.webgpu.variants import LIMIT_NAMES, choose, default_policy, resolve


def evaluate(e, symbols: dict[str, int]) -> int:
    """A plan expression: an int, a symbol name, or [op, a, b] (non-negative operands)."""
    if isinstance(e, int):
        return e
    if isinstance(e, str):
        return symbols[e]
    op, a, b = e[0], evaluate(e[1], symbols), evaluate(e[2], symbols)
    return {"add": a + b, "sub": a - b, "mul": a * b, "div": a // b if b else 0, "mod": a % b if b else 0,
            "min": min(a, b), "max": max(a, b)}[op]


def _align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def arena_layout(plan: dict, symbols: dict[str, int]) -> tuple[list[int], int]:
    """Byte base of every arena item, and the arena's size."""
    bases, cursor = [], 0
    for item in plan["arena"]:
        bases.append(cursor)
        size = item["bytes"]
        for s in item["per"]:
            size *= symbols[s]
        cursor += _align(size, plan["alignment"])
    return bases, max(cursor, plan["alignment"])


def uniform_words(dispatch: dict, bases: list[int], symbols: dict[str, int]) -> list[int]:
    words = []
    for u in dispatch["uniforms"]:
        if "symbol" in u:
            words.append(symbols[u["symbol"]])
            continue
        offset = u["offset"]
        for s in u.get("per", ()):
            offset *= symbols[s]
        if "item" in u:
            offset += bases[u["item"]]
        words.append(offset // 4)
    return words or [0]


def _dispatch(compute, pipeline, group, counts: list[int]) -> None:
    """One dispatch into a compute pass; nothing for an empty grid (a zero-sized batch)."""
    if min(counts) > 0:
        compute.set_pipeline(pipeline)
        compute.set_bind_group(0, group)
        compute.dispatch_workgroups(*counts)


def request_device():
    """wgpu's device on the first adapter; TargetError when there is none."""
    try:
        import wgpu
    except ImportError:
        raise TargetError("running a webgpu artifact from Python needs the wgpu package (pip install wgpu)") from None
    adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    if adapter is None:
        raise TargetError("no WebGPU adapter (install a Vulkan driver, e.g. Debian's mesa-vulkan-drivers)")
    return wgpu, adapter.request_device_sync()


def create_shader_module(device, code: str, trusted: bool = False):
    """naga's module of one WGSL shader. `trusted`: without the runtime checks naga adds
    (index clamping on arrays, a counter bounding every loop), through wgpu-native's
    wgpuDeviceCreateShaderModuleTrusted, which wgpu-py does not wrap; aotc's shaders index in
    bounds and their loops end. Falls back to the checked module where this wgpu lacks it."""
    if trusted:
        try:
            from wgpu.backends.wgpu_native import _api
            source = _api.new_struct_p("WGPUShaderSourceWGSL *", code=_api.to_c_string_view(code))
            source[0].chain.next = _api.ffi.NULL
            source[0].chain.sType = _api.lib.WGPUSType_ShaderSourceWGSL
            chained = _api.ffi.cast("WGPUChainedStruct *", source)
            descriptor = _api.new_struct_p("WGPUShaderModuleDescriptor *", nextInChain=chained,
                                           label=_api.to_c_string_view("aotc"))
            handle = _api.libf.wgpuDeviceCreateShaderModuleTrusted(device._internal, descriptor, 0)
            if handle != _api.ffi.NULL:
                return _api.GPUShaderModule("aotc", handle, device)
        except (ImportError, AttributeError):
            pass
    return device.create_shader_module(code=code)


def validate_shader(text: str, device=None):
    """Compile one WGSL shader with wgpu (naga); raises its error message."""
    if device is None:
        _, device = request_device()
    return device.create_shader_module(code=text)


class WebGpuModel:
    """`variant_policy`: how contraction variants are picked (variants.py); None for the
    adapter's default. `clock`: seconds, for the measurements. `trusted`: shaders compiled
    without naga's runtime checks (create_shader_module)."""

    def __init__(self, directory: Path, weights: np.ndarray, threads: int = 1, variant_policy=None,
                 clock=time.perf_counter, trusted: bool = False):
        self.directory = Path(directory)
        self.plan = json.loads((self.directory / SHADER_DIR / PLAN_NAME).read_text(encoding="utf-8"))
        self.wgpu, self.device = request_device()
        wgpu, device = self.wgpu, self.device
        self.software = device.adapter.info.get("adapter_type") == "CPU"
        self.variant_policy = default_policy(self.software) if variant_policy is None else variant_policy
        self.clock, self.trusted = clock, trusted
        self.choice: dict | None = None
        self.pipelines, self.layouts = {}, {}
        for pools in sorted({tuple(d["pools"]) for d in self.plan["dispatches"]}):
            self.layouts[pools] = self._layout(list(pools))
        data = weights.tobytes()
        self.pools = {}
        for k, pool in enumerate(self.plan["weight_pools"]):
            chunk = data[pool["offset"]:pool["offset"] + pool["bytes"]]
            chunk += bytes(pool["bytes"] - len(chunk))
            self.pools[f"w{k}"] = device.create_buffer_with_data(data=chunk, usage=wgpu.BufferUsage.STORAGE)
        self.symbols: dict[str, int] | None = None
        self.arena = None

    def pipeline(self, shader: str, pools: list[str]):
        """The compute pipeline of one shader file, compiled on first use."""
        if shader not in self.pipelines:
            device = self.device
            module = create_shader_module(device, (self.directory / shader).read_text(encoding="utf-8"), self.trusted)
            self.pipelines[shader] = device.create_compute_pipeline(
                layout=device.create_pipeline_layout(bind_group_layouts=[self.layouts[tuple(pools)]]),
                compute={"module": module, "entry_point": "main"})
        return self.pipelines[shader]

    def select_variants(self, policy) -> None:
        """Pick the variants again on the next run, by `policy` (variants.py)."""
        self.variant_policy, self.choice, self.symbols = policy, None, None

    def device_limits(self) -> dict[str, int]:
        return {ours: int(self.device.limits[theirs]) for ours, theirs in LIMIT_NAMES.items()
                if theirs in self.device.limits}

    def _measure(self, k: int, slot: int, symbols: dict[str, int], repeat: int = 3) -> float:
        """Seconds per dispatch of variant `slot` in dispatch k's place (best of two timed
        submissions of `repeat` dispatches, after one untimed)."""
        dispatch = self.plan["dispatches"][k]
        variant = dispatch["variants"][slot]
        active = (self.pipeline(variant["shader"], dispatch["pools"]), self.groups[k],
                  [evaluate(e, symbols) for e in variant["workgroups"]])
        self._submit_seconds(lambda compute: _dispatch(compute, *active), 1)
        return min(self._submit_seconds(lambda compute: _dispatch(compute, *active), repeat) for _ in range(2))

    def _submit_seconds(self, encode, copies: int) -> float:
        """Seconds per copy of what `encode(compute)` records, encoded `copies` times into one
        compute pass, submitted once and waited for by a 4-byte read-back of the arena."""
        start = self.clock()
        encoder = self.device.create_command_encoder()
        compute = encoder.begin_compute_pass()
        for _ in range(copies):
            encode(compute)
        compute.end()
        self.device.queue.submit([encoder.finish()])
        self.device.queue.read_buffer(self.arena, 0, 4)    # waits for the queue
        return (self.clock() - start) / copies

    def _layout(self, pools: list[str]):
        """Binding 0 the uniforms, then the pools: explicit, since a layout derived from the
        shader ("auto") drops the bindings a shader happens not to use."""
        wgpu = self.wgpu
        kinds = [wgpu.BufferBindingType.uniform] + [
            wgpu.BufferBindingType.storage if p == "arena" else wgpu.BufferBindingType.read_only_storage
            for p in pools]
        return self.device.create_bind_group_layout(entries=[
            {"binding": b, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": kind}}
            for b, kind in enumerate(kinds)])

    def _bind_symbols(self, inputs: list[np.ndarray]) -> dict[str, int]:
        """Symbol values from the input shapes (Artifact.run checked them against the signature)."""
        return {s["name"]: int(inputs[s["input"]].shape[s["axis"]]) for s in self.plan["symbols"]}

    def _prepare(self, symbols: dict[str, int]) -> None:
        """Arena, uniforms and bind groups for these symbol values (kept while they last)."""
        wgpu, device = self.wgpu, self.device
        self.bases, size = arena_layout(self.plan, symbols)
        if size > self.plan["limits"]["binding_bytes"]:
            raise TargetError(f"the arena needs {size:,} bytes, over the {self.plan['limits']['binding_bytes']:,}-byte "
                              f"storage binding limit")
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
        self.arena = device.create_buffer(size=size, usage=usage)
        slot = self.plan["uniform_slot"]
        dispatches = self.plan["dispatches"]
        uniforms = np.zeros(max(len(dispatches), 1) * slot // 4, dtype=np.uint32)
        words = [uniform_words(d, self.bases, symbols) for d in dispatches]
        for k, w in enumerate(words):
            uniforms[k * slot // 4:k * slot // 4 + len(w)] = np.array(w, dtype=np.int64).astype(np.uint32)
        self.uniforms = device.create_buffer_with_data(data=uniforms.tobytes(), usage=wgpu.BufferUsage.UNIFORM)
        pools = {**self.pools, "arena": self.arena}
        self.groups = []
        for k, (dispatch, w) in enumerate(zip(dispatches, words)):
            entries = [{"binding": 0, "resource": {"buffer": self.uniforms, "offset": k * slot,
                                                    "size": _align(4 * len(w), 16)}}]
            entries += [{"binding": b, "resource": {"buffer": pools[p], "offset": 0, "size": pools[p].size}}
                        for b, p in enumerate(dispatch["pools"], start=1)]
            self.groups.append(device.create_bind_group(layout=self.layouts[tuple(dispatch["pools"])],
                                                        entries=entries))
        if self.choice is None:
            self.choice = choose(dispatches, self.device_limits(), self.software, self.variant_policy,
                                 lambda k, slot: self._measure(k, slot, symbols))
        # What each dispatch runs: (pipeline, bind group, workgroup counts).
        self.active = []
        for dispatch, group in zip(dispatches, self.groups):
            chosen = resolve(dispatch, self.choice)
            self.active.append((self.pipeline(chosen["shader"], dispatch["pools"]), group,
                                [evaluate(e, symbols) for e in chosen["workgroups"]]))
        self.symbols = symbols

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        symbols = self._bind_symbols(inputs)
        if symbols != self.symbols:
            self._prepare(symbols)
        device = self.device
        for k, array in enumerate(inputs):
            if array.nbytes:
                data = np.ascontiguousarray(array).tobytes()
                device.queue.write_buffer(self.arena, self.bases[k], data + bytes(-len(data) % 4))
        encoder = device.create_command_encoder()
        compute = encoder.begin_compute_pass()
        self.encode(compute)
        compute.end()
        device.queue.submit([encoder.finish()])
        outputs = []
        for j, spec in enumerate(self.plan["outputs"]):
            dtype = DType(spec["dtype"]).to_numpy()
            shape = tuple(symbols[d] if isinstance(d, str) else d for d in spec["shape"])
            nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            if nbytes == 0:
                outputs.append(np.zeros(shape, dtype))
                continue
            data = device.queue.read_buffer(self.arena, self.bases[len(inputs) + j], _align(nbytes, 4))
            outputs.append(np.frombuffer(data, dtype=np.uint8)[:nbytes].view(dtype).reshape(shape).copy())
        return outputs

    def encode(self, compute) -> None:
        """Every dispatch of one run into a compute pass (after a run prepared them)."""
        for active in self.active:
            _dispatch(compute, *active)

    def chosen_configs(self) -> list[str]:
        """The config name each contraction dispatch runs (after a run), in dispatch order."""
        return [resolve(d, self.choice)["config"] for d in self.plan["dispatches"] if d.get("variants")]

    def run_seconds(self, copies: int) -> float:
        """Seconds per run of the dispatch list (after a run prepared it): `copies` copies
        encoded into one compute pass, submitted once and waited for by a 4-byte read-back,
        so the submission's fixed cost is spread over the copies; no host copies of data."""
        return self._submit_seconds(self.encode, copies)

    def dispatch_seconds(self, repeat: int = 20) -> list[float]:
        """Device seconds of each dispatch alone (after a run prepared them): `repeat` copies
        in one submission, best of two, per copy. For finding the slow kernels of a model;
        dispatches in isolation run with warm caches, so the sum undershoots a whole run."""
        return [min(self._submit_seconds(lambda compute, a=active: _dispatch(compute, *a), repeat) for _ in range(2))
                for active in self.active]

    def set_threads(self, threads: int) -> None:
        """CPU threads play no part in a WebGPU run; accepted so callers need not care."""

    def profile(self) -> list[float]:
        return [0.0] * len(self.plan["dispatches"])


__all__ = ["WebGpuModel", "arena_layout", "create_shader_module", "evaluate", "request_device", "uniform_words", "validate_shader"]
