"""The loop IR: kernels as loop nests over scalar expressions.

A kernel is what one fused group of graph nodes becomes. Loops carry a kind (serial, parallel,
vectorized, unrolled, GPU block/thread, HLS pipeline) instead of there being a node type per
target; buffers carry a memory scope. Every backend prints this IR; none pattern-matches ops.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Union

from compiler.ir.attention_spec import AttentionSpec
from compiler.ir.contraction import Contraction
from compiler.ir.dtypes import DType
from compiler.ir.types import SymSize

INDEX = DType.int64  # loop variables and address arithmetic


class Scope(enum.Enum):
    GLOBAL = "global"        # kernel parameter: model input/output, weight or arena slice
    SHARED = "shared"        # GPU shared / WebGPU workgroup memory
    LOCAL = "local"          # registers / stack
    ONCHIP = "onchip"        # FPGA BRAM/URAM, partitioned by the HLS backend


class LoopKind(enum.Enum):
    SERIAL = "serial"
    PARALLEL = "parallel"            # CPU threads (OpenMP)
    VECTORIZED = "vectorized"        # SIMD lanes
    UNROLLED = "unrolled"
    GPU_BLOCK = "gpu_block"          # blockIdx / workgroup_id
    GPU_THREAD = "gpu_thread"        # threadIdx / local_invocation_id
    HLS_PIPELINE = "hls_pipeline"    # #pragma HLS PIPELINE II=1


# ---------------------------------------------------------------- expressions

@dataclass(frozen=True, slots=True)
class Const:
    value: Union[int, float, bool]
    dtype: DType


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    dtype: DType = INDEX


@dataclass(frozen=True, slots=True)
class Load:
    buffer: str
    index: "Expr"
    dtype: DType


# Binary operators. Arithmetic keeps the operand dtype; comparisons and logic give bool.
ARITH_OPS = ("add", "sub", "mul", "div", "mod", "min", "max", "pow", "shl", "shr", "bitand", "bitor", "bitxor")
COMPARE_OPS = ("lt", "le", "gt", "ge", "eq", "ne")
LOGIC_OPS = ("and", "or", "xor")


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    a: "Expr"
    b: "Expr"

    def __post_init__(self) -> None:
        if self.op not in ARITH_OPS + COMPARE_OPS + LOGIC_OPS:
            raise ValueError(f"unknown binary op '{self.op}'")

    @property
    def dtype(self) -> DType:
        return self.a.dtype if self.op in ARITH_OPS else DType.bool


# Math functions every backend maps through its own table (a missing entry fails loudly).
FUNCTIONS = ("exp", "log", "sqrt", "tanh", "erf", "abs", "floor", "ceil", "sin", "cos", "neg",
             "not", "isnan", "sign", "sigmoid", "recip", "tan", "asin", "acos", "atan", "sinh", "cosh",
             "asinh", "acosh", "atanh", "round", "bitnot")


@dataclass(frozen=True, slots=True)
class Call:
    fn: str
    args: tuple["Expr", ...]

    def __post_init__(self) -> None:
        if self.fn not in FUNCTIONS:
            raise ValueError(f"unknown function '{self.fn}'")

    @property
    def dtype(self) -> DType:
        return DType.bool if self.fn in ("isnan", "not") else self.args[0].dtype


@dataclass(frozen=True, slots=True)
class Select:
    cond: "Expr"
    a: "Expr"
    b: "Expr"

    @property
    def dtype(self) -> DType:
        return self.a.dtype


@dataclass(frozen=True, slots=True)
class Cast:
    dtype: DType
    a: "Expr"
    # Reinterpret the bits (same size) instead of converting the value.
    bits: bool = False


Expr = Union[Const, Var, Load, Binary, Call, Select, Cast]


# ---------------------------------------------------------------- statements

@dataclass(frozen=True, slots=True)
class For:
    var: str
    extent: Expr
    body: "Stmt"
    kind: LoopKind = LoopKind.SERIAL
    # unroll factor or vector width where the kind needs one; 0 = backend's choice
    factor: int = 0
    # Scalars the body folds into ((variable, "add" | "mul" | "max" | "min"), ...): declares
    # the loop a reduction, so a backend may vectorize or split it (reassociating).
    reductions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Block:
    stmts: tuple["Stmt", ...]


@dataclass(frozen=True, slots=True)
class Store:
    buffer: str
    index: Expr
    value: Expr


@dataclass(frozen=True, slots=True)
class Declare:
    """A scalar local variable with an initial value (an accumulator, a hoisted index)."""
    var: str
    dtype: DType
    init: Expr


@dataclass(frozen=True, slots=True)
class Assign:
    var: str
    value: Expr


@dataclass(frozen=True, slots=True)
class If:
    cond: Expr
    then: "Stmt"
    otherwise: "Stmt | None" = None


@dataclass(frozen=True, slots=True)
class LocalArray:
    """A fixed-size array private to the enclosing block: one per thread when declared inside
    a parallel loop (a softmax row, an accumulator tile). Loaded and stored by name."""
    name: str
    dtype: DType
    size: int


@dataclass(frozen=True, slots=True)
class Barrier:
    """Synchronise the threads of a GPU block / WebGPU workgroup (uniform control flow only)."""


Stmt = Union[For, Block, Store, Declare, Assign, If, LocalArray, Barrier]


# ---------------------------------------------------------------- kernels

@dataclass(frozen=True, slots=True)
class Buffer:
    name: str
    dtype: DType
    size: SymSize               # elements
    scope: Scope = Scope.GLOBAL
    writable: bool = False
    # On-chip (FPGA) or shared buffers: split into this many banks so that many elements can
    # be read per cycle (HLS ARRAY_PARTITION cyclic factor; GPU bank padding). 1 = unpartitioned.
    partition: int = 1


@dataclass(frozen=True, slots=True)
class KernelCost:
    """Work estimates for `aotc inspect` and the roofline cost model, per run with every
    symbolic dimension taken as 1."""
    flops: int
    bytes: int


@dataclass(frozen=True)
class Kernel:
    """One generated function: global buffers are its parameters (inputs then outputs),
    `symbols` the run-time dimension values it reads as int64 scalars."""
    name: str
    params: tuple[Buffer, ...]
    symbols: tuple[str, ...]
    body: Stmt
    locals: tuple[Buffer, ...] = ()
    ops: tuple[str, ...] = ()           # the graph ops it implements, for inspect
    nodes: tuple[str, ...] = ()         # the graph nodes it implements
    cost: KernelCost = field(default_factory=lambda: KernelCost(0, 0))
    # Set for GEMM-shaped kernels: backends with a contraction template print that instead of
    # `body`, which stays as the portable loop-nest definition.
    contraction: "Contraction | None" = None
    # Set for Attention kernels: backends with a flash-attention template print that instead.
    attention: "AttentionSpec | None" = None
    # (output, input) parameter-index pairs where the output may be written over the input's
    # bytes: element i of the output reads element i of that input and nothing else of it, so a
    # planner may give a dying input's buffer to the output (in-place).
    overwritable: tuple[tuple[int, int], ...] = ()

    @property
    def inputs(self) -> tuple[Buffer, ...]:
        return tuple(b for b in self.params if not b.writable)

    @property
    def outputs(self) -> tuple[Buffer, ...]:
        return tuple(b for b in self.params if b.writable)
