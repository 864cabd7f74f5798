"""The CPU backend's per-op cases through wgpu (marker `webgpu`; lavapipe here), against
onnxruntime and the interpreter with the CPU's tolerances (fp32 rel. L2 <= 1e-5, integers
exact). What WGSL cannot hold (float16/float64 and 16-bit integer tensors) must be refused with
one line naming the op and node; those cases skip with that line as the reason."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from compiler.errors import UnsupportedError
from webgpu_testlib import needs_adapter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cpu"))
import test_cpu_ops  # noqa: E402
import test_cpu_ops_contraction  # noqa: E402
import test_cpu_ops_movement  # noqa: E402
import test_cpu_ops_nn  # noqa: E402
from cpu_testlib import check_case, params  # noqa: E402

pytestmark = needs_adapter

OP_CASES = (test_cpu_ops.CASES + test_cpu_ops_contraction.CASES + test_cpu_ops_movement.CASES
            + test_cpu_ops_nn.CASES)

XFAILS = {
    **test_cpu_ops.XFAILS, **test_cpu_ops_contraction.XFAILS, **test_cpu_ops_movement.XFAILS,
    **test_cpu_ops_nn.XFAILS,
    # (Mesa's llvmpipe stops an invocation's loops after 65,535 iterations in all; a row
    # reduction now splits its row over a workgroup's 64 invocations (rows.py), so the
    # million-element ReduceSum case stays under that limit and passes.)
}


@pytest.mark.parametrize("case", params(OP_CASES, XFAILS))
def test_op_case_on_webgpu(case):
    try:
        check_case(case, target="webgpu")
    except UnsupportedError as error:
        message = str(error)
        assert "\n" not in message and "is not supported by target webgpu" in message and "(node '" in message
        pytest.skip(message)


@pytest.mark.parametrize("case", params(test_cpu_ops_contraction.CASES, test_cpu_ops_contraction.XFAILS))
def test_contraction_case_on_the_first_variant(case, monkeypatch):
    """The contraction cases again with every GEMM in its first variant (the unrolled template,
    128x128 8x8 where the problem is that large): lavapipe's default is the compact kernel."""
    import backends.webgpu.runtime as runtime
    monkeypatch.setattr(runtime, "default_policy", lambda software: 0)
    check_case(case, target="webgpu")
