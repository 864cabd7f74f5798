"""examples/search_efficiency.py on a synthetic records file: grouping, replay and the bar."""
from __future__ import annotations

import json

import pytest

import search_efficiency
from compiler.ir.config import ConfigSpace, KernelConfig, Param
from search_efficiency import synthetic_gemm_seconds as gemm_seconds
from search_efficiency import synthetic_gemm_space as gemm_space


def record(kernel_hash: str, config: KernelConfig, seconds: float | None) -> str:
    return json.dumps({"kernel_hash": kernel_hash, "backend": "cpu", "target": "cpu:test", "codegen": "c0",
                       "config": config.to_json(), "seconds": seconds,
                       "error": None if seconds is not None else "spills", "runs": [seconds] if seconds else [],
                       "time": 0.0}, sort_keys=True)


def gemm_subspace() -> ConfigSpace:
    """1,200 configs of the synthetic GEMM space: NC and unroll held at their defaults."""
    return ConfigSpace(tuple((name, choices[:1] if name in ("nc", "unroll") else choices)
                             for name, choices in gemm_space().knobs))


@pytest.fixture
def records_file(tmp_path):
    space = gemm_subspace()
    lines = [record("gemm", space.config_at(i), gemm_seconds(space.config_at(i))) for i in range(space.size())]
    lines.append(record("gemm", space.config_at(1), 5.0))                 # a re-measurement
    lines += [record("tiny", KernelConfig((Param("T", t),)), 1e-3 * (1 + t)) for t in range(10)]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_loads_spaces_by_key_in_recorded_order(records_file):
    spaces = {s.key[0]: s for s in search_efficiency.load_spaces([records_file])}
    gemm, space = spaces["gemm"], gemm_subspace()
    assert len(gemm.configs) == 1200 and gemm.configs[0] == space.config_at(0)
    assert gemm.seconds[1] == pytest.approx((gemm_seconds(space.config_at(1)) + 5.0) / 2)   # median of two
    assert sum(s is None for s in gemm.seconds) == sum(gemm_seconds(c) is None for c in gemm.configs) > 0
    assert len(spaces["tiny"].configs) == 10


def test_trials_to_target():
    assert search_efficiency.trials_to_target([None, 3.0, 1.0, 0.5], 1.0) == 3
    assert search_efficiency.trials_to_target([None, 3.0], 1.0) is None


def test_model_strategy_meets_the_bar_offline(records_file, tmp_path, capsys):
    out = tmp_path / "result.json"
    code = search_efficiency.main([str(records_file), "--seeds", "5", "--strategies", "model,random",
                                   "--json", str(out)])
    printed = capsys.readouterr()
    assert code == 0
    result = json.loads(out.read_text())
    [gemm] = result["spaces"]
    assert gemm["configs"] == 1200 and gemm["trials"] == 300 and len(gemm["runs"]) == 5
    assert not gemm["default_meets_target"]
    assert gemm["bar_met"] and gemm["summary"]["model"]["median_trials"] <= 100
    assert gemm["summary"]["model"]["median_trials"] < gemm["summary"]["random"]["median_trials"]
    assert "| seed | random best | model trials to target | random trials to target |" in printed.out
    assert "bar met on 1 of 1 spaces" in printed.out
    assert "tiny: 10 configs < --min-configs 1000" in printed.err


def test_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kernel_hash": "x"}\n')
    with pytest.raises(SystemExit, match=r"bad.jsonl:1: not a tuning record"):
        search_efficiency.main([str(bad)])
