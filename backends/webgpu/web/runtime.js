// aotc WebGPU runtime: runs a compiled artifact in a browser. An ES module, no dependencies.
// It interprets kernels/dispatches.json exactly as backends/webgpu/runtime.py does from Python:
// weight pools uploaded once, one arena laid out per symbol binding, one uniform slot per
// dispatch, every dispatch encoded in one compute pass. A contraction's dispatch may carry up to
// three variants of its GEMM; the first run picks one per kernel for this adapter (below).
//
//   import { loadModel } from "./runtime.js";
//   const model = await loadModel(".");            // the artifact's directory URL
//   const [y] = await model.run([inputTypedArray]); // inputs in signature order
//   model.chosenConfigs();                          // the variant each contraction runs
//
// loadModel(base, { variants }): "measure" (the default on a GPU) times each variant that fits
// the device's limits (a few dispatches each) and keeps the fastest, remembered for the page's
// session (sessionStorage); "limits" (the default on a software adapter such as SwiftShader)
// keeps the first variant that fits, or the last (the smallest tile) on a software adapter;
// a number forces that variant slot.
//
// Throws a NoWebGPUError when the browser has no WebGPU adapter.

export class NoWebGPUError extends Error {}

// aotc's dtype names (compiler/ir/dtypes.py) -> typed arrays.
const ELEMENT = {
  f32: Float32Array, i32: Int32Array, i64: BigInt64Array, u8: Uint8Array,
  i8: Int8Array, bool: Uint8Array, u32: Uint32Array, u64: BigUint64Array,
};

export function typedArrayFor(dtype) {
  const type = ELEMENT[dtype];
  if (!type) throw new Error(`no typed array for dtype ${dtype}`);
  return type;
}

function align(value, alignment) {
  return Math.ceil(value / alignment) * alignment;
}

// A plan expression: an int, a symbol name, or [op, a, b] (non-negative operands).
export function evaluate(e, symbols) {
  if (typeof e === "number") return e;
  if (typeof e === "string") return symbols[e];
  const a = evaluate(e[1], symbols), b = evaluate(e[2], symbols);
  switch (e[0]) {
    case "add": return a + b;
    case "sub": return a - b;
    case "mul": return a * b;
    case "div": return b ? Math.floor(a / b) : 0;
    case "mod": return b ? a % b : 0;
    case "min": return Math.min(a, b);
    case "max": return Math.max(a, b);
    default: throw new Error(`unknown plan operator ${e[0]}`);
  }
}

// Variant selection: the same steps as backends/webgpu/variants.py.
const LIMIT_NAMES = { invocations_per_workgroup: "maxComputeInvocationsPerWorkgroup",
                      workgroup_storage: "maxComputeWorkgroupStorageSize" };

export function variantGroups(dispatches) {
  const groups = new Map();
  dispatches.forEach((d, k) => {
    if (!d.variants || !d.variants.length) return;
    const key = d.variants.map((v) => v.shader).join(",");
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(k);
  });
  return groups;
}

// Slots of the variants within the device's limits (the first one whatever: it fits the
// target's limits, which every device grants).
export function eligibleVariants(variants, limits) {
  const fits = [];
  variants.forEach((v, i) => {
    if (Object.entries(v.needs).every(([name, need]) => !(name in limits) || need <= limits[name])) fits.push(i);
  });
  return fits.length ? fits : [0];
}

export function deviceLimits(device) {
  const limits = {};
  for (const [ours, theirs] of Object.entries(LIMIT_NAMES)) if (theirs in device.limits) limits[ours] = device.limits[theirs];
  return limits;
}

// A software adapter (SwiftShader, llvmpipe): no measuring, the smallest tile.
export function isSoftwareAdapter(adapter) {
  if (!adapter) return false;
  const info = adapter.info || {};
  if (info.isFallbackAdapter || adapter.isFallbackAdapter) return true;
  return /swiftshader|llvmpipe|lavapipe/i.test([info.vendor, info.architecture, info.device, info.description].join(" "));
}

