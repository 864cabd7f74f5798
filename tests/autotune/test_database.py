"""The tuning database: round trip, best, merge, JSON-lines export/import, damaged files."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from compiler.errors import TuningError
from compiler.ir.config import KernelConfig, Param, Serial
from autotune.database import TuningDatabase, TuningKey, TuningRecord
from tuning_models import matmul_model

KEY = TuningKey("h" * 64, "cpu", "cpu:x86-64-v4|test host", "c" * 64)
OTHER = TuningKey("h" * 64, "cpu", "cpu:x86-64-v3|other host", "c" * 64)


def rec(key, mr, seconds, t, error=None):
    config = KernelConfig((Param("MR", mr), Param("NR", 16)))
    return TuningRecord(key, config, seconds, error, (seconds or 0.0, seconds or 0.0), t)


def test_round_trip_and_best(tmp_path):
    path = tmp_path / "t.db"
    with TuningDatabase.open(path) as db:
        assert db.add(rec(KEY, 4, 3e-3, 1.0)) and db.add(rec(KEY, 6, 1e-3, 2.0))
        assert not db.add(rec(KEY, 6, 1e-3, 2.0))          # the same record twice: kept once
        db.add(rec(KEY, 8, None, 3.0, "run crashed (SIGSEGV)"))
        db.add(rec(OTHER, 12, 1e-6, 4.0))
    with TuningDatabase.open_existing(path) as db:
        records = db.records(KEY)
        assert [r.config.param("MR", 0) for r in records] == [4, 6, 8]
        assert records[2].seconds is None and records[2].error == "run crashed (SIGSEGV)"
        assert records[1].runs == (1e-3, 1e-3)
        # Best of this key only: the other target's faster record does not count.
        assert db.best(KEY).config.param("MR", 0) == 6
        assert db.best(TuningKey("x" * 64, "cpu", KEY.target, KEY.codegen)) is None


def test_a_config_that_ever_failed_is_never_best(tmp_path):
    with TuningDatabase.open(tmp_path / "t.db") as db:
        db.add(rec(KEY, 4, 3e-3, 1.0))
        db.add(rec(KEY, 6, 1e-3, 2.0))
        db.add(rec(KEY, 6, None, 3.0, "wrong result: output 0 rel. L2 0.5"))
        assert db.best(KEY).config.param("MR", 0) == 4


def test_export_import_and_merge(tmp_path):
    with TuningDatabase.open(tmp_path / "a.db") as a, TuningDatabase.open(tmp_path / "b.db") as b:
        a.add(rec(KEY, 4, 3e-3, 1.0))
        a.add(rec(KEY, 8, None, 3.0, "build failed"))
        b.add(rec(KEY, 6, 1e-3, 2.0))
        b.add(rec(KEY, 4, 3e-3, 1.0))            # also in a
        assert a.merge(b) == 1 and a.count() == 3
        assert a.merge(b) == 0                    # merging again adds nothing
        assert a.export_lines(tmp_path / "a.jsonl") == 3
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert sorted(first) == ["backend", "codegen", "config", "error", "kernel_hash", "runs", "seconds", "target", "time"]
    assert lines[0] == json.dumps(first, sort_keys=True)      # keys sorted, as the format says
    with TuningDatabase.open(tmp_path / "c.db") as c:
        assert c.import_lines(tmp_path / "a.jsonl") == 3
        assert c.import_lines(tmp_path / "a.jsonl") == 0
        assert {r.line() for r in c.records()} == set(lines)
        assert c.best(KEY).config.param("MR", 0) == 6


def test_damaged_and_foreign_files_are_one_line_errors(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all\n" * 100)
    with pytest.raises(TuningError, match="not an aotc tuning database"):
        TuningDatabase.open(garbage)
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE x (y)").connection.commit()
    with pytest.raises(TuningError, match="not an aotc tuning database"):
        TuningDatabase.open(foreign)
    with pytest.raises(TuningError, match="no such tuning database"):
        TuningDatabase.open_existing(tmp_path / "missing.db")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kernel_hash": "h"}\n')
    with TuningDatabase.open(tmp_path / "ok.db") as db, pytest.raises(TuningError, match=r"bad.jsonl:1: not a tuning record"):
        db.import_lines(bad)
    bad.write_text("{not json\n")
    with TuningDatabase.open(tmp_path / "ok.db") as db, pytest.raises(TuningError, match=r"bad.jsonl:1: not JSON"):
        db.import_lines(bad)


def test_loop_records_round_trip(tmp_path):
    config = KernelConfig((Serial("i0"),))
    with TuningDatabase.open(tmp_path / "t.db") as db:
        db.add(TuningRecord(KEY, config, 1e-4, None, (1e-4,), 5.0))
        assert db.records()[0].config == config


def aotc(*args):
    return subprocess.run([sys.executable, "-m", "compiler.cli", *args], capture_output=True, text=True, timeout=120)


def test_cli_errors_are_one_line(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\0\1\2 not a database" * 50)
    for args in (("tune", "--db", str(garbage), "--export", str(tmp_path / "x.jsonl")),
                 ("tune", "--db", str(tmp_path / "t.db"), "--merge", str(tmp_path / "missing.db")),
                 ("tune", "--db", str(tmp_path / "t.db"), "--import", str(tmp_path / "missing.jsonl")),
                 ("tune", "--db", str(tmp_path / "t.db")),
                 ("tune", str(tmp_path / "missing.onnx"), "--db", str(tmp_path / "t.db")),
                 ("compile", str(matmul_model(tmp_path / "m.onnx")), "-q", "-o", str(tmp_path / "o"),
                  "--tuning-db", str(tmp_path / "none.db")),
                 ("compile", str(tmp_path / "m.onnx"), "-q", "-o", str(tmp_path / "o"), "--tuning-db", str(garbage))):
        result = aotc(*args)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("aotc: error: "), (args, result.stderr)


def test_cli_merge_import_export_without_a_model(tmp_path):
    with TuningDatabase.open(tmp_path / "a.db") as a, TuningDatabase.open(tmp_path / "b.db") as b:
        a.add(rec(KEY, 4, 3e-3, 1.0))
        b.add(rec(KEY, 6, 1e-3, 2.0))
        b.add(rec(OTHER, 6, 1e-3, 2.0))
    result = aotc("tune", "--db", str(tmp_path / "a.db"), "--merge", str(tmp_path / "b.db"),
                  "--export", str(tmp_path / "a.jsonl"))
    assert result.returncode == 0, result.stderr
    assert "merged 2 new records" in result.stdout and "exported 3 records" in result.stdout
    result = aotc("tune", "--db", str(tmp_path / "c.db"), "--import", str(tmp_path / "a.jsonl"))
    assert result.returncode == 0 and "imported 3 new records" in result.stdout
    with TuningDatabase.open_existing(tmp_path / "c.db") as c:
        assert c.best(KEY).config.param("MR", 0) == 6 and c.count() == 3
