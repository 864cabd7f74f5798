"""The WebGPU backend without a device: WGSL text for small kernels, the legalisation's one-line
errors, the target's limits, the artifact's files and its plan (bindings within the limits,
256-byte aligned offsets), and byte-identical recompiles."""
from __future__ import annotations

import json

import numpy as np
import onnx.helper as oh
import pytest

from compiler.errors import UnsupportedError
from compiler.ir.dtypes import DType
from compiler.ir.loops import Binary, Buffer, Call, Cast, Const, For, Kernel, Load, LoopKind, Select, Store, Var
from compiler.target import resolve_target
from backends.webgpu.printer import ParamAccess, WgslPrinter
from backends.webgpu.shaders import kernel_shaders
from conftest import tree_bytes

TARGET = resolve_target("webgpu")


def _printer(**dtypes):
    return WgslPrinter({name: ParamAccess("arena", f"p{k}", DType(d)) for k, (name, d) in enumerate(dtypes.items())},
                       {"batch": "s0"})


def test_target_carries_the_spec_default_limits():
    assert TARGET.limit("invocations_per_workgroup") == 256
    assert TARGET.limit("workgroup_storage") == 16 * 1024
    assert TARGET.limit("storage_buffers_per_stage") == 8
    assert TARGET.limit("binding_bytes") == 128 * 1024 * 1024
    assert TARGET.limit("offset_alignment") == 256 == TARGET.memory_alignment


def test_expressions_follow_wgsl():
    p = _printer(x="f32", ids="i64", flags="bool")
    i = Var("i")
    x = Load("x", i, DType.float32)
    assert p.expr(x) == "bitcast<f32>(arena[u.p0 + u32(v_i)])"
    assert p.expr(Load("ids", i, DType.int64)) == "bitcast<i32>(arena[u.p1 + 2u * u32(v_i)])"
    assert "!= 0u" in p.expr(Load("flags", i, DType.bool))
    assert p.expr(Select(Binary("lt", x, Const(0.0, DType.float32)), Const(1.0, DType.float32), x)) == \
        "select(bitcast<f32>(arena[u.p0 + u32(v_i)]), 1.0f, (bitcast<f32>(arena[u.p0 + u32(v_i)]) < 0.0f))"
    assert p.expr(Cast(DType.int32, x)) == "i32(i32(bitcast<f32>(arena[u.p0 + u32(v_i)])))"
    assert p.expr(Const(float("inf"), DType.float32)) == "bitcast<f32>(aotc_inf_bits)"
    assert p.expr(Const(2 ** 62, DType.int64)) == f"{2 ** 31 - 1}i"      # int64 sentinels saturate
    assert p.expr(Var("batch")) == "u.s0"
    assert p.expr(Binary("max", x, x)).startswith("aotc_maxf(")
    assert p.expr(Call("erf", (x,))).startswith("aotc_erf(")


def test_int64_stores_write_the_sign_word():
    lines = _printer(ids="i64").stmt(Store("ids", Var("i"), Const(-3, DType.int64)), 0)
    text = "\n".join(lines)
    assert "bitcast<u32>(aotc_v)" in text and "select(0u, 0xffffffffu, aotc_v < 0i)" in text


def _kernel(dtype: DType) -> Kernel:
    x = Buffer("x", dtype, 16)
    y = Buffer("y", dtype, 16, writable=True)
    body = For("i", Const(16, DType.int64), Store("y", Var("i"), Load("x", Var("i"), dtype)), LoopKind.PARALLEL)
    return Kernel("k", (x, y), (), body, ops=("Identity",), nodes=("copy_1",))


def test_loop_kernel_becomes_a_grid_stride_shader():
    (shader,) = kernel_shaders(_kernel(DType.float32), {"x": "w0", "y": "arena"}, TARGET)
    assert "@group(0) @binding(1) var<storage, read> w0: array<u32>;" in shader.text
    assert "@group(0) @binding(2) var<storage, read_write> arena: array<u32>;" in shader.text
    assert "@compute @workgroup_size(256)" in shader.text and "aotc_stride" in shader.text


