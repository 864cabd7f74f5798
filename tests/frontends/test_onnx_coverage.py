"""Every op in the op table is reachable from ONNX and exercised by a per-op case."""
from __future__ import annotations

import test_onnx_elementwise
import test_onnx_nn
import test_onnx_shape
from compiler.frontends.onnx.converters import CONVERTERS
from compiler.ir.ops import OPS


IMPORTED_OPS = {name for name, op in OPS.items() if not op.created_by_passes}


def test_every_op_table_op_has_an_onnx_converter() -> None:
    assert IMPORTED_OPS - set(CONVERTERS) == set()


def test_every_op_table_op_has_a_case() -> None:
    cases = test_onnx_elementwise.CASES + test_onnx_nn.CASES + test_onnx_shape.CASES
    assert IMPORTED_OPS - {case.op for case in cases} == set()
    assert len({case.id for case in cases}) == len(cases)
