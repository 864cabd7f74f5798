"""The CPU backend's printer: C99 + OpenMP kernels and the model's reentrant C ABI.

Kernels come from the shared C-style printer; this file adds OpenMP pragmas (collapsed
parallel loops, simd, unroll) and prints the run function: bind symbolic dimensions from the
input shapes, place every value (caller buffer, weights blob or arena), call the kernels.
"""
from __future__ import annotations

import math

from compiler.ir.graph import Value
from compiler.ir.dtypes import DType
from compiler.ir.loops import Binary, Cast, Const, For, Kernel, LocalArray, Load, LoopKind, Store
from compiler.ir.types import Sym, TensorType
from compiler.target import Target
from backends.base import LoweredModel, Source
from backends.cstyle import INDENT, CStylePrinter
from backends.cpu.contraction import params_of, vector_width, vector_widths
from backends.cpu.mathlib import FLOAT_FUNCTIONS, MATHLIB_C, vector_types_c
from backends.cpu.narrow import MINIFLOATS, NARROW_C, NARROW_INTS, from_narrow, to_narrow
from backends.cpu.templates.attention import AttentionPrinter
from backends.cpu.templates.gemm import GemmPrinter
from backends.cpu.templates.winograd import WinogradPrinter

HEADER_NAME = "aotc_model.h"
SOURCE_NAME = "model.c"

# Below this many iterations a parallel region costs more than it saves.
MIN_PARALLEL_ITERATIONS = 2


class CPrinter(CStylePrinter):
    local_array_suffix = " __attribute__((aligned(64)))"
    # exp/tanh/erf/sigmoid/max/min go to the inline, vectorizable versions of mathlib.py.
    float_functions = {**CStylePrinter.float_functions,
                       **{fn: (f32 or CStylePrinter.float_functions[fn][0], f64 or CStylePrinter.float_functions[fn][1])
                          for fn, (f32, f64) in FLOAT_FUNCTIONS.items()}}

    # Narrow types travel as bytes; Cast converts them through narrow.py's functions. A
    # bfloat16 value is a float; in memory (buffers, local arrays) it is 16 bits.
    types = {**CStylePrinter.types, **{dtype: "uint8_t" for dtype in (*MINIFLOATS, *NARROW_INTS)},
             DType.bfloat16: "float"}

    def param(self, buf, may_alias: bool = False):
        if buf.dtype is DType.bfloat16:
            restrict = "" if may_alias else f" {self.restrict}"
            return f"{'' if buf.writable else 'const '}uint16_t*{restrict} {buf.name}"
        return super().param(buf, may_alias)

    def stmt(self, s, depth):
        if isinstance(s, Store) and s.value.dtype is DType.bfloat16:
            return [f"{INDENT * depth}{s.buffer}[{self.expr(s.index)}] = aotc_bf16_store({self.expr(s.value)});"]
        if isinstance(s, LocalArray) and s.dtype is DType.bfloat16:
            return [f"{INDENT * depth}uint16_t {s.name}[{s.size}]{self.local_array_suffix};"]
        if isinstance(s, For) and s.kind is LoopKind.PARALLEL:
            return self._parallel(s, depth)
        return super().stmt(s, depth)

    def extra_params(self, kernel: Kernel) -> list[str]:
        return ["int nthreads"]

    def expr(self, e):
        if isinstance(e, Load) and e.dtype is DType.bfloat16:
            return f"aotc_bf16_load({e.buffer}[{self.expr(e.index)}])"
        if isinstance(e, Cast) and (e.dtype.is_narrow or e.a.dtype.is_narrow):
            value = self.expr(e.a)
            if e.a.dtype.is_narrow:
                value = from_narrow(e.a.dtype, value)
            return to_narrow(e.dtype, value) if e.dtype.is_narrow else f"(({self.type_name(e.dtype)})({value}))"
        # max/min against a float constant that is not NaN (Clip, ReLU): mathlib's one-select
        # forms, which vectorize to a compare and a blend.
        if isinstance(e, Binary) and e.op in ("max", "min") and e.a.dtype in (DType.float32, DType.float64):
            bound, value = (e.b, e.a) if isinstance(e.b, Const) else (e.a, e.b)
            if isinstance(bound, Const) and not math.isnan(bound.value):
                suffix = "f" if e.a.dtype is DType.float32 else ""
                return f"aotc_{e.op}c{suffix}({self.expr(value)}, {self.expr(bound)})"
        return super().expr(e)


    def _parallel(self, loop: For, depth: int) -> list[str]:
        chain = [loop]
        while isinstance(chain[-1].body, For) and chain[-1].body.kind is LoopKind.PARALLEL:
            chain.append(chain[-1].body)
        # A vectorized loop right inside whose body has loops of its own (the rows of a softmax
        # or layernorm over [1, T, D]: parallel over the batch of 1, "vectorized" over T) can't
        # vectorize; its iterations are independent, so the threads share it too.
        inner = chain[-1].body
        if isinstance(inner, For) and inner.kind is LoopKind.VECTORIZED and _contains_loop(inner.body):
            chain.append(inner)
        pad = INDENT * depth
        innermost = chain[-1]
        simd = " simd" if not _contains_loop(innermost.body) else ""
        collapse = f" collapse({len(chain)})" if len(chain) > 1 else ""
        lines = [f"{pad}#pragma omp parallel for{simd}{collapse} schedule(static) num_threads(nthreads)"]
        for level, part in enumerate(chain):
            lines.append(f"{INDENT * (depth + level)}{self.loop_header(part)} {{")
        lines += self.stmt(innermost.body, depth + len(chain))
        for level in reversed(range(len(chain))):
            lines.append(INDENT * (depth + level) + "}")
        return lines

    def loop_pragmas(self, loop: For) -> list[str]:
        reduction = "".join(f" reduction({_OMP_REDUCTION[op]}:{var})" for var, op in loop.reductions)
        if loop.kind is LoopKind.VECTORIZED or (loop.reductions and loop.kind is LoopKind.SERIAL):
            return [f"#pragma omp simd{f' simdlen({loop.factor})' if loop.factor else ''}{reduction}"]
        if loop.kind is LoopKind.UNROLLED:
            return [f"#pragma GCC unroll {loop.factor or 4}"]
        return []


