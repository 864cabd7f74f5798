"""The ONNX backend node cases, generated in memory by the installed onnx package (no data
files, no network), run through aotc's `onnx.backend.base.Backend` and compared with each
case's own expected outputs using onnx's runner (its tolerances: rtol 1e-3, atol 1e-7 unless
the case declares others)."""
from __future__ import annotations

import contextlib
import functools
import io
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.runner import Runner

from compiler.onnx_backend import AotcBackend, conformance_options


class ConformanceBackend(AotcBackend):
    options = conformance_options()


@functools.cache
def node_cases() -> dict:
    """name -> onnx TestCase (model and data sets), for every node case onnx generates."""
    from onnx.backend.test.loader import load_node_model_tests
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return {case.name: case for case in load_node_model_tests()}


def _array(value):
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    return value


def run_case(case) -> None:
    """Raises (AssertionError, or aotc's one-line error) unless every data set matches."""
    rep = ConformanceBackend.prepare(case.model, "CPU")
    for inputs, expected in case.data_sets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outputs = rep.run([np.asarray(_array(x)) for x in inputs])
        Runner.assert_similar_outputs([_array(e) for e in expected], list(outputs),
                                      rtol=case.rtol, atol=case.atol)
