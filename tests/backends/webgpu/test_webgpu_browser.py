"""The artifact in a browser (marker `webgpu`): headless Chromium (Debian's, SwiftShader's
WebGPU adapter) driven by node's playwright-core opens the artifact's own index.html, served on
localhost, with the test's input; the page's output matches onnxruntime (rel. L2 <= 1e-4) and
every shader passed Tint on the way (runtime.js fails the page on a compilation error)."""
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