// Map group key -> chosen slot. measure(dispatchIndex, slot) resolves to seconds.
export async function chooseVariants(dispatches, limits, software, policy, measure) {
  const choice = new Map();
  for (const [key, members] of variantGroups(dispatches)) {
    const slots = eligibleVariants(dispatches[members[0]].variants, limits);
    if (typeof policy === "number") {
      choice.set(key, slots[Math.min(Math.max(policy, 0), slots.length - 1)]);
    } else if (policy === "measure" && slots.length > 1) {
      let best = slots[0], bestTime = Infinity;
      for (const slot of slots) {
        const t = await measure(members[0], slot);
        if (t < bestTime) { best = slot; bestTime = t; }
      }
      choice.set(key, best);
    } else if (policy === "measure" || policy === "limits") {
      choice.set(key, software ? slots[slots.length - 1] : slots[0]);
    } else {
      throw new Error(`unknown variant policy ${policy} (measure, limits or a slot number)`);
    }
  }
  return choice;
}

// What a dispatch runs: its chosen variant, else itself.
export function resolveVariant(dispatch, choice) {
  if (!dispatch.variants || !dispatch.variants.length) return dispatch;
  return dispatch.variants[choice.get(dispatch.variants.map((v) => v.shader).join(",")) || 0];
}

export function arenaLayout(plan, symbols) {
  const bases = [];
  let cursor = 0;
  for (const item of plan.arena) {
    bases.push(cursor);
    let size = item.bytes;
    for (const s of item.per) size *= symbols[s];
    cursor += align(size, plan.alignment);
  }
  return { bases, size: Math.max(cursor, plan.alignment) };
}

function uniformWords(dispatch, bases, symbols) {
  const words = dispatch.uniforms.map((u) => {
    if ("symbol" in u) return symbols[u.symbol];
    let offset = u.offset;
    for (const s of u.per || []) offset *= symbols[s];
    if ("item" in u) offset += bases[u.item];
    return offset / 4;
  });
  return words.length ? words : [0];
}

async function fetchOk(url, kind) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return kind === "json" ? response.json() : kind === "text" ? response.text() : response.arrayBuffer();
}

export async function requestDevice() {
  if (!("gpu" in navigator)) throw new NoWebGPUError("this browser has no WebGPU (navigator.gpu is missing)");
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new NoWebGPUError("this browser has WebGPU but no adapter (no usable GPU or driver)");
  return { adapter, device: await adapter.requestDevice() };
}

export async function loadModel(base = ".", options = {}) {
  const root = base.endsWith("/") ? base : base + "/";
  const { adapter, device } = options.device ? { adapter: options.adapter || null, device: options.device }
                                             : await requestDevice();
  const plan = await fetchOk(root + "kernels/dispatches.json", "json");
  const weights = await fetchOk(root + "weights.bin", "bytes");
  const software = isSoftwareAdapter(adapter);
  const policy = options.variants === undefined || options.variants === null || options.variants === ""
    ? (software ? "limits" : "measure") : options.variants;
  return new Model(device, adapter, plan, weights, await compileShaders(device, root, plan), policy, software);
}

// Binding 0 the uniforms, then the pools: explicit, since a layout derived from the shader
// ("auto") drops the bindings a shader happens not to use.
function bindGroupLayout(device, pools) {
  const types = ["uniform", ...pools.map((p) => (p === "arena" ? "storage" : "read-only-storage"))];
  return device.createBindGroupLayout({
    entries: types.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })) });
}

// Every shader's module, variants included (so the browser's compiler checks them all);
// pipelines are made when a dispatch first runs a shader.
async function compileShaders(device, root, plan) {
  const modules = new Map();
  const files = plan.dispatches.flatMap((d) => [d.shader, ...(d.variants || []).map((v) => v.shader)]);
  for (const file of files) {
    if (modules.has(file)) continue;
    const code = await fetchOk(root + file, "text");
    const module = device.createShaderModule({ code, label: file });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length) throw new Error(`${file}: ${errors.map((m) => m.message).join("; ")}`);
    modules.set(file, module);
  }
  return modules;
}

