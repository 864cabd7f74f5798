"""The CUDA artifact's host runtime: C compiled by the system C compiler into libmodel.so with
the same ABI as the CPU artifact (aotc_model.h), so Python (ctypes) and C callers load either.

create: open the driver (driver.py), retain device 0's primary context, load the cubin that is
linked into the library (.incbin), look up every kernel, allocate ONE device arena and upload
the weights to its start. aotc_run (host buffers): bind symbols, lay the arena out as
[weights | inputs | outputs | memory-plan regions], copy inputs in, launch every kernel in call
order on the default stream, synchronise, copy outputs out. aotc_run_device (device buffers,
CUDA artifacts only): the same launches reading and writing the caller's buffers in place,
enqueued on the caller's stream without waiting, so a warmed-up run can be captured into a CUDA
graph. The arena grows (weights copied on device) when symbolic dimensions need more.
"""
from __future__ import annotations

from compiler.ir.graph import Value
from compiler.ir.loops import Expr, Var
from compiler.ir.types import Sym, TensorType
from compiler.target import Target
from backends.base import LoweredModel
from backends.cpu.printer import ERROR_SUPPORT, HEADER, HEADER_NAME, ModelPrinter, c_comment, c_string
from backends.cstyle import CStylePrinter
from backends.cuda.driver import DRIVER_C
from backends.cuda.printer import Launch

CUBIN_NAME = "model.cubin"
HOST_NAME = "host.c"
ALIGN = 256   # cudaMalloc's own alignment: every arena slice starts on it
# Caller-owned device buffers need only the widest vector access a kernel makes (16 bytes);
# fresh torch and cupy allocations are 256-byte aligned, a sliced view may be less.
DEVICE_ALIGN = 16

_DEVICE_ENTRY = f"""\
/* CUDA artifacts only: run on device memory, without copies. inputs[i] / outputs[i] are device
 * addresses (CUdeviceptr values) in device 0's primary context (the one the CUDA runtime, torch
 * and cupy use), dense row-major, {DEVICE_ALIGN}-byte aligned; outputs must not overlap inputs. The
 * kernels are enqueued on `stream` (a CUstream; NULL is the legacy default stream) and the call
 * returns without waiting: synchronise the stream before reading the outputs, and order the
 * runs of one handle on one stream (they share its arena). Nothing is allocated and nothing
 * waits unless a shape needs a larger arena than every run before, so a warmed-up run can be
 * captured into a CUDA graph. */
int aotc_run_device(aotc_model* model, const uint64_t* inputs, const int64_t* const* input_shapes,
                    const uint64_t* outputs, void* stream);

"""
_CLOSE = "#ifdef __cplusplus\n}"
# The CPU artifact's header plus the device entry point, before the closing extern "C".
CUDA_HEADER = HEADER[:HEADER.rindex(_CLOSE)] + _DEVICE_ENTRY + HEADER[HEADER.rindex(_CLOSE):]


class HostExprPrinter(CStylePrinter):
    """Index expressions over the model's symbols, as the host evaluates them."""

    def __init__(self, symbols: list[str]):
        self.symbols = symbols

    def expr(self, e: Expr) -> str:
        if isinstance(e, Var):
            return f"syms[{self.symbols.index(e.name)}]"
        return super().expr(e)