@pytest.mark.parametrize("dtype", [DType.float16, DType.float64, DType.int16])
def test_unsupported_dtypes_fail_with_one_line(dtype):
    with pytest.raises(UnsupportedError) as error:
        kernel_shaders(_kernel(dtype), {"x": "arena", "y": "arena"}, TARGET)
    message = str(error.value)
    assert "\n" not in message and "op Identity (node 'copy_1')" in message and "webgpu" in message


def test_byte_outputs_are_stored_by_atomics():
    """Invocations writing neighbouring bool elements share a word: and/or, never a plain store."""
    (shader,) = kernel_shaders(_kernel(DType.bool), {"x": "arena", "y": "arena"}, TARGET)
    assert "var<storage, read_write> arena: array<atomic<u32>>;" in shader.text
    assert "atomicAnd(&arena[aotc_w], ~(0xffu << aotc_s));" in shader.text and "atomicLoad(&arena[" in shader.text


def _matmul_model():
    rng = np.random.default_rng(0)
    w = oh.make_tensor("w", 1, (64, 32), rng.standard_normal((64, 32)).astype(np.float32).ravel())
    graph = oh.make_graph([oh.make_node("MatMul", ["x", "w"], ["h"]), oh.make_node("Relu", ["h"], ["y"])], "mm",
                          [oh.make_tensor_value_info("x", 1, ["batch", 64])],
                          [oh.make_tensor_value_info("y", 1, ["batch", 32])], [w])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])


def test_artifact_files_and_plan(tmp_path):
    from compiler.api import compile_to_directory
    out = compile_to_directory(_matmul_model(), "webgpu", tmp_path / "a")
    for name in ("manifest.json", "weights.bin", "runtime.js", "index.html", "kernels/dispatches.json", "graph.ir"):
        assert (out / name).is_file(), name
    plan = json.loads((out / "kernels/dispatches.json").read_text())
    assert plan["symbols"] == [{"name": "batch", "input": 0, "axis": 0}]
    assert all(pool["bytes"] <= TARGET.limit("binding_bytes") for pool in plan["weight_pools"])
    for dispatch in plan["dispatches"]:
        assert len(dispatch["pools"]) <= TARGET.limit("storage_buffers_per_stage")
        assert (out / dispatch["shader"]).is_file()
        for u in dispatch["uniforms"]:
            assert "symbol" in u or u["offset"] % 256 == 0
    shader = (out / plan["dispatches"][0]["shader"]).read_text()
    assert "var<workgroup> a_tile: array<array<vec4<f32>," in shader and "workgroupBarrier();" in shader
    assert "aotc_maxf(v, 0.0f)" in shader   # the Relu applied as the GEMM's epilogue
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target"]["kind"] == "webgpu" and manifest["codegen_version"] == "webgpu-1"


def test_same_model_gives_a_byte_identical_artifact(tmp_path):
    from compiler.api import compile_to_directory
    first = compile_to_directory(_matmul_model(), "webgpu", tmp_path / "a")
    second = compile_to_directory(_matmul_model(), "webgpu", tmp_path / "b")
    assert tree_bytes(first) == tree_bytes(second)


@pytest.mark.zoo
def test_zoo_compiles_within_the_binding_limits(zoo_path, tmp_path):
    """Every zoo model (ResNet-50 too) compiles; no dispatch binds more than the per-stage limit."""
    from compiler.api import compile_to_directory
    for name in ("resnet50", "gpt2"):
        out = compile_to_directory(str(zoo_path(name)), "webgpu", tmp_path / name)
        plan = json.loads((out / "kernels/dispatches.json").read_text())
        assert max(len(d["pools"]) for d in plan["dispatches"]) <= TARGET.limit("storage_buffers_per_stage")
