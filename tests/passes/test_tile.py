"""KernelConfig records serialise to JSON and back, and the tile pass replays them on kernels."""
from __future__ import annotations

import pytest

from backends.cpu.printer import CPrinter
from compiler.ir.config import KernelConfig, Param, Serial, Unroll, Vectorize
from compiler.ir.dtypes import DType
from compiler.ir.graph import Node, Value
from compiler.ir.ops import NoAttrs
from compiler.ir.types import TensorType
from passes.lower.elementwise import lower_elementwise
from passes.tile import apply_config, loop_vars


def add_kernel():
    t = TensorType((4, 8), DType.float32)
    b = TensorType((8,), DType.float32)
    node = Node("Add", "add", ("a", "b"), (Value("c", t),), NoAttrs())
    return lower_elementwise(node, [t, b], [t])


def test_config_json_round_trip():
    config = KernelConfig((Serial("i0"), Unroll("i1", 4), Vectorize("i1", 8), Param("MR", 6)))
    assert KernelConfig.from_json(config.to_json()) == config
    assert config.param("MR", 1) == 6 and config.param("NR", 16) == 16
    with pytest.raises(ValueError, match="unknown config record"):
        KernelConfig.from_json([{"kind": "Teleport", "loop": "i0"}])


def test_tile_replays_records_on_loops():
    kernel = add_kernel()
    assert loop_vars(kernel.body) == {"i0", "i1"}
    text = CPrinter().kernel(kernel)
    assert "#pragma omp parallel for" in text and "#pragma omp simd" in text
    tiled = apply_config(kernel, KernelConfig((Serial("i0"), Unroll("i1", 4))))
    text = CPrinter().kernel(tiled)
    assert "omp parallel" not in text and "#pragma GCC unroll 4" in text


def test_stale_record_naming_a_missing_loop_is_an_error():
    with pytest.raises(ValueError, match="names loop 'k9'"):
        apply_config(add_kernel(), KernelConfig((Serial("k9"),)))