class HostPrinter(ModelPrinter):
    def __init__(self, model: LoweredModel, target: Target, launches: dict[str, tuple[Launch, ...]]):
        super().__init__(model, target)
        self.launches = launches
        self.functions = sorted({launch.function for group in launches.values() for launch in group})
        self.host_exprs = HostExprPrinter(self.symbols)

    def host_c(self) -> str:
        parts = [
            f"/* aotc generated CUDA host runtime for '{c_comment(self.graph.name)}' ({self.target.name}). Do not edit. */",
            "#include <dlfcn.h>\n#include <stdarg.h>\n#include <stdbool.h>\n#include <stdint.h>\n"
            "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>",
            f'#include "{HEADER_NAME}"',
            "",
            ERROR_SUPPORT,
            DRIVER_C,
            self.cubin(),
            self.support(),
            self.signature_tables(),
            self.bind_function(),
            self.create_function(),
            self.run_function(),
        ]
        return "\n".join(parts) + "\n"

    def cubin(self) -> str:
        names = ", ".join(c_string(f) for f in self.functions) or "NULL"
        return f"""\
/* The kernels' cubin, linked in by the assembler (no path to find at run time). */
__asm__(".section .rodata\\n.balign 64\\n.globl aotc_cubin\\n.hidden aotc_cubin\\naotc_cubin:\\n"
        ".incbin \\"{CUBIN_NAME}\\"\\n.byte 0\\n.previous\\n");
extern const unsigned char aotc_cubin[];

#define AOTC_NUM_FUNCTIONS {len(self.functions)}
static const char* const aotc_function_names[] = {{{names}}};
"""

    def support(self) -> str:
        calls = len(self.model.program.calls)
        return f"""\
#define AOTC_WEIGHTS_BYTES ((size_t){self.model.weights.total})
#define AOTC_WEIGHTS_SPAN ((AOTC_WEIGHTS_BYTES + {ALIGN - 1}) & ~(size_t){ALIGN - 1})
#define AOTC_NUM_SYMBOLS {len(self.symbols)}

struct aotc_model {{
    aotc_driver cu;
    CUdevice device;
    CUcontext context;
    CUmodule module;
    CUfunction functions[AOTC_NUM_FUNCTIONS + 1];
    CUdeviceptr arena;      /* weights first, then this run's inputs, outputs and intermediates */
    size_t arena_bytes;
    double seconds[{max(calls, 1)}];
}};

size_t aotc_weights_size(void) {{ return AOTC_WEIGHTS_BYTES; }}

/* Per-kernel timing is not collected on CUDA yet: zeros, one per call. */
int aotc_profile(const aotc_model* model, double* seconds, int count) {{
    if (!model || (!seconds && count > 0)) return aotc_fail(AOTC_ERR_ARGUMENT, "aotc_profile: null argument");
    int n = count < {calls} ? count : {calls};
    for (int i = 0; i < n; ++i) seconds[i] = model->seconds[i];
    return {calls};
}}

/* CPU threads play no part in a CUDA run; accepted so callers need not care. */
int aotc_set_num_threads(aotc_model* model, int threads) {{
    if (!model || threads < 1) return aotc_fail(AOTC_ERR_ARGUMENT, "aotc_set_num_threads: need a handle and threads >= 1");
    return AOTC_OK;
}}

void aotc_destroy(aotc_model* model) {{
    if (!model) return;
    if (model->cu.library) {{
        if (model->context) model->cu.CtxSetCurrent(model->context);
        if (model->arena) model->cu.MemFree(model->arena);
        if (model->module) model->cu.ModuleUnload(model->module);
        if (model->context) model->cu.DevicePrimaryCtxRelease(model->device);
        dlclose(model->cu.library);
    }}
    free(model);
}}
"""

    def create_function(self) -> str:
        arch = self.target.name.split(":")[1]
        return f"""\
static int aotc_open(aotc_model* model, const void* weights) {{
    aotc_driver* cu = &model->cu;
    int status = aotc_driver_open(cu);
    if (status != AOTC_OK) return status;
    AOTC_CU(cu, Init(0), "cuInit");
    AOTC_CU(cu, DeviceGet(&model->device, 0), "cuDeviceGet");
    AOTC_CU(cu, DevicePrimaryCtxRetain(&model->context, model->device), "cuDevicePrimaryCtxRetain");
    AOTC_CU(cu, CtxSetCurrent(model->context), "cuCtxSetCurrent");
    CUresult loaded = cu->ModuleLoadData(&model->module, aotc_cubin);
    if (loaded != 0) {{
        int major = 0, minor = 0;
        cu->DeviceGetAttribute(&major, AOTC_CU_ATTRIBUTE_CC_MAJOR, model->device);
        cu->DeviceGetAttribute(&minor, AOTC_CU_ATTRIBUTE_CC_MINOR, model->device);
        aotc_cu_fail(cu, loaded, "cuModuleLoadData");
        return aotc_fail(AOTC_ERR_DEVICE, "the kernels were built for {arch} and GPU 0 is sm_%d%d "
                         "(recompile with --target cuda:sm_%d%d): %s", major, minor, major, minor, aotc_last_error());
    }}
    for (int i = 0; i < AOTC_NUM_FUNCTIONS; ++i)
        AOTC_CU(cu, ModuleGetFunction(&model->functions[i], model->module, aotc_function_names[i]), "cuModuleGetFunction");
    model->arena_bytes = AOTC_WEIGHTS_SPAN > {ALIGN} ? AOTC_WEIGHTS_SPAN : {ALIGN};
    AOTC_CU(cu, MemAlloc(&model->arena, model->arena_bytes), "cuMemAlloc (weights)");
    if (AOTC_WEIGHTS_BYTES) AOTC_CU(cu, MemcpyHtoD(model->arena, weights, AOTC_WEIGHTS_BYTES), "cuMemcpyHtoD (weights)");
    return AOTC_OK;
}}

int aotc_create(const void* weights, size_t weights_size, aotc_model** out) {{
    if (!out) return aotc_fail(AOTC_ERR_ARGUMENT, "aotc_create: null output handle");
    *out = NULL;
    if (weights_size != AOTC_WEIGHTS_BYTES) return aotc_fail(AOTC_ERR_WEIGHTS, "weights are %zu bytes, expected %zu", weights_size, AOTC_WEIGHTS_BYTES);
    if (!weights && AOTC_WEIGHTS_BYTES) return aotc_fail(AOTC_ERR_ARGUMENT, "aotc_create: null weights");
    aotc_model* model = calloc(1, sizeof *model);
    if (!model) return aotc_fail(AOTC_ERR_MEMORY, "out of memory for the model handle");
    int status = aotc_open(model, weights);
    if (status != AOTC_OK) {{
        char message[sizeof aotc_error_text];
        memcpy(message, aotc_error_text, sizeof message);
        aotc_destroy(model);
        aotc_fail(status, "%s", message);
        return status;
    }}
    *out = model;
    return AOTC_OK;
}}
"""

    def _bytes(self, ttype: TensorType) -> str:
        dims = [f"(size_t)syms[{self.symbols.index(d.name)}]" if isinstance(d, Sym) else f"(size_t){d}"
                for d in ttype.shape]
        return " * ".join(dims + [str(ttype.dtype.itemsize)])

    def layout_function(self) -> str:
        """Bind the symbols, then lay the arena out as [weights | input and output slots (the
        host-copy path only) | memory-plan regions], growing it (weights kept) when this shape
        needs more bytes than any run before."""
        graph, memory = self.graph, self.model.memory
        outs = [Value(name, v.type) for name, v in zip(graph.outputs, graph.output_values())]
        lines = [
            "static int aotc_layout(aotc_model* model, const int64_t* const* input_shapes, bool with_io,",
            "                       int64_t* syms, size_t* slots, size_t* regions) {",
            "    int status = aotc_bind(input_shapes, syms);",
            "    if (status != AOTC_OK) return status;",
            "    aotc_driver* const cu = &model->cu;",
            f"    const size_t align = {ALIGN};",
            "    size_t cursor = AOTC_WEIGHTS_SPAN;",
            "    (void)slots;",
        ]
        for k, value in enumerate([*graph.inputs, *outs]):
            lines.append(f"    if (with_io) {{ slots[{k}] = cursor; cursor += ({self._bytes(value.type)} + align - 1) & ~(align - 1); }}")
        for r, region in enumerate(memory.regions):
            lines.append(f"    regions[{r}] = cursor;")
            lines.append(f"    cursor += ((size_t){memory.region_sizes[region]} * (size_t)({self._region_expr(region)}) + align - 1) & ~(align - 1);")
        lines += [
            "    if (cursor > model->arena_bytes) {",
            "        /* Runs enqueued on streams may still read the old arena. */",
            "        AOTC_CU(cu, CtxSynchronize(), \"waiting for earlier runs before growing the arena\");",
            "        CUdeviceptr grown = 0;",
            "        AOTC_CU(cu, MemAlloc(&grown, cursor), \"cuMemAlloc (arena)\");",
            "        if (AOTC_WEIGHTS_BYTES) {",
            "            CUresult copied = cu->MemcpyDtoD(grown, model->arena, AOTC_WEIGHTS_BYTES);",
            "            if (copied != 0) { cu->MemFree(grown); return aotc_cu_fail(cu, copied, \"cuMemcpyDtoD (weights)\"); }",
            "        }",
            "        cu->MemFree(model->arena);",
            "        model->arena = grown;",
            "        model->arena_bytes = cursor;",
            "    }",
            "    return AOTC_OK;",
            "}",
        ]
        return "\n".join(lines) + "\n"

    def launch_function(self) -> str:
        """Every kernel in call order on `stream`, inputs and outputs at the given device
        addresses (arena slots or the caller's own buffers); no synchronisation."""
        graph, program = self.graph, self.model.program
        inputs = {v.name: k for k, v in enumerate(graph.inputs)}
        outputs = {name: k for k, name in enumerate(graph.outputs)}
        lines = [
            "static int aotc_launch(aotc_model* model, const int64_t* syms, const CUdeviceptr* in,",
            "                       const CUdeviceptr* out, const size_t* regions, CUstream stream) {",
            "    aotc_driver* const cu = &model->cu;",
            "    const CUdeviceptr arena = model->arena;",
            "    (void)in; (void)out; (void)regions; (void)arena;",
        ]
        lines += [f"    const size_t region{r} = regions[{r}];" for r in range(len(self.model.memory.regions))]

        def location(name: str) -> str:
            if name in inputs:
                return f"in[{inputs[name]}]"
            if name in outputs:
                return f"out[{outputs[name]}]"
            if name in self.model.constants:
                return f"arena + {self.model.weights.offsets[name]}"
            return f"arena + {self._placed(name)}"

        index = {f: i for i, f in enumerate(self.functions)}
        for call in program.calls:
            kernel = program.kernels[call.kernel]
            lines.append(f"    {{   /* {c_comment(', '.join(call.nodes))} */")
            args = [f"CUdeviceptr a{i} = {location(v)};" for i, v in enumerate(call.args)]
            args += [f"int64_t s{i} = syms[{self.symbols.index(s)}];" for i, s in enumerate(kernel.symbols)]
            refs = [f"&a{i}" for i in range(len(call.args))] + [f"&s{i}" for i in range(len(kernel.symbols))]
            lines.append("        " + " ".join(args))
            lines.append(f"        void* args[] = {{{', '.join(refs) or 'NULL'}}};")
            for launch in self.launches[call.kernel]:
                gx, gy, gz = (self.host_exprs.expr(e) for e in launch.grid)
                lines.append(f"        {{ const int64_t gx = {gx}, gy = {gy}, gz = {gz};")
                lines.append(f"          if (gx > 0 && gy > 0 && gz > 0) AOTC_CU(cu, LaunchKernel(model->functions[{index[launch.function]}], "
                             f"(unsigned)gx, (unsigned)gy, (unsigned)gz, {launch.block}, 1, 1, 0, stream, args, NULL), "
                             f"\"cuLaunchKernel ({launch.function})\"); }}")
            lines.append("    }")
        lines += ["    return AOTC_OK;", "}"]
        return "\n".join(lines) + "\n"

    def run_function(self) -> str:
        """aotc_run (host buffers, copied through arena slots, synchronous) and aotc_run_device
        (the caller's device buffers read and written in place, enqueued on a stream)."""
        graph = self.graph
        outs = [Value(name, v.type) for name, v in zip(graph.outputs, graph.output_values())]
        n_in, n_out, n_regions = len(graph.inputs), len(outs), len(self.model.memory.regions)
        prologue = [
            "    int64_t syms[AOTC_NUM_SYMBOLS + 1] = {0};",
            f"    size_t slots[{n_in + n_out + 1}] = {{0}}, regions[{n_regions + 1}] = {{0}};",
            f"    CUdeviceptr in[{n_in + 1}] = {{0}}, out[{n_out + 1}] = {{0}};",
            "    aotc_driver* const cu = &model->cu;",
            "    AOTC_CU(cu, CtxSetCurrent(model->context), \"cuCtxSetCurrent\");",
        ]
        host = [
            "int aotc_run(aotc_model* model, const void* const* inputs, const int64_t* const* input_shapes, void* const* outputs) {",
            "    if (!model || !inputs || !outputs) return aotc_fail(AOTC_ERR_ARGUMENT, \"aotc_run: null argument\");",
        ]
        host += [f"    if (!inputs[{k}]) return aotc_fail(AOTC_ERR_ARGUMENT, \"input {k} is null\");" for k in range(n_in)]
        host += [f"    if (!outputs[{k}]) return aotc_fail(AOTC_ERR_ARGUMENT, \"output {k} is null\");" for k in range(n_out)]
        host += prologue + ["    int status = aotc_layout(model, input_shapes, true, syms, slots, regions);",
                            "    if (status != AOTC_OK) return status;"]
        for k, value in enumerate(graph.inputs):
            host.append(f"    in[{k}] = model->arena + slots[{k}];")
            host.append(f"    if ({self._bytes(value.type)}) AOTC_CU(cu, MemcpyHtoD(in[{k}], inputs[{k}], {self._bytes(value.type)}), \"cuMemcpyHtoD (input {k})\");")
        host += [f"    out[{k}] = model->arena + slots[{n_in + k}];" for k in range(n_out)]
        host += ["    status = aotc_launch(model, syms, in, out, regions, NULL);",
                 "    if (status != AOTC_OK) return status;",
                 "    AOTC_CU(cu, CtxSynchronize(), \"running the kernels\");"]
        for k, value in enumerate(outs):
            host.append(f"    if ({self._bytes(value.type)}) AOTC_CU(cu, MemcpyDtoH(outputs[{k}], out[{k}], {self._bytes(value.type)}), \"cuMemcpyDtoH (output {k})\");")
        host += ["    return AOTC_OK;", "}", ""]
        device = [
            "int aotc_run_device(aotc_model* model, const uint64_t* inputs, const int64_t* const* input_shapes,",
            "                    const uint64_t* outputs, void* stream) {",
            "    if (!model || !inputs || !outputs) return aotc_fail(AOTC_ERR_ARGUMENT, \"aotc_run_device: null argument\");",
        ]
        for kind, count in (("input", n_in), ("output", n_out)):
            for k in range(count):
                device.append(f"    if (!{kind}s[{k}] || {kind}s[{k}] % {DEVICE_ALIGN}) return aotc_fail(AOTC_ERR_ARGUMENT, "
                              f"\"{kind} {k}: device address 0x%llx is null or not {DEVICE_ALIGN}-byte aligned\", (unsigned long long){kind}s[{k}]);")
        device += prologue + ["    int status = aotc_layout(model, input_shapes, false, syms, slots, regions);",
                              "    if (status != AOTC_OK) return status;"]
        device += [f"    in[{k}] = (CUdeviceptr)inputs[{k}];" for k in range(n_in)]
        device += [f"    out[{k}] = (CUdeviceptr)outputs[{k}];" for k in range(n_out)]
        device += ["    return aotc_launch(model, syms, in, out, regions, (CUstream)stream);", "}"]
        return self.layout_function() + "\n" + self.launch_function() + "\n" + "\n".join(host + device) + "\n"