_OMP_REDUCTION = {"add": "+", "mul": "*", "max": "max", "min": "min"}


def _contains_loop(stmt) -> bool:
    from compiler.ir.loops import Block, If
    if isinstance(stmt, For):
        return True
    if isinstance(stmt, Block):
        return any(_contains_loop(s) for s in stmt.stmts)
    if isinstance(stmt, If):
        return _contains_loop(stmt.then) or (stmt.otherwise is not None and _contains_loop(stmt.otherwise))
    return False


def _uses_narrow(program) -> bool:
    return any(b.dtype.is_narrow or b.dtype is DType.bfloat16 for kernel in program.kernels.values()
               for b in kernel.params)


def c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def c_comment(text: str) -> str:
    return text.replace("*/", "* /")


HEADER = """\
/* aotc: the C ABI of a compiled model. Generated; do not edit.
 *
 * Reentrant: every handle owns its arena, so handles may run concurrently on different
 * threads (one thread per handle at a time). Weights are read-only and shared: the buffer
 * passed to aotc_create must outlive every handle made from it.
 */
#ifndef AOTC_MODEL_H
#define AOTC_MODEL_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

enum {
    AOTC_OK = 0,
    AOTC_ERR_ARGUMENT = 1,   /* a null pointer or an out-of-range index */
    AOTC_ERR_SHAPE = 2,      /* an input shape disagrees with the model's signature */
    AOTC_ERR_CPU = 3,        /* this CPU lacks an instruction-set feature the library needs */
    AOTC_ERR_MEMORY = 4,     /* allocation failed */
    AOTC_ERR_WEIGHTS = 5,    /* the weights buffer has the wrong size */
    AOTC_ERR_DEVICE = 6      /* GPU artifacts: no usable driver or device, or a device call failed */
};

typedef struct aotc_model aotc_model;

/* The message of the library's most recent failure. Process-wide, not per thread: read it
 * right after the failing call (when handles fail on several threads at once, the text may
 * be another thread's). */
const char* aotc_last_error(void);

int aotc_create(const void* weights, size_t weights_size, aotc_model** out);
void aotc_destroy(aotc_model* model);
int aotc_set_num_threads(aotc_model* model, int threads);

/* inputs[i] / outputs[i]: dense row-major buffers in signature order. input_shapes[i] points
 * to input i's dimensions (its rank many); it may be NULL for models without symbolic
 * dimensions, and is then not checked. */
int aotc_run(aotc_model* model, const void* const* inputs, const int64_t* const* input_shapes,
             void* const* outputs);

/* Seconds per kernel call since create, in execution order (zeros unless compiled with
 * profiling); returns the number of calls. */
int aotc_profile(const aotc_model* model, double* seconds, int count);

size_t aotc_weights_size(void);
int aotc_num_inputs(void);
int aotc_num_outputs(void);
const char* aotc_input_name(int index);
const char* aotc_output_name(int index);
const char* aotc_input_dtype(int index);    /* "f32", "i64", ... */
const char* aotc_output_dtype(int index);
int aotc_input_rank(int index);
int aotc_output_rank(int index);
/* Declared dimensions; -1 marks a symbolic one. */
int aotc_input_dims(int index, int64_t* dims);
/* Output `index`'s shape for the given input shapes. */
int aotc_output_shape(int index, const int64_t* const* input_shapes, int64_t* dims);

#ifdef __cplusplus
}
#endif
#endif
"""


