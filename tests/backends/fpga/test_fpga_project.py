"""The generated project itself: byte-identical across compiles, the testbench Vitis would run
agrees with aotc's runtime, the CLI writes DIR/hls/ and inspect shows the estimate, and what
cannot be built fails with one line before anything is written."""
from __future__ import annotations

import dataclasses
import os
import subprocess

import numpy as np
import pytest

import compiler
from backends.buildcache import build_cached
from backends.fpga_hls.build import ap_types_dir, cxx_command
from compiler.api import compile_to_directory
from compiler.cli import main
from compiler.errors import UnsupportedError
from compiler.options import CompileOptions
from compiler.target import resolve_target
from conftest import tree_bytes
from fpga_testlib import lenet

pytestmark = pytest.mark.fpga


def test_same_model_gives_byte_identical_project(tmp_path):
    model = lenet(seed=0)
    first = compile_to_directory(model, "fpga:xczu9eg", tmp_path / "a", options=CompileOptions(build_cache=None))
    second = compile_to_directory(model, "fpga:xczu9eg", tmp_path / "b", options=CompileOptions(build_cache=None))
    a, b = tree_bytes(first), tree_bytes(second)
    assert a == b
    assert {"hls/run_hls.tcl", "hls/hls_config.cfg", "hls/estimate.json", "hls/firmware/aotc_top.cpp",
            "hls/firmware/aotc_tb.cpp", "hls/firmware/weights.h", "hls/firmware/aotc_dense.h"} <= set(a)
    top = a["hls/firmware/aotc_top.cpp"].decode()
    for pragma in ("#pragma HLS DATAFLOW", "#pragma HLS INTERFACE m_axi", "#pragma HLS INTERFACE s_axilite",
                   "hls::stream<t_s", "ARRAY_PARTITION"):
        assert pragma in top


def test_generated_testbench_agrees_with_the_runtime(tmp_path):
    model = lenet(seed=2)
    art = compiler.compile(model, target="fpga:xcu280")
    firmware = art.directory / "hls" / "firmware"
    files = {p.name: p.read_text() for p in firmware.iterdir() if p.name != "csim_bridge.cpp"}
    command = (cxx_command(), "-std=c++14", "-O2", "-w", f"-I{ap_types_dir()}", "-I.", "aotc_top.cpp",
               "aotc_tb.cpp", "-o", "aotc_tb")
    data, _ = build_cached(command[0], command, files, "aotc_tb", None, what="c++", entry="aotc_tb.cpp")
    exe = tmp_path / "aotc_tb"
    exe.write_bytes(data)
    os.chmod(exe, 0o755)
    x = np.random.default_rng(5).standard_normal((2, 1, 28, 28)).astype(np.float32)
    x.tofile(tmp_path / "in0.bin")
    subprocess.run([str(exe), str(tmp_path), "2"], check=True, capture_output=True)
    assert np.array_equal(np.fromfile(tmp_path / "out0.bin", np.float32).reshape(2, 10), art(x))


def test_cli_writes_hls_project_and_inspect_shows_shares(tmp_path, capsys):
    path = tmp_path / "lenet.onnx"
    path.write_bytes(lenet(seed=0).SerializeToString())
    assert main(["compile", str(path), "--target", "fpga:xcu280", "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "hls" / "run_hls.tcl").is_file()
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "FPGA design (dataflow) for fpga:xcu280" in text
    assert "share of the part: DSP" in text and "DSP roofline" in text


def _model_with(op: str):
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node(op, ["r"], ["y"], name="odd")],
                              "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_unsupported_op_is_one_line_and_nothing_is_written(tmp_path):
    with pytest.raises(UnsupportedError) as error:
        compile_to_directory(_model_with("Cos"), "fpga:xcu280", tmp_path / "out")
    message = str(error.value)
    assert "op Cos (node 'odd') is not supported by target fpga:xcu280" in message and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_model_that_cannot_fit_names_its_smallest_need(tmp_path):
    tiny = resolve_target("fpga:xczu9eg")
    limits = tuple((k, 4 if k in ("dsp", "bram18k") else v) for k, v in tiny.limits)
    with pytest.raises(UnsupportedError) as error:
        compile_to_directory(lenet(seed=0), dataclasses.replace(tiny, limits=limits), tmp_path / "out")
    message = str(error.value)
    assert "does not fit fpga:xczu9eg: its smallest design" in message and "DSP" in message
    assert "\n" not in message and not (tmp_path / "out").exists()


@pytest.mark.parametrize("precision", ["float32", "fixed16"])
@pytest.mark.parametrize("scale", [0.02, 0.1, 0.5, 1.0])
def test_search_keeps_every_design_within_the_part(scale, precision):
    """Shrink the part: the search either fits (80% DSP/LUT/FF, 90% BRAM) or says it cannot."""
    from backends.fpga_hls.design import estimate_report, plan_design
    from compiler.frontends.onnx import import_onnx_specialised
    from compiler.pipeline import graph_passes
    part = resolve_target("fpga:xczu9eg")
    limits = tuple((k, max(1, int(v * scale)) if k in ("dsp", "bram18k", "lut", "ff") else v) for k, v in part.limits)
    target = dataclasses.replace(part, limits=limits)
    graph = import_onnx_specialised(lenet(seed=0)).graph
    for graph_pass in graph_passes(target):
        graph = graph_pass(graph)
    try:
        design = plan_design(graph, target, precision)
    except UnsupportedError as error:
        assert "does not fit" in str(error)
        return
    report = estimate_report(design, target)
    for key, share in report["share"].items():
        assert share <= (0.9 if key == "bram" else 0.8), f"{key} {share:.1%} at scale {scale}"
