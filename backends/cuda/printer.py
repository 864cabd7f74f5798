"""The CUDA backend's kernel printer: one model.cu of `extern "C" __global__` kernels.

Loop kernels come from the shared C-style printer; each phase (grid.py) becomes a kernel whose
leading independent loops are flattened into a grid-stride loop. Contractions come from the
tiled GEMM template (gemm.py). Float math uses CUDA's device math library (expf, erff, ... with
the library's documented ulp bounds, no --use_fast_math), so results track numpy closely.

Kernels are named by a hash of their text: identical kernels of a model (every residual block's
Add+Relu, say) are printed and loaded once, and the names do not depend on graph node names.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace

from compiler.ir.dtypes import DType
from compiler.ir.loops import INDEX, Binary, Cast, Const, Expr, Kernel, LocalArray, Load, Store
from compiler.target import Target
from backends.base import LoweredModel
from backends.cstyle import INDENT, CStylePrinter
from compiler.ir.config import KernelConfig
from backends.cuda import attention, gemm, gemm_mma, space, vectorize, warp_rows
from backends.cuda.grid import Phase, phases
from backends.cuda.mathlib import MATHLIB_CU
# Threads per block of loop kernels: the default of their config space (space.py).
from backends.cuda.space import THREADS

_PLACEHOLDER = "AOTC_KERNEL_NAME"


@dataclass(frozen=True)
class Launch:
    """One cuLaunchKernel: the function, its grid as index expressions over the model's symbols
    (host code evaluates them), and the threads per block."""
    function: str
    grid: tuple[Expr, Expr, Expr]
    block: int
    workspace: int = 0          # floats of gemm.WORKSPACE it needs (split-K's partial sums)


# Half types in memory; in registers their values are floats: loads widen, math runs in float
# (no half arithmetic, whose per-op rounding would cost accuracy), stores round to nearest even.
HALF_STORAGE = {DType.float16: "__half", DType.bfloat16: "__nv_bfloat16"}
_WIDEN = {DType.float16: "__half2float", DType.bfloat16: "__bfloat162float"}
_NARROW = {DType.float16: "__float2half_rn", DType.bfloat16: "__float2bfloat16_rn"}


class CudaPrinter(CStylePrinter):
    types = {**CStylePrinter.types, DType.float16: "float", DType.bfloat16: "float"}
    float_functions = {**CStylePrinter.float_functions, "pow": ("powf({0}, {1})", "aotc_pow({0}, {1})")}
    restrict = "__restrict__"
    kernel_prefix = f'extern "C" __global__ void __launch_bounds__({THREADS})'

    def barrier(self) -> str:
        return "__syncthreads()"

    def storage_type(self, dtype: DType) -> str:
        return HALF_STORAGE.get(dtype) or self.type_name(dtype)

    def param(self, buf, may_alias: bool = False) -> str:
        const = "" if buf.writable else "const "
        restrict = "" if may_alias else f" {self.restrict}"
        return f"{const}{self.storage_type(buf.dtype)}*{restrict} {buf.name}"

    def expr(self, e) -> str:
        if isinstance(e, Load) and e.dtype in HALF_STORAGE:
            return f"{_WIDEN[e.dtype]}({e.buffer}[{self.expr(e.index)}])"
        if isinstance(e, Const) and e.dtype in HALF_STORAGE:
            return self.const(Const(e.value, DType.float32))
        if isinstance(e, Cast) and e.bits and (e.dtype in HALF_STORAGE or e.a.dtype in HALF_STORAGE):
            raise NotImplementedError(f"CUDA: no bit cast between {e.a.dtype.value} and {e.dtype.value}")
        if isinstance(e, Cast) and e.dtype in HALF_STORAGE:
            # The value is a float in a register; round it to the half type and widen it again.
            return f"{_WIDEN[e.dtype]}({_NARROW[e.dtype]}((float)({self.expr(e.a)})))"
        return super().expr(e)

    def stmt(self, s, depth: int) -> list[str]:
        if isinstance(s, Store) and s.value.dtype in HALF_STORAGE:
            return [f"{INDENT * depth}{s.buffer}[{self.expr(s.index)}] = "
                    f"{_NARROW[s.value.dtype]}({self.expr(s.value)});"]
        if isinstance(s, LocalArray) and s.dtype in HALF_STORAGE:
            return [f"{INDENT * depth}{HALF_STORAGE[s.dtype]} {s.name}[{s.size}]{self.local_array_suffix};"]
        return super().stmt(s, depth)

    def call(self, fn: str, args: list[str], dtype: DType) -> str:
        if dtype in HALF_STORAGE:
            dtype = DType.float32
        # Functions, not the base table's ternaries: those repeat their arguments, so nested
        # max/min (a 3x3 max pool) would grow exponentially in text and in nvcc's time.
        if fn in ("max", "min"):
            return f"aotc_{fn}<{self.type_name(dtype)}>({args[0]}, {args[1]})"
        if fn == "sign" and dtype.is_float:
            return f"aotc_sign<{self.type_name(dtype)}>({args[0]})"
        return super().call(fn, args, dtype)

    def kernel(self, kernel: Kernel) -> str:
        # Ops only, not node names: duplicate kernels must print identically.
        return "\n".join([f"/* {', '.join(kernel.ops)} */", self.signature(kernel) + " {",
                          *self.stmt(kernel.body, 1), "}"]) + "\n"

    def phase_kernel(self, kernel: Kernel, phase: Phase, rows: dict | None = None,
                     vectors: vectorize.VectorPlan | None = None) -> str:
        """The phase's loops flattened into one grid-stride index, then its body per index: one
        thread per index, a warp per index (`rows`, warp_rows.py), or four indices per thread
        with float4 accesses (`vectors`, vectorize.py)."""
        named = replace(kernel, name=_PLACEHOLDER)
        if not phase.loops:
            return self.kernel(replace(named, body=phase.body))
        extents = [f"({self.expr(loop.extent)})" for loop in phase.loops]
        lines = [f"/* {', '.join(kernel.ops)} */", self.signature(named) + " {",
                 f"{INDENT}const int64_t aotc_total = {' * '.join(extents)};"]
        stride = "(int64_t)gridDim.x * blockDim.x"
        start = "(int64_t)blockIdx.x * blockDim.x + threadIdx.x"
        if rows is not None:
            lines += [f"{INDENT}const int aotc_lane = threadIdx.x % {warp_rows.WARP};",
                      f"{INDENT}for (int64_t aotc_flat = ({start}) / {warp_rows.WARP}; aotc_flat < aotc_total; "
                      f"aotc_flat += {stride} / {warp_rows.WARP}) {{"]
            lines += self._indices(phase, extents, "aotc_flat")
            lines += warp_rows.print_body(self, phase, rows, warp_rows.declared_types(phase), 2)
        elif vectors is not None:
            lines += vectorize.print_phase(self, phase, vectors, extents, start, stride,
                                           lambda flat, inner, depth: self._indices(phase, extents, flat, inner, depth))
        else:
            lines.append(f"{INDENT}for (int64_t aotc_flat = {start}; aotc_flat < aotc_total; aotc_flat += {stride}) {{")
            lines += self._indices(phase, extents, "aotc_flat")
            lines += self.stmt(phase.body, 2)
        lines += [INDENT + "}", "}"]
        return "\n".join(lines) + "\n"

    def _indices(self, phase: Phase, extents: list[str], flat: str, inner: str | None = None,
                 depth: int = 2) -> list[str]:
        """The phase's loop variables from the flat index, innermost fastest (the innermost
        named `inner` when given). Static extents whose product fits 32 bits divide in 32-bit
        arithmetic: a 64-bit division by a constant costs several times as many instructions."""
        pad = INDENT * depth
        names = [loop.var for loop in phase.loops]
        if inner is not None:
            names[-1] = inner
        if len(phase.loops) == 1:
            return [f"{pad}const int64_t {names[0]} = {flat};"]
        static = [loop.extent.value for loop in phase.loops if isinstance(loop.extent, Const)]
        narrow = len(static) == len(phase.loops) and math.prod(static) < 2 ** 31
        if narrow:
            lines = [f"{pad}uint32_t aotc_rest = (uint32_t)({flat});"]
            divisors = [f"{n}u" for n in static]
        else:
            lines = [f"{pad}int64_t aotc_rest = {flat};"]
            divisors = extents
        for name, divisor in reversed(list(zip(names[1:], divisors[1:]))):
            lines.append(f"{pad}const int64_t {name} = aotc_rest % {divisor}; aotc_rest /= {divisor};")
        return lines + [f"{pad}const int64_t {names[0]} = aotc_rest;"]


def _grid_stride(phase: Phase, target: Target, choice: space.LoopChoice, threads_per_index: int = 1,
                 indices_per_thread: int = 1) -> tuple[Expr, Expr, Expr]:
    one = Const(1, INDEX)
    if not phase.loops:
        return (one, one, one)
    total = phase.grid_size()
    per_block = choice.threads * indices_per_thread // threads_per_index
    blocks = Binary("div", Binary("add", total, Const(per_block - 1, INDEX)), Const(per_block, INDEX))
    cap = Const(target.limit("sms") * choice.blocks_per_sm, INDEX)
    return (Binary("min", blocks, cap), one, one)


def _named(text: str) -> tuple[str, str]:
    name = "aotc_" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return name, text.replace(_PLACEHOLDER, name)


def kernel_functions(kernel: Kernel, target: Target, config: KernelConfig = KernelConfig()
                     ) -> list[tuple[str, str, Launch]]:
    """(function name, text, launch) for each CUDA function one program kernel runs as, with
    the template parameters `config` names (space.py; the heuristics' for what it leaves out)."""
    printer = CudaPrinter()
    default_bounds = f"__launch_bounds__({THREADS})"
    if kernel.contraction is not None:
        spec = kernel.contraction
        plain = printer.signature(replace(kernel, name=_PLACEHOLDER))
        mma = gemm_mma.choose(spec, {buffer.name: buffer.dtype for buffer in kernel.params}, target)
        if mma is not None:
            bounds = f"__launch_bounds__({mma.tiles.threads}, {mma.min_blocks})"
            function, text = _named(gemm_mma.render(spec, mma, plain.replace(f"__launch_bounds__({THREADS})", bounds, 1)))
            return [(function, text, Launch(function, gemm_mma.grid(spec, mma), mma.tiles.threads))]
        choice = space.gemm_choice(spec, config, target)
        plan = choice.plan
        # Tell ptxas how many blocks must fit an SM (the tile's register budget), or it may
        # spend more registers and fit fewer.
        signature = plain.replace(default_bounds, choice.launch_bounds(), 1)
        out = []
        for text, grid, threads in gemm.functions(spec, plan, signature, plain, target.limit("sms")):
            function, text = _named(text)
            out.append((function, text, Launch(function, grid, threads, plan.workspace(spec))))
        return out
    if kernel.attention is not None:
        printed = _attention_function(printer, kernel, target, config)
        if printed is not None:
            return [printed]
    choice = space.loop_choice(kernel, config)
    bounds = f"__launch_bounds__({choice.threads})"
    out = []
    params = {buffer.name: buffer for buffer in kernel.params}
    for phase in phases(kernel.body, kernel.symbols):
        rows = warp_rows.warp_rows(phase)
        vectors = None if rows is not None or not choice.vector else vectorize.vector_plan(phase, params)
        text = printer.phase_kernel(kernel, phase, rows, vectors)
        if phase.loops and choice.threads != THREADS:
            text = text.replace(default_bounds, bounds, 1)
        function, text = _named(text)
        grid = _grid_stride(phase, target, choice, warp_rows.WARP if rows is not None else 1,
                            vectorize.WIDTH if vectors is not None else 1)
        out.append((function, text, Launch(function, grid, choice.threads if phase.loops else 1)))
    return out


def _attention_function(printer: CudaPrinter, kernel: Kernel, target: Target, config: KernelConfig
                        ) -> tuple[str, str, Launch] | None:
    """The flash-attention template's function, or None where its tiles do not fit (the loop
    nest then prints as for any kernel)."""
    spec = kernel.attention
    chosen = space.attention_choice(spec, config, target)
    if chosen is None:
        return None
    tiles, min_blocks = chosen
    plain = printer.signature(replace(kernel, name=_PLACEHOLDER))
    bounds = f"__launch_bounds__({attention.THREADS}, {min_blocks})"
    function, text = _named(attention.render(spec, tiles, plain.replace(f"__launch_bounds__({THREADS})", bounds, 1)))
    one = Const(1, INDEX)
    return function, text, Launch(function, (Const(tiles.blocks(spec), INDEX), one, one), attention.THREADS)


def print_kernels(model: LoweredModel, target: Target) -> tuple[str, dict[str, tuple[Launch, ...]]]:
    """model.cu's text, and the launches each program kernel runs as, by kernel name."""
    functions: dict[str, str] = {}
    launches: dict[str, tuple[Launch, ...]] = {}
    for name in sorted(model.program.kernels):
        printed = kernel_functions(model.program.kernels[name], target, model.configs.get(name, KernelConfig()))
        functions.update((function, text) for function, text, _ in printed)
        launches[name] = tuple(launch for _, _, launch in printed)
    workspace = max((launch.workspace for group in launches.values() for launch in group), default=0)
    body = "\n".join(functions[f] for f in sorted(functions))
    mma = any(gemm_mma.MARK in text for text in functions.values())
    return module_header(workspace, mma) + "\n" + body, launches


def module_header(workspace: int, mma: bool = False) -> str:
    """model.cu's text before its functions: includes, device helpers, split-K's workspace of
    `workspace` floats (none for 0), and the tensor-core helpers where an `mma` kernel needs them."""
    header = ("/* aotc generated CUDA kernels. Do not edit. */\n"
              "#include <stdint.h>\n#include <math.h>\n#include <cuda_fp16.h>\n#include <cuda_bf16.h>\n\n" + MATHLIB_CU + "\n" + gemm.SUPPORT)
    if workspace:
        header += f"\n__device__ float {gemm.WORKSPACE}[{workspace}];\n"
    if mma:
        header += "\n" + gemm_mma.SUPPORT
    return header


__all__ = ["CudaPrinter", "Launch", "kernel_functions", "module_header", "print_kernels"]