# The last error message; every generated host file starts with it. Deliberately not
# _Thread_local: a TLS block makes every loaded model a glibc TLS module, and a process that
# loads thousands of models (a test run, a tuning job) crashed in glibc's thread-stack TLS
# setup ("Inconsistency detected by ld.so: dl-tls.c ... _dl_allocate_tls_init", exit 127)
# when a thread pool started a thread.
ERROR_SUPPORT = """\
static char aotc_error_text[512];

const char* aotc_last_error(void) { return aotc_error_text; }

static int aotc_fail(int code, const char* format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(aotc_error_text, sizeof aotc_error_text, format, args);
    va_end(args);
    return code;
}

"""


class ModelPrinter:
    """Prints model.c for one LoweredModel; pure."""

    def __init__(self, model: LoweredModel, target: Target, profile: bool = False):
        self.profile = profile
        self.model = model
        self.target = target
        self.graph = model.program.graph
        self.symbols = sorted({d.name for v in self.graph.inputs for d in v.type.shape if isinstance(d, Sym)})
        self.kernels = CPrinter()

    def source(self) -> Source:
        return Source({SOURCE_NAME: self.model_c(), HEADER_NAME: HEADER}, entry=SOURCE_NAME)

    # ------------------------------------------------------------------ pieces
    def model_c(self) -> str:
        program = self.model.program
        parts = [
            f"/* aotc generated model '{c_comment(self.graph.name)}' for {self.target.name}. Do not edit. */",
            "#include <math.h>\n#include <stdarg.h>\n#include <stdbool.h>\n#include <stdint.h>\n"
            "#include <omp.h>\n#include <time.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>",
            f'#include "{HEADER_NAME}"',
            "",
            MATHLIB_C,
            *((NARROW_C,) if _uses_narrow(program) else ()),
            "static inline int64_t aotc_floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }",
            "static inline int64_t aotc_ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }",
            vector_types_c(vector_widths(self.target), vector_width(self.target)),
            "",
            *(self.kernel_text(program.kernels[name]) for name in sorted(program.kernels)),
            self.support(),
            self.signature_tables(),
            self.bind_function(),
            self.create_function(),
            self.run_function(),
        ]
        return "\n".join(parts) + "\n"

    def kernel_text(self, kernel: Kernel) -> str:
        if kernel.contraction is not None:
            params = params_of(self.model.configs[kernel.name], kernel.contraction, self.target)
            printer = WinogradPrinter if params.winograd else GemmPrinter
            return printer(kernel.name, kernel.contraction, params, self.kernels.signature(kernel)).render()
        if kernel.attention is not None:
            return AttentionPrinter(kernel.name, kernel.attention, vector_width(self.target),
                                    self.kernels.signature(kernel)).render()
        return self.kernels.kernel(kernel)

    def support(self) -> str:
        return ERROR_SUPPORT + f"""\
struct aotc_model {{
    const uint8_t* weights;
    uint8_t* arena;
    size_t arena_bytes;
    int threads;
    double seconds[{max(len(self.model.program.calls), 1)}];   /* per call, when profiling */
}};

/* Seconds spent in each kernel call since create (all zero unless built with profiling). */
int aotc_profile(const aotc_model* model, double* seconds, int count) {{
    if (!model || (!seconds && count > 0)) return aotc_fail(AOTC_ERR_ARGUMENT, "aotc_profile: null argument");
    int n = count < {len(self.model.program.calls)} ? count : {len(self.model.program.calls)};
    for (int i = 0; i < n; ++i) seconds[i] = model->seconds[i];
    return {len(self.model.program.calls)};
}}

{self._clock() if self.profile else ""}
#define AOTC_WEIGHTS_BYTES ((size_t){self.model.weights.total})
#define AOTC_NUM_SYMBOLS {len(self.symbols)}

size_t aotc_weights_size(void) {{ return AOTC_WEIGHTS_BYTES; }}

void aotc_destroy(aotc_model* model) {{
    if (model) {{
        free(model->arena);
        free(model);
    }}
}}

int aotc_set_num_threads(aotc_model* model, int threads) {{
    if (!model || threads < 1) return aotc_fail(AOTC_ERR_ARGUMENT, "aotc_set_num_threads: need a handle and threads >= 1");
    model->threads = threads;
    return AOTC_OK;
}}
"""

    @staticmethod
    def _clock() -> str:
        return """static double aotc_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
"""

    def _dims(self, ttype: TensorType) -> str:
        return ", ".join("-1" if isinstance(d, Sym) else str(d) for d in ttype.shape) or "0"

    def signature_tables(self) -> str:
        graph = self.graph
        outs = [Value(name, v.type) for name, v in zip(self.model.output_names, graph.output_values())]
        lines = []
        for kind, values in (("input", graph.inputs), ("output", outs)):
            lines.append(f"static const char* const table_{kind}_names[] = "
                         f"{{{', '.join(c_string(v.name) for v in values) or 'NULL'}}};")
            lines.append(f"static const char* const table_{kind}_dtypes[] = "
                         f"{{{', '.join(c_string(v.type.dtype.value) for v in values) or 'NULL'}}};")
            lines.append(f"static const int table_{kind}_ranks[] = {{{', '.join(str(v.type.rank) for v in values) or '0'}}};")
            for k, v in enumerate(values):
                lines.append(f"static const int64_t table_{kind}{k}_dims[] = {{{self._dims(v.type)}}};")
            lines.append(f"static const int64_t* const table_{kind}_dims[] = "
                         f"{{{', '.join(f'table_{kind}{k}_dims' for k in range(len(values))) or 'NULL'}}};")
        lines.append(f"""
int aotc_num_inputs(void) {{ return {len(graph.inputs)}; }}
int aotc_num_outputs(void) {{ return {len(outs)}; }}
#define AOTC_CHECK_INDEX(i, n) if ((i) < 0 || (i) >= (n)) return 0
const char* aotc_input_name(int i) {{ AOTC_CHECK_INDEX(i, {len(graph.inputs)}); return table_input_names[i]; }}
const char* aotc_output_name(int i) {{ AOTC_CHECK_INDEX(i, {len(outs)}); return table_output_names[i]; }}
const char* aotc_input_dtype(int i) {{ AOTC_CHECK_INDEX(i, {len(graph.inputs)}); return table_input_dtypes[i]; }}
const char* aotc_output_dtype(int i) {{ AOTC_CHECK_INDEX(i, {len(outs)}); return table_output_dtypes[i]; }}
int aotc_input_rank(int i) {{ if (i < 0 || i >= {len(graph.inputs)}) return -1; return table_input_ranks[i]; }}
int aotc_output_rank(int i) {{ if (i < 0 || i >= {len(outs)}) return -1; return table_output_ranks[i]; }}
int aotc_input_dims(int i, int64_t* dims) {{
    if (i < 0 || i >= {len(graph.inputs)} || !dims) return aotc_fail(AOTC_ERR_ARGUMENT, "aotc_input_dims: bad index or null dims");
    memcpy(dims, table_input_dims[i], sizeof(int64_t) * (size_t)table_input_ranks[i]);
    return AOTC_OK;
}}""")
        return "\n".join(lines) + "\n"

    def bind_function(self) -> str:
        """Symbol values from the input shapes, checking every declared dimension."""
        body = []
        first_seen: dict[str, tuple[int, int]] = {}
        for i, value in enumerate(self.graph.inputs):
            for axis, dim in enumerate(value.type.shape):
                got = f"shapes[{i}][{axis}]"
                where = f"input '{c_string(value.name)[1:-1]}' dimension {axis}"
                if isinstance(dim, Sym):
                    k = self.symbols.index(dim.name)
                    if dim.name not in first_seen:
                        first_seen[dim.name] = (i, axis)
                        body.append(f"    if ({got} < 0) return aotc_fail(AOTC_ERR_SHAPE, \"{where} is %lld, must be >= 0\", (long long){got});")
                        body.append(f"    syms[{k}] = {got};")
                    else:
                        body.append(f"    if ({got} != syms[{k}]) return aotc_fail(AOTC_ERR_SHAPE, \"{where} is %lld but symbol '{dim.name}' is %lld\", (long long){got}, (long long)syms[{k}]);")
                else:
                    body.append(f"    if ({got} != {dim}) return aotc_fail(AOTC_ERR_SHAPE, \"{where} is %lld, expected {dim}\", (long long){got});")
        null_check = ("    if (!shapes) return aotc_fail(AOTC_ERR_SHAPE, \"this model has symbolic dimensions: input shapes are required\");"
                      if self.symbols else "    if (!shapes) return AOTC_OK;")
        for i, value in enumerate(self.graph.inputs):
            null_check += f"\n    if (!shapes[{i}]) return aotc_fail(AOTC_ERR_ARGUMENT, \"shape of input {i} is null\");"
        outs = self.graph.output_values()
        out_cases = []
        for j, value in enumerate(outs):
            dims = [f"syms[{self.symbols.index(d.name)}]" if isinstance(d, Sym) else f"{d}" for d in value.type.shape]
            assigns = " ".join(f"dims[{a}] = {d};" for a, d in enumerate(dims))
            out_cases.append(f"    case {j}: {assigns} return AOTC_OK;")
        return f"""\
static int aotc_bind(const int64_t* const* shapes, int64_t* syms) {{
{null_check}
{chr(10).join(body)}
    return AOTC_OK;
}}

int aotc_output_shape(int index, const int64_t* const* input_shapes, int64_t* dims) {{
    int64_t syms[AOTC_NUM_SYMBOLS + 1] = {{0}};
    if (!dims) return aotc_fail(AOTC_ERR_ARGUMENT, "aotc_output_shape: null dims");
    int status = aotc_bind(input_shapes, syms);
    if (status != AOTC_OK) return status;
    (void)syms;
    switch (index) {{
{chr(10).join(out_cases)}
    default: return aotc_fail(AOTC_ERR_ARGUMENT, "aotc_output_shape: no output %d", index);
    }}
}}
"""

    def create_function(self) -> str:
        features = self.target.isa.features if self.target.isa else ()
        checks = "\n".join(
            f"    if (!__builtin_cpu_supports(\"{f}\")) return aotc_fail(AOTC_ERR_CPU, "
            f"\"this library was built for {self.target.name} and needs the CPU feature '{f}', which this CPU lacks\");"
            for f in features)
        static_arena = self._static_arena_bytes()
        return f"""\
int aotc_create(const void* weights, size_t weights_size, aotc_model** out) {{
    if (!out) return aotc_fail(AOTC_ERR_ARGUMENT, "aotc_create: null output handle");
    *out = NULL;
    __builtin_cpu_init();
{checks}
    if (weights_size != AOTC_WEIGHTS_BYTES) return aotc_fail(AOTC_ERR_WEIGHTS, "weights are %zu bytes, expected %zu", weights_size, AOTC_WEIGHTS_BYTES);
    if (!weights && AOTC_WEIGHTS_BYTES) return aotc_fail(AOTC_ERR_ARGUMENT, "aotc_create: null weights");
    aotc_model* model = calloc(1, sizeof *model);
    if (!model) return aotc_fail(AOTC_ERR_MEMORY, "out of memory for the model handle");
    model->weights = weights;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    model->threads = online > 0 ? (int)online : 1;
    model->arena_bytes = {static_arena};
    if (model->arena_bytes) {{
        model->arena = aligned_alloc(64, model->arena_bytes);
        if (!model->arena) {{ free(model); return aotc_fail(AOTC_ERR_MEMORY, "out of memory for a %zu-byte arena", (size_t){static_arena}); }}
    }}
    *out = model;
    return AOTC_OK;
}}
"""

    def _static_arena_bytes(self) -> int:
        memory = self.model.memory
        total = 0
        for region in memory.regions:
            if not region:
                total += _align(memory.region_sizes[region])
        return total

    def _placed(self, name: str) -> str:
        """`region<r> + offset` of an intermediate in the arena (the offset scaled by its
        region's symbolic monomial at run time)."""
        memory = self.model.memory
        place = memory.placements[name]
        offset = f"(size_t){place.offset}" + (f" * (size_t)({self._region_expr(place.region)})" if place.region else "")
        return f"region{memory.regions.index(place.region)} + {offset}"

    def _region_expr(self, region: tuple[str, ...]) -> str:
        return " * ".join(f"syms[{self.symbols.index(s)}]" for s in region) or "1"

    def run_function(self) -> str:
        graph = self.graph
        memory = self.model.memory
        program = self.model.program
        inputs = {v.name: k for k, v in enumerate(graph.inputs)}
        outputs = {name: k for k, name in enumerate(graph.outputs)}
        lines = [
            "int aotc_run(aotc_model* model, const void* const* inputs, const int64_t* const* input_shapes, void* const* outputs) {",
            "    if (!model || !inputs || !outputs) return aotc_fail(AOTC_ERR_ARGUMENT, \"aotc_run: null argument\");",
        ]
        for k in range(len(graph.inputs)):
            lines.append(f"    if (!inputs[{k}]) return aotc_fail(AOTC_ERR_ARGUMENT, \"input {k} is null\");")
        for k in range(len(graph.outputs)):
            lines.append(f"    if (!outputs[{k}]) return aotc_fail(AOTC_ERR_ARGUMENT, \"output {k} is null\");")
        lines += [
            "    int64_t syms[AOTC_NUM_SYMBOLS + 1] = {0};",
            "    int status = aotc_bind(input_shapes, syms);",
            "    if (status != AOTC_OK) return status;",
            "    const int nthreads = model->threads;",
        ]
        # Regions: the static one first, then one per symbolic monomial, each 64-byte aligned.
        lines.append("    size_t cursor = 0;")
        for r, region in enumerate(memory.regions):
            lines.append(f"    const size_t region{r} = cursor;")
            lines.append(f"    cursor += ((size_t){memory.region_sizes[region]} * (size_t)({self._region_expr(region)}) + 63) & ~(size_t)63;")
        lines += [
            "    if (cursor > model->arena_bytes) {",
            "        uint8_t* grown = aligned_alloc(64, cursor);",
            "        if (!grown) return aotc_fail(AOTC_ERR_MEMORY, \"out of memory for a %zu-byte arena\", cursor);",
            "        free(model->arena);",
            "        model->arena = grown;",
            "        model->arena_bytes = cursor;",
            "    }",
            "    uint8_t* const arena = model->arena;",
            "    (void)arena; (void)nthreads;",
        ]

        def pointer(name: str, param) -> str:
            ctype = self.kernels.type_name(param.dtype)
            qual = "" if param.writable else "const "
            if name in inputs:
                return f"({qual}{ctype}*)inputs[{inputs[name]}]"
            if name in outputs:
                return f"({ctype}*)outputs[{outputs[name]}]"
            if name in self.model.constants:
                return f"(const {ctype}*)(model->weights + {self.model.weights.offsets[name]})"
            return f"({ctype}*)(arena + {self._placed(name)})"

        for index, call in enumerate(program.calls):
            kernel = program.kernels[call.kernel]
            args = [pointer(v, p) for p, v in zip(kernel.params, call.args)]
            args += [f"syms[{self.symbols.index(s)}]" for s in kernel.symbols]
            args.append("nthreads")
            lines.append(f"    /* {c_comment(', '.join(call.nodes))} */")
            if self.profile:
                lines.append(f"    {{ const double start = aotc_now(); {kernel.name}({', '.join(args)}); "
                             f"model->seconds[{index}] += aotc_now() - start; }}")
            else:
                lines.append(f"    {kernel.name}({', '.join(args)});")
        lines += ["    return AOTC_OK;", "}"]
        return "\n".join(lines) + "\n"


def _align(value: int, alignment: int = 64) -> int:
    return -(-value // alignment) * alignment


def print_model(model: LoweredModel, target: Target, profile: bool = False) -> Source:
    return ModelPrinter(model, target, profile).source()
