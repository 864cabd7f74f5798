"""Every op in the op table is reachable from ONNX and exercised by a per-op case: one of the
frontend's own cases, or an ONNX backend node case that aotc passes (tests/conformance)."""
from __future__ import annotations

import sys
from pathlib import Path

import test_onnx_elementwise
import test_onnx_nn
import test_onnx_shape
from compiler.frontends.onnx.converters import CONVERTERS
from compiler.ir.ops import OPS

IMPORTED_OPS = {name for name, op in OPS.items() if not op.created_by_passes}
CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"


def _conformance_ops() -> set[str]:
    """Ops of the node cases aotc passes (those not listed as expected failures)."""
    sys.path.insert(0, str(CONFORMANCE))
    try:
        from conformance_harness import node_cases
        from expected_failures import EXPECTED_FAILURES
    finally:
        sys.path.remove(str(CONFORMANCE))
    return {node.op_type for name, case in node_cases().items() if name not in EXPECTED_FAILURES
            for node in case.model.graph.node}


def test_every_op_table_op_has_an_onnx_converter() -> None:
    assert IMPORTED_OPS - set(CONVERTERS) == set()


def test_every_op_table_op_has_a_case() -> None:
    cases = test_onnx_elementwise.CASES + test_onnx_nn.CASES + test_onnx_shape.CASES
    assert IMPORTED_OPS - {case.op for case in cases} - _conformance_ops() == set()
    assert len({case.id for case in cases}) == len(cases)