class Model {
  constructor(device, adapter, plan, weights, modules, policy, software) {
    this.device = device;
    this.adapter = adapter;
    this.plan = plan;
    this.modules = modules;
    this.pipelines = new Map();
    this.layouts = new Map();
    this.policy = policy;
    this.software = software;
    this.choice = null;
    this.pools = {};
    plan.weight_pools.forEach((pool, k) => {
      const buffer = device.createBuffer({ size: Math.max(pool.bytes, 4), usage: GPUBufferUsage.STORAGE,
                                           mappedAtCreation: true });
      new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(weights, pool.offset,
        Math.min(pool.bytes, weights.byteLength - pool.offset)));
      buffer.unmap();
      this.pools[`w${k}`] = buffer;
    });
    this.symbolKey = null;
  }

  layout(pools) {
    const key = pools.join(",");
    if (!this.layouts.has(key)) this.layouts.set(key, bindGroupLayout(this.device, pools));
    return this.layouts.get(key);
  }

  pipeline(shader, pools) {
    if (!this.pipelines.has(shader)) {
      this.pipelines.set(shader, this.device.createComputePipeline({
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [this.layout(pools)] }),
        compute: { module: this.modules.get(shader), entryPoint: "main" }, label: shader }));
    }
    return this.pipelines.get(shader);
  }

  // The config each contraction dispatch runs (after a run), in dispatch order.
  chosenConfigs() {
    return this.plan.dispatches.filter((d) => d.variants && d.variants.length)
      .map((d) => resolveVariant(d, this.choice).config);
  }

  // Seconds per dispatch of variant `slot` in dispatch k's place: one untimed submission, then
  // the best of two of `repeat` dispatches each.
  async measure(k, slot, symbols, repeat = 3) {
    const dispatch = this.plan.dispatches[k], variant = dispatch.variants[slot];
    const pipeline = this.pipeline(variant.shader, dispatch.pools);
    const [x, y, z] = variant.workgroups.map((e) => evaluate(e, symbols));
    let best = Infinity;
    for (let trial = 0; trial < 3; trial++) {
      const start = performance.now();
      const encoder = this.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (let r = 0; r < (trial ? repeat : 1); r++) {
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, this.groups[k]);
        pass.dispatchWorkgroups(x, y, z);
      }
      pass.end();
      this.device.queue.submit([encoder.finish()]);
      await this.device.queue.onSubmittedWorkDone();
      if (trial) best = Math.min(best, (performance.now() - start) / 1000 / repeat);
    }
    return best;
  }

  // Picks are remembered for the page's session, per adapter and variant set.
  async choose(symbols) {
    const info = (this.adapter && this.adapter.info) || {};
    const prefix = `aotc-variant|${info.vendor}|${info.architecture}|${info.device}|${info.description}|${this.policy}|`;
    const storage = typeof sessionStorage !== "undefined" ? sessionStorage : null;
    const cached = new Map();
    for (const key of variantGroups(this.plan.dispatches).keys()) {
      let value = null;
      try { value = storage && storage.getItem(prefix + key); } catch (e) { value = null; }
      if (value !== null) cached.set(key, Number(value));
    }
    const choice = await chooseVariants(this.plan.dispatches, deviceLimits(this.device), this.software, this.policy,
      (k, slot) => {
        const key = this.plan.dispatches[k].variants.map((v) => v.shader).join(",");
        if (cached.has(key)) return cached.get(key) === slot ? 0 : 1;
        return this.measure(k, slot, symbols);
      });
    for (const [key, slot] of choice) {
      try { if (storage) storage.setItem(prefix + key, String(slot)); } catch (e) { /* storage full or denied */ }
    }
    return choice;
  }

  get inputs() { return this.plan.inputs; }
  get outputs() { return this.plan.outputs; }

  bindSymbols(shapes) {
    const symbols = {};
    for (const s of this.plan.symbols) symbols[s.name] = shapes[s.input][s.axis];
    this.plan.inputs.forEach((spec, i) => {
      const want = spec.shape.map((d) => (typeof d === "string" ? symbols[d] : d));
      if (want.length !== shapes[i].length || want.some((d, a) => d !== shapes[i][a]))
        throw new Error(`input '${spec.name}' has shape [${shapes[i]}], expected [${want}]`);
    });
    return symbols;
  }

  async prepare(symbols) {
    const device = this.device, plan = this.plan;
    const { bases, size } = arenaLayout(plan, symbols);
    if (size > plan.limits.binding_bytes)
      throw new Error(`the arena needs ${size} bytes, over the ${plan.limits.binding_bytes}-byte binding limit`);
    if (this.arena) this.arena.destroy();
    this.arena = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
                                                    GPUBufferUsage.COPY_DST });
    const slot = plan.uniform_slot;
    const uniforms = new Uint32Array(Math.max(plan.dispatches.length, 1) * slot / 4);
    const words = plan.dispatches.map((d) => uniformWords(d, bases, symbols));
    words.forEach((w, k) => uniforms.set(w.map((x) => x >>> 0), k * slot / 4));
    this.uniforms = device.createBuffer({ size: uniforms.byteLength, usage: GPUBufferUsage.UNIFORM |
                                                                           GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(this.uniforms, 0, uniforms);
    const pools = { ...this.pools, arena: this.arena };
    this.groups = plan.dispatches.map((dispatch, k) => device.createBindGroup({
      layout: this.layout(dispatch.pools),
      entries: [{ binding: 0, resource: { buffer: this.uniforms, offset: k * slot, size: align(4 * words[k].length, 16) } },
                ...dispatch.pools.map((p, b) => ({ binding: b + 1, resource: { buffer: pools[p] } }))],
    }));
    if (this.choice === null) this.choice = await this.choose(symbols);
    this.active = plan.dispatches.map((dispatch) => {
      const chosen = resolveVariant(dispatch, this.choice);
      return { pipeline: this.pipeline(chosen.shader, dispatch.pools),
               counts: chosen.workgroups.map((e) => evaluate(e, symbols)) };
    });
    this.bases = bases;
    this.symbols = symbols;
  }

  // inputs: typed arrays in signature order; shapes: their shapes (defaults to the signature's
  // static shapes). Returns the outputs as typed arrays, with `.shape` set.
  async run(inputs, shapes) {
    const plan = this.plan, device = this.device;
    shapes = shapes || plan.inputs.map((spec) => spec.shape);
    const symbols = this.bindSymbols(shapes);
    const key = JSON.stringify(symbols);
    if (key !== this.symbolKey) { await this.prepare(symbols); this.symbolKey = key; }
    inputs.forEach((array, k) => {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      const padded = new Uint8Array(align(bytes.length, 4));
      padded.set(bytes);
      if (padded.length) device.queue.writeBuffer(this.arena, this.bases[k], padded);
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    this.active.forEach(({ pipeline, counts }, k) => {
      const [x, y, z] = counts;
      if (x <= 0 || y <= 0 || z <= 0) return;
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, this.groups[k]);
      pass.dispatchWorkgroups(x, y, z);
    });
    pass.end();
    const reads = plan.outputs.map((spec, j) => {
      const shape = spec.shape.map((d) => (typeof d === "string" ? symbols[d] : d));
      const type = typedArrayFor(spec.dtype);
      const bytes = shape.reduce((a, b) => a * b, 1) * type.BYTES_PER_ELEMENT;
      const staging = device.createBuffer({ size: Math.max(align(bytes, 4), 4),
                                            usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      if (bytes) encoder.copyBufferToBuffer(this.arena, this.bases[plan.inputs.length + j], staging, 0, align(bytes, 4));
      return { staging, shape, type, bytes };
    });
    device.queue.submit([encoder.finish()]);
    const outputs = [];
    for (const { staging, shape, type, bytes } of reads) {
      await staging.mapAsync(GPUMapMode.READ);
      const out = new type(staging.getMappedRange().slice(0, bytes));
      staging.unmap();
      staging.destroy();
      out.shape = shape;
      outputs.push(out);
    }
    return outputs;
  }
}
