"""The tuning-curve tools without TVM: examples/tune_tvm.py's database snapshot (a line still
being written is cut off) and examples/tune_curve.py's best-so-far table and the bar's check."""
from __future__ import annotations

import json

import pytest

import tune_curve
import tune_tvm


def test_a_snapshot_keeps_whole_records_only(tmp_path):
    work = tmp_path / "tuning"
    work.mkdir()
    (work / "database_tuning_record.json").write_bytes(b'[0, {"a": 1}]\n[1, {"b": 2}]\n[2, {"c"')
    (work / "database_workload.json").write_bytes(b'["w0"]\n["w1"]\n["w2"]\n')
    assert tune_tvm.snapshot(work, tmp_path / "at-60s") == 2
    assert (tmp_path / "at-60s" / "database_tuning_record.json").read_bytes().endswith(b'[1, {"b": 2}]\n')
    assert tune_tvm.snapshot(tmp_path / "empty", tmp_path / "at-0s") == 0   # before the tuner wrote anything


def test_curves_are_best_so_far():
    curve = [(0.0, 100.0), (60.0, 40.0), (120.0, 50.0)]
    assert tune_curve.best_at(curve, 30) == 100.0 and tune_curve.best_at(curve, 120) == 40.0
    assert tune_curve.best_at(curve, -1) is None


@pytest.mark.parametrize("aotc_points, verdict", [
    ([(0, 80.0), (100, 60.0)], "Bar: met."),        # faster than TVM's 600 s result by 120 s
    ([(0, 80.0), (200, 60.0)], "Bar: not met."),    # only after a fifth of TVM's time
])
def test_the_report_checks_the_bar(tmp_path, aotc_points, verdict):
    (tmp_path / "tvm.json").write_text(json.dumps({"curve": [{"seconds": 0, "latency_ms": 1900.0},
                                                             {"seconds": 600, "latency_ms": 67.0}]}))
    (tmp_path / "aotc.json").write_text(json.dumps([{"seconds": s, "latency_ms": v} for s, v in aotc_points]))
    text = tune_curve.report(tune_curve.load_curve(str(tmp_path / "tvm.json")),
                             tune_curve.load_curve(str(tmp_path / "aotc.json")))
    assert "| 600 | 67.00 | 60.00 |" in text and text.endswith(verdict)
