"""The tuning database: every measurement, keyed by (kernel hash, backend, target fingerprint,
codegen version), in SQLite (WAL). Each record is committed as soon as it is measured, so a
killed job loses nothing it had recorded. Export/import are JSON lines (one record per line,
keys sorted, as `aotc tune --export` writes them), merge copies
another database's records in.

    with TuningDatabase.open("tuning.db") as db:
        db.add(record)
        best = db.best(key)
"""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from compiler.errors import TuningError
from compiler.ir.config import KernelConfig

FORMAT = "aotc-tuning"
VERSION = "1"
RECORD_FIELDS = ("kernel_hash", "backend", "target", "codegen", "config", "seconds", "error", "runs", "time")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    kernel_hash TEXT NOT NULL, backend TEXT NOT NULL, target TEXT NOT NULL, codegen TEXT NOT NULL,
    config TEXT NOT NULL,           -- KernelConfig.to_json(), compact with sorted keys
    seconds REAL,                   -- median of runs; NULL: the candidate failed
    error TEXT,                     -- why it failed (build error, crash, timeout, wrong result)
    runs TEXT NOT NULL,             -- JSON list of per-run seconds
    time REAL NOT NULL,             -- when measured (unix seconds)
    UNIQUE (kernel_hash, backend, target, codegen, config, time)
);
CREATE INDEX IF NOT EXISTS records_by_key ON records (kernel_hash, backend, target, codegen);
"""


@dataclass(frozen=True)
class TuningKey:
    kernel_hash: str
    backend: str
    target: str      # the backend's fingerprint(target)
    codegen: str     # autotune.space.codegen_version(backend)


@dataclass(frozen=True)
class TuningRecord:
    key: TuningKey
    config: KernelConfig
    seconds: float | None
    error: str | None
    runs: tuple[float, ...]
    time: float

    @property
    def config_text(self) -> str:
        return self.config.dumps()

    def to_json(self) -> dict:
        return {"kernel_hash": self.key.kernel_hash, "backend": self.key.backend, "target": self.key.target,
                "codegen": self.key.codegen, "config": self.config.to_json(), "seconds": self.seconds,
                "error": self.error, "runs": list(self.runs), "time": self.time}

    def line(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)

    @staticmethod
    def from_json(data: dict, where: str) -> "TuningRecord":
        if not isinstance(data, dict) or set(data) != set(RECORD_FIELDS):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise TuningError(f"{where}: not a tuning record (needs keys {', '.join(RECORD_FIELDS)}; got {got})")
        try:
            key = TuningKey(*(_text(data[f], f) for f in ("kernel_hash", "backend", "target", "codegen")))
            if not isinstance(data["config"], list):
                raise ValueError("config must be a list of records")
            config = KernelConfig.from_json(data["config"])
            seconds = None if data["seconds"] is None else float(data["seconds"])
            if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"seconds must be positive, got {seconds}")
            error = None if data["error"] is None else _text(data["error"], "error")
            runs = tuple(float(r) for r in data["runs"])
            return TuningRecord(key, config, seconds, error, runs, float(data["time"]))
        except (TypeError, ValueError) as problem:
            raise TuningError(f"{where}: bad tuning record ({problem})") from None


def _text(value, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


class TuningDatabase:
    """One open SQLite tuning database. Use `open` (creating it) or `open_existing`."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self.path = path

    # ------------------------------------------------------------------ opening
    @staticmethod
    def open(path: str | Path, *, create: bool = True) -> "TuningDatabase":
        path = Path(path)
        if not create and not path.is_file():
            raise TuningError(f"{path}: no such tuning database")
        if path.is_dir():
            raise TuningError(f"{path}: is a directory, not a tuning database")
        fresh = not path.exists() or path.stat().st_size == 0
        try:
            connection = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
        except sqlite3.Error as error:
            raise TuningError(f"{path}: cannot open the tuning database ({error})") from None
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a committed record survives the process being killed at any point.
            connection.execute("PRAGMA synchronous=NORMAL")
            if fresh:
                connection.executescript(SCHEMA)
                connection.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                       (("format", FORMAT), ("version", VERSION)))
            meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as error:
            connection.close()
            raise TuningError(f"{path}: not an aotc tuning database (damaged or another file: {error})") from None
        if meta.get("format") != FORMAT:
            connection.close()
            raise TuningError(f"{path}: an SQLite file but not an aotc tuning database")
        if meta.get("version") != VERSION:
            connection.close()
            raise TuningError(f"{path}: tuning database version {meta.get('version')} (this aotc reads {VERSION})")
        return TuningDatabase(connection, path)

    @staticmethod
    def open_existing(path: str | Path) -> "TuningDatabase":
        return TuningDatabase.open(path, create=False)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "TuningDatabase":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def add(self, record: TuningRecord) -> bool:
        """Insert and commit one record; False when the same record (key, config, time) is there."""
        return self.add_many((record,)) == 1

    def add_many(self, records: Iterable[TuningRecord]) -> int:
        rows = [(r.key.kernel_hash, r.key.backend, r.key.target, r.key.codegen, r.config_text, r.seconds,
                 r.error, json.dumps(list(r.runs)), r.time) for r in records]
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                before = self._db.total_changes
                self._db.executemany("INSERT OR IGNORE INTO records (kernel_hash, backend, target, codegen, config, "
                                     "seconds, error, runs, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                return self._db.total_changes - before
        except sqlite3.DatabaseError as error:
            raise TuningError(f"{self.path}: cannot write the tuning database ({error})") from None

    def merge(self, other: "TuningDatabase") -> int:
        """Copy in every record of `other` not already here; returns how many were new."""
        return self.add_many(other.records())

    def import_lines(self, path: str | Path) -> int:
        return self.add_many(read_lines(Path(path)))

    def export_lines(self, path: str | Path) -> int:
        """Every record as JSON lines, in a stable order (key, config, time)."""
        path = Path(path)
        records = sorted(self.records(), key=lambda r: (r.key.kernel_hash, r.key.backend, r.key.target,
                                                         r.key.codegen, r.config_text, r.time))
        try:
            path.write_text("".join(r.line() + "\n" for r in records), encoding="utf-8")
        except OSError as error:
            raise TuningError(f"{path}: cannot write the export ({error.strerror})") from None
        return len(records)

    # ------------------------------------------------------------------ reading
    def records(self, key: TuningKey | None = None) -> list[TuningRecord]:
        query = "SELECT kernel_hash, backend, target, codegen, config, seconds, error, runs, time FROM records"
        args: tuple = ()
        if key is not None:
            query += " WHERE kernel_hash = ? AND backend = ? AND target = ? AND codegen = ?"
            args = (key.kernel_hash, key.backend, key.target, key.codegen)
        try:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        except sqlite3.DatabaseError as error:
            raise TuningError(f"{self.path}: cannot read the tuning database ({error})") from None
        try:
            return [TuningRecord(TuningKey(h, b, t, c), KernelConfig.from_json(json.loads(config)), seconds, error,
                                 tuple(json.loads(runs)), time)
                    for h, b, t, c, config, seconds, error, runs, time in rows]
        except (TypeError, ValueError) as error:
            raise TuningError(f"{self.path}: a damaged record ({error})") from None

    def best(self, key: TuningKey) -> TuningRecord | None:
        """The fastest record of `key` whose config never failed (a config that once gave a
        wrong result or crashed is not trusted); ties go to the smaller config text."""
        records = self.records(key)
        failed = {r.config_text for r in records if r.seconds is None}
        good = [r for r in records if r.seconds is not None and r.config_text not in failed]
        return min(good, key=lambda r: (r.seconds, r.config_text, r.time), default=None)

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]


def read_lines(path: Path) -> Iterator[TuningRecord]:
    """Records of a JSON-lines export; a bad line is a one-line error naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TuningError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TuningError(f"{path}: cannot read tuning records ({error})") from None
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as error:
            raise TuningError(f"{path}:{number}: not JSON ({error})") from None
        records.append(TuningRecord.from_json(data, f"{path}:{number}"))
    return iter(records)
