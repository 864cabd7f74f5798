// aotc WebGPU runtime: runs a compiled artifact in a browser. An ES module, no dependencies.
// It interprets kernels/dispatches.json exactly as backends/webgpu/runtime.py does from Python:
// weight pools uploaded once, one arena laid out per symbol binding, one uniform slot per
// dispatch, every dispatch encoded in one compute pass.
//
//   import { loadModel } from "./runtime.js";
//   const model = await loadModel(".");            // the artifact's directory URL
//   const [y] = await model.run([inputTypedArray]); // inputs in signature order
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
  const { adapter, device } = options.device ? { adapter: null, device: options.device } : await requestDevice();
  const plan = await fetchOk(root + "kernels/dispatches.json", "json");
  const weights = await fetchOk(root + "weights.bin", "bytes");
  return new Model(device, adapter, plan, weights, await compileShaders(device, root, plan));
}

// Binding 0 the uniforms, then the pools: explicit, since a layout derived from the shader
// ("auto") drops the bindings a shader happens not to use.
function bindGroupLayout(device, pools) {
  const types = ["uniform", ...pools.map((p) => (p === "arena" ? "storage" : "read-only-storage"))];
  return device.createBindGroupLayout({
    entries: types.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })) });
}

async function compileShaders(device, root, plan) {
  const pipelines = new Map();
  for (const dispatch of plan.dispatches) {
    if (pipelines.has(dispatch.shader)) continue;
    const code = await fetchOk(root + dispatch.shader, "text");
    const module = device.createShaderModule({ code, label: dispatch.shader });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length) throw new Error(`${dispatch.shader}: ${errors.map((m) => m.message).join("; ")}`);
    const layout = bindGroupLayout(device, dispatch.pools);
    const pipeline = device.createComputePipeline({
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: "main" }, label: dispatch.shader });
    pipelines.set(dispatch.shader, { pipeline, layout });
  }
  return pipelines;
}

class Model {
  constructor(device, adapter, plan, weights, pipelines) {
    this.device = device;
    this.adapter = adapter;
    this.plan = plan;
    this.pipelines = pipelines;
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

  prepare(symbols) {
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
      layout: this.pipelines.get(dispatch.shader).layout,
      entries: [{ binding: 0, resource: { buffer: this.uniforms, offset: k * slot, size: align(4 * words[k].length, 16) } },
                ...dispatch.pools.map((p, b) => ({ binding: b + 1, resource: { buffer: pools[p] } }))],
    }));
    this.counts = plan.dispatches.map((d) => d.workgroups.map((e) => evaluate(e, symbols)));
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
    if (key !== this.symbolKey) { this.prepare(symbols); this.symbolKey = key; }
    inputs.forEach((array, k) => {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      const padded = new Uint8Array(align(bytes.length, 4));
      padded.set(bytes);
      if (padded.length) device.queue.writeBuffer(this.arena, this.bases[k], padded);
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    plan.dispatches.forEach((dispatch, k) => {
      const [x, y, z] = this.counts[k];
      if (x <= 0 || y <= 0 || z <= 0) return;
      pass.setPipeline(this.pipelines.get(dispatch.shader).pipeline);
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
