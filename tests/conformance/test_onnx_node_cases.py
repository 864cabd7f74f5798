"""The ONNX backend node cases (every one the installed onnx generates) against aotc on CPU.

Each case compiles its model with aotc and runs the generated C; only inputs that determine
shapes are specialised to the case's values (compiler/onnx_backend.py). A case listed in
expected_failures.py must fail (strict xfail): one that starts passing must leave the list.
"""
from __future__ import annotations

import pytest

from conformance_harness import node_cases, run_case
from expected_failures import EXPECTED_FAILURES

pytestmark = pytest.mark.conformance


def _params():
    cases = node_cases()
    unknown = sorted(set(EXPECTED_FAILURES) - set(cases))
    if unknown:
        raise ValueError(f"expected_failures.py names cases onnx does not generate: {unknown[:5]}")
    return [pytest.param(name, id=name, marks=pytest.mark.xfail(reason=EXPECTED_FAILURES[name], strict=True))
            if name in EXPECTED_FAILURES else pytest.param(name, id=name)
            for name in sorted(cases)]


@pytest.fixture(scope="module")
def cases():
    return node_cases()


@pytest.mark.parametrize("name", _params())
def test_node_case(name: str, cases) -> None:
    run_case(cases[name])
