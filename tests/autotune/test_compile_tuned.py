"""compile() with a tuning database: the best record whose key matches this kernel, backend,
target fingerprint and codegen version; the default config otherwise."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import onnxruntime as ort

from autotune.database import TuningDatabase, TuningRecord
from autotune.space import tuning_key
from compiler.api import compile_to_directory, default_options
from compiler.inspect import format_report, inspect_report
from compiler.runtime import Artifact
from conftest import rel_l2, tree_bytes
from tuning_models import config_with, lowered, matmul_model


def compile_with(model, out, db=None):
    options = replace(default_options(), tuning_db=db)
    return compile_to_directory(str(model), "cpu", out, options=options)


def test_compile_takes_the_best_record_and_differs_only_there(tmp_path, isolated_cache):
    model = matmul_model(tmp_path / "m.onnx")
    graph, (task,) = lowered(model)
    key = tuning_key(graph.backend, graph.target, task.kernel_hash)
    default, tuned = task.space.config_at(0), config_with(task.space, MR=4, NR=16, KC=64)
    with TuningDatabase.open(tmp_path / "t.db") as db:
        db.add(TuningRecord(key, default, 2e-3, None, (2e-3,), 1.0))
        db.add(TuningRecord(key, tuned, 1e-3, None, (1e-3,), 2.0))
        # Faster, but measured on another device or by another code generator: not ours.
        fast = config_with(task.space, MR=6)
        db.add(TuningRecord(replace(key, target=key.target + "-other"), fast, 1e-9, None, (1e-9,), 3.0))
        db.add(TuningRecord(replace(key, codegen="0" * 64), fast, 1e-9, None, (1e-9,), 4.0))
    plain = tree_bytes(compile_with(model, tmp_path / "plain"))
    first = tree_bytes(compile_with(model, tmp_path / "tuned", tmp_path / "t.db"))
    again = tree_bytes(compile_with(model, tmp_path / "again", tmp_path / "t.db"))
    assert first == again                                # same database and model: byte-identical
    changed = {name for name in plain if plain[name] != first[name]}
    assert changed <= {"manifest.json", "kernels/model.c", "libmodel.so", "weights.bin"} and "kernels/model.c" in changed
    manifest, base = json.loads(first["manifest.json"]), json.loads(plain["manifest.json"])
    (kernel,) = manifest["kernels"]
    assert kernel["config"] == tuned.to_json()
    assert kernel["tuned"] == {"target": key.target, "codegen": key.codegen, "seconds": 1e-3, "default_seconds": 2e-3}
    assert "tuned" not in base["kernels"][0] and base["kernels"][0]["config"] == default.to_json()
    assert "tuned 1.000 ms (x2.00 over default)" in format_report(inspect_report(manifest))
    # Outside the kernel's config, its packed weights (panels of the new NR) and the files'
    # checksums, the manifests agree.
    for m in (manifest, base):
        m["kernels"][0].pop("config"), m["kernels"][0].pop("tuned", None), m.pop("files"), m["options"].pop("tuning_db")
        m["plan"].pop("weights")
        for call in m["plan"]["calls"]:
            call["args"] = [a.split(".pack")[0] for a in call["args"]]
    assert manifest == base
    # ... and the model C differs only inside the contraction's functions.
    plain_c, tuned_c = (t["kernels/model.c"].decode().split(f"/* contraction {task.name}")[0] for t in (plain, first))
    assert plain_c == tuned_c
    x = (np.random.default_rng(3).standard_normal((16, 40)) + 0.1).astype(np.float32)
    want = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert rel_l2(Artifact(tmp_path / "tuned")(x), want) <= 1e-5


def test_records_of_another_target_or_codegen_leave_the_default(tmp_path, isolated_cache):
    model = matmul_model(tmp_path / "m.onnx")
    graph, (task,) = lowered(model)
    key = tuning_key(graph.backend, graph.target, task.kernel_hash)
    fast = config_with(task.space, MR=6)
    with TuningDatabase.open(tmp_path / "t.db") as db:
        db.add(TuningRecord(replace(key, target="cpu:x86-64-v3|some other cpu"), fast, 1e-9, None, (1e-9,), 1.0))
        db.add(TuningRecord(replace(key, codegen="0" * 64), fast, 1e-9, None, (1e-9,), 2.0))
        db.add(TuningRecord(replace(key, kernel_hash="f" * 64), fast, 1e-9, None, (1e-9,), 3.0))
    plain = tree_bytes(compile_with(model, tmp_path / "plain"))
    tuned = tree_bytes(compile_with(model, tmp_path / "tuned", tmp_path / "t.db"))
    assert {name for name in plain if plain[name] != tuned[name]} == {"manifest.json"}
    manifest = json.loads(tuned["manifest.json"])
    assert manifest["options"]["tuning_db"] is True and "tuned" not in manifest["kernels"][0]
