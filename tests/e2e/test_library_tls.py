"""A compiled library carries no thread-local storage: a process loads thousands of them (test
runs, tuning jobs), and each TLS module pushed glibc into its dl-tls assertion once ~1,000 were
loaded and a thread pool started a thread (the worker exited with status 127)."""
from __future__ import annotations

import struct

import numpy as np
from onnx import TensorProto, helper

from compiler.api import compile_to_directory

PT_TLS = 7


def program_header_types(path) -> list[int]:
    """p_type of every ELF64 program header."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "not an ELF64 file"
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]


def test_compiled_library_has_no_tls_segment(tmp_path) -> None:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], np.ones(16, np.float32))
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "tls",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [weight])
    model = helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])
    out = compile_to_directory(model, "cpu", tmp_path / "m")
    types = program_header_types(out / "libmodel.so")
    assert types, "no program headers read"
    assert PT_TLS not in types
