"""The artifact in a browser (marker `webgpu`): headless Chromium (Debian's, SwiftShader's
WebGPU adapter) driven by node's playwright-core opens the artifact's own index.html, served on
localhost, with the test's input; the page's output matches onnxruntime (rel. L2 <= 1e-4) and
every shader passed Tint on the way (runtime.js fails the page on a compilation error); the
attention template's forms likewise against the interpreter."""
from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading

import numpy as np
import onnxruntime as ort
import pytest

from compiler.api import compile_to_directory
from conftest import rel_l2, zoo_inputs
from webgpu_testlib import BROWSER_DIR, CHROMIUM, needs_browser

pytestmark = [*needs_browser, pytest.mark.zoo]

TOLERANCE = 1e-4


@pytest.fixture
def served(tmp_path):
    """(directory, base URL) of a localhost HTTP server for the test's files."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript",
                      ".wgsl": "text/plain", ".bin": "application/octet-stream"}

    def log_message(self, format, *args):
        pass


def open_page(url: str) -> dict:
    done = subprocess.run(["node", str(BROWSER_DIR / "run_page.mjs"), url, CHROMIUM, "540000"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", ["mlp", "resnet18", "mobilenet_v2", "bert", "gpt2"])
def test_zoo_model_in_chromium_matches_onnxruntime(name, zoo_path, served):
    root, base = served
    compile_to_directory(str(zoo_path(name)), "webgpu", root / "artifact")
    session = ort.InferenceSession(str(zoo_path(name)))
    feeds = zoo_inputs(session, seed=11, batch=1)
    (root / "inputs").mkdir()
    query = []
    for k, (input_name, array) in enumerate(feeds.items()):
        (root / "inputs" / f"{k}.bin").write_bytes(np.ascontiguousarray(array).tobytes())
        query.append(f"input=../inputs/{k}.bin")
    result = open_page(f"{base}/artifact/index.html?runs=1&{'&'.join(query)}")
    assert "error" not in result, result
    assert result["status"] == "done" and result["ms"] > 0
    for output, expected in zip(result["outputs"], session.run(None, feeds)):
        actual = np.asarray(output["data"], dtype=np.float32).reshape(output["shape"])
        assert actual.shape == expected.shape
        assert rel_l2(actual, expected) <= TOLERANCE


def test_runtime_js_picks_gemm_variants(served):
    """runtime.js in Chromium: a 40-row GEMM carries two variants (the unrolled 32x32 tile and
    the compact loop-form kernel); each forced slot, the default (limits: SwiftShader is a
    software adapter, so the last, compact one) and the measured pick run, each matching numpy;
    the page reports which config ran. (The 128x128 8x8-block variant takes SwiftShader
    minutes: this GEMM is too small to carry it.)"""
    import onnx.helper as oh
    root, base = served
    rng = np.random.default_rng(3)
    b = rng.standard_normal((96, 160)).astype(np.float32)
    graph = oh.make_graph([oh.make_node("MatMul", ["a", "b"], ["c"])], "mm",
                          [oh.make_tensor_value_info("a", 1, [40, 96])], [oh.make_tensor_value_info("c", 1, [40, 160])],
                          [oh.make_tensor("b", 1, b.shape, b.ravel())])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], ir_version=8)
    out = compile_to_directory(model, "webgpu", root / "artifact")
    (dispatch,) = json.loads((out / "kernels/dispatches.json").read_text())["dispatches"]
    configs = [v["config"] for v in dispatch["variants"]]
    assert configs == ["32x32x16_4x4_db", "64x64x16_4x4_loop"]
    a = rng.standard_normal((40, 96)).astype(np.float32)
    (root / "a.bin").write_bytes(a.tobytes())
    for policy, expected in (("0", configs[0]), ("1", configs[1]), ("", configs[-1]), ("measure", None)):
        result = open_page(f"{base}/artifact/index.html?runs=1&input=../a.bin&variants={policy}")
        assert "error" not in result, result
        assert result["variants"] == [expected] if expected else result["variants"][0] in configs
        (output,) = result["outputs"]
        assert rel_l2(np.asarray(output["data"], np.float32).reshape(output["shape"]), a @ b) <= TOLERANCE


@pytest.mark.parametrize("b,h,s,t,d,w,causal,mask,split", [
    (1, 2, 33, 45, 20, 70, False, (33, 45), False),      # plain layout, two columns per invocation
    (1, 1, 20, 37, 32, 32, True, (1, 1, 20, 37), True),  # causal and masked, a row wholly -inf
    (4, 4, 70, 70, 16, 16, True, (4, 1, 1, 70), True),   # 4-row tiles, the last one partial
])
def test_attention_template_in_chromium_matches_the_interpreter(b, h, s, t, d, w, causal, mask, split, served):
    """The attention template's forms (backends/webgpu/attention.py) pass Tint and compute the
    interpreter's values in Chromium."""
    from compiler.ir.interpreter import interpret
    from attention_models import attention_graph, feeds_for
    from backends.webgpu.attention import MARK
    root, base = served
    graph = attention_graph(b, h, s, t, d, causal, mask, split, w)
    out = compile_to_directory(graph, "webgpu", root / "artifact")
    assert any(MARK in path.read_text() for path in (out / "kernels").glob("*.wgsl"))
    feeds = feeds_for(graph, np.random.default_rng())
    for k, value in enumerate(graph.inputs):
        (root / f"{k}.bin").write_bytes(np.ascontiguousarray(feeds[value.name]).tobytes())
    query = "&".join(f"input=../{k}.bin" for k in range(len(graph.inputs)))
    result = open_page(f"{base}/artifact/index.html?runs=1&{query}")
    assert "error" not in result, result
    (output,) = result["outputs"]
    actual = np.asarray(output["data"], np.float32).reshape(output["shape"])
    assert rel_l2(actual, interpret(graph, feeds)["y"]) <= TOLERANCE
