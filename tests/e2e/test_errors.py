"""Bad input gets a one-line error naming what and where, a non-zero exit, no traceback and
no half-written artifact."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import compiler
from compiler.errors import ArtifactError, InputError, TargetError, UnsupportedError
from compiler.target import host_has


def aotc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compiler.cli", *args], capture_output=True, text=True, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    lines = [l for l in result.stderr.splitlines() if l.startswith("aotc:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def small_model(op: str = "Relu") -> onnx.ModelProto:
    node = helper.make_node(op, ["x"], ["y"], name=f"{op.lower()}_node")
    graph = helper.make_graph([node], "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "small.onnx"
    onnx.save(small_model(), path)
    return path


@pytest.fixture
def artifact_dir(tmp_path, model_file) -> Path:
    out = tmp_path / "art"
    assert aotc("compile", str(model_file), "-o", str(out), "-q").returncode == 0
    return out


def test_truncated_model_fails_cleanly_and_writes_nothing(tmp_path, model_file):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model_file.read_bytes()[:40])
    out = tmp_path / "out"
    assert_one_line_error(aotc("compile", str(truncated), "-o", str(out)), "truncated.onnx")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")], "temporary directory left behind"


def test_garbage_and_missing_model_files(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\xff" * 1000)
    assert_one_line_error(aotc("compile", str(garbage), "-o", str(tmp_path / "o")), "garbage.onnx")
    assert_one_line_error(aotc("compile", str(tmp_path / "nope.onnx"), "-o", str(tmp_path / "o")), "nope.onnx")
    assert not (tmp_path / "o").exists()


def test_unsupported_op_names_op_and_node(tmp_path):
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores"], ["selected"], name="nms_1")
    graph = helper.make_graph(
        [node], "nms", [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 4, 4]),
                        helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 4])],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])])
    path = tmp_path / "nms.onnx"
    onnx.save(helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)]), path)
    result = aotc("compile", str(path), "-o", str(tmp_path / "o"))
    assert_one_line_error(result, "NonMaxSuppression", "nms_1", "target cpu")
    assert not (tmp_path / "o").exists()
    with pytest.raises(UnsupportedError, match="NonMaxSuppression"):
        compiler.compile(path)


def test_wrong_input_name_shape_dtype_at_run_time(tmp_path, artifact_dir):
    art = compiler.load(artifact_dir)
    good = np.ones((2, 3), np.float32)
    with pytest.raises(InputError, match="unknown input 'z'"):
        art(z=good)
    with pytest.raises(InputError, match=r"input 'x': expected shape \(2,3\)"):
        art(x=np.ones((3, 2), np.float32))
    with pytest.raises(InputError, match="expected rank 2"):
        art(x=np.ones((6,), np.float32))
    with pytest.raises(InputError, match="expected dtype float32, got float64"):
        art(x=good.astype(np.float64))
    with pytest.raises(InputError, match="missing input 'x'"):
        art()
    np.save(tmp_path / "wrong.npy", np.ones((4, 4), np.float32))
    assert_one_line_error(aotc("run", str(artifact_dir), "--input", f"x={tmp_path / 'wrong.npy'}"), "input 'x'")
    assert_one_line_error(aotc("run", str(artifact_dir), "--input", f"q={tmp_path / 'wrong.npy'}"), "unknown input 'q'")
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    assert_one_line_error(aotc("run", str(artifact_dir), "--input", f"x={tmp_path / 'bad.npy'}"), "bad.npy")


def test_missing_artifact_file(artifact_dir):
    (artifact_dir / "libmodel.so").unlink()
    with pytest.raises(ArtifactError, match="missing file libmodel.so"):
        compiler.load(artifact_dir)
    assert_one_line_error(aotc("run", str(artifact_dir)), "missing file libmodel.so")


def test_missing_artifact_directory(tmp_path):
    assert_one_line_error(aotc("inspect", str(tmp_path / "nowhere")), "no such artifact directory")


def test_modified_weights_fail_the_checksum(tmp_path):
    # A model with weights, so weights.bin is not empty.
    w = helper.make_tensor("w", TensorProto.FLOAT, [3, 3], np.arange(9, dtype=np.float32).tolist())
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")
    graph = helper.make_graph([node], "mm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], initializer=[w])
    path = tmp_path / "mm.onnx"
    onnx.save(helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)]), path)
    out = tmp_path / "mm_art"
    compiler.compile(path).save(out)
    data = bytearray((out / "weights.bin").read_bytes())
    data[5] ^= 0xFF
    (out / "weights.bin").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="weights.bin: checksum mismatch"):
        compiler.load(out)
    assert_one_line_error(aotc("run", str(out)), "weights.bin: checksum mismatch")


def test_damaged_manifest(artifact_dir):
    (artifact_dir / "manifest.json").write_text("{ not json")
    assert_one_line_error(aotc("inspect", str(artifact_dir)), "manifest.json: not valid JSON")


@pytest.mark.skipif(host_has("avx512fp16"), reason="this host has AVX512-FP16, so the refusal cannot be shown")
def test_library_for_a_cpu_feature_the_host_lacks_is_refused(tmp_path, model_file):
    out = tmp_path / "spr"
    assert aotc("compile", str(model_file), "--target", "cpu:sapphirerapids", "-o", str(out), "-q").returncode == 0
    with pytest.raises(TargetError, match="needs the CPU feature 'avx512fp16'"):
        compiler.load(out)
    assert_one_line_error(aotc("run", str(out)), "avx512fp16")


def test_unknown_target(model_file, tmp_path):
    assert_one_line_error(aotc("compile", str(model_file), "--target", "cpu:pentium", "-o", str(tmp_path / "o")),
                          "unknown CPU ISA 'pentium'")
    assert_one_line_error(aotc("compile", str(model_file), "--target", "cuda:sm_75", "-o", str(tmp_path / "o")),
                          "unknown CUDA architecture 'sm_75'")
    assert not (tmp_path / "o").exists()
