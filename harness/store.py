"""The results store: SQLite in WAL mode at ``runs/<name>/results.sqlite``, written only by the driver.

One transaction per finished episode, so a sweep killed at any moment keeps every episode it finished. Failed
attempts that were retried are kept in their own table. Run metadata (resolved config, versions, git revision,
machine) lives in ``meta`` and in ``run.json`` beside the database.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import CrossviewError
from harness.spec import EpisodeRecord

DB_NAME = "results.sqlite"
_FIELDS = [f.name for f in dataclasses.fields(EpisodeRecord)]
_TYPES = {"checkpoint_step": "INTEGER", "seed": "INTEGER", "index": "INTEGER", "success": "INTEGER",
          "steps": "INTEGER", "episode_return": "REAL", "final_distance": "REAL", "wall_s": "REAL",
          "attempts": "INTEGER", "score": "REAL"}
# columns added after runs existed, with the value their older rows take (runs before the goal axis were all
# cross-view); applied by ``ALTER TABLE ... DEFAULT`` when an older run is opened (schema migration)
_DEFAULTS = {"goal": "'cross_view'"}
SCHEMA_VERSION = 2  # 2: episodes.goal and episodes.instruction (goal modalities)
_COLUMNS = ", ".join(f'"{f}" {_TYPES.get(f, "TEXT")}' + (" PRIMARY KEY" if f == "episode_id" else "")
                     for f in _FIELDS)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS episodes ({_COLUMNS}, finished_at REAL);
CREATE TABLE IF NOT EXISTS attempts (episode_id TEXT, attempt INTEGER, kind TEXT, reason TEXT, at REAL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


class Store:
    """A run's durable results; open it with ``Store(run_dir)``."""

    def __init__(self, run_dir: str | Path, create: bool = True) -> None:
        self.run_dir = Path(run_dir)
        path = self.run_dir / DB_NAME
        if not create and not path.is_file():
            raise CrossviewError(f"{self.run_dir} is not a crossview run: {DB_NAME} is missing (run 'crossview "
                                 "sweep' first, or give the run's folder)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(episodes)")}
        for name in _FIELDS:  # runs made by an older crossview: add the columns it did not have
            if name not in have:
                default = f" NOT NULL DEFAULT {_DEFAULTS[name]}" if name in _DEFAULTS else ""
                self._db.execute(f'ALTER TABLE episodes ADD COLUMN "{name}" {_TYPES.get(name, "TEXT")}{default}')
        if create and (self.get_meta("schema_version") or 1) < SCHEMA_VERSION:
            self.set_meta({"schema_version": SCHEMA_VERSION})

    # ----------------------------------------------------------------- metadata
    def get_meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, values: dict[str, Any]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                 [(k, json.dumps(v, default=str)) for k, v in values.items()])

    # ----------------------------------------------------------------- episodes
    def add(self, record: EpisodeRecord) -> None:
        """Store one finished episode in its own transaction (replacing an earlier row of the same id)."""
        row = record.to_row()
        cols = ", ".join(f'"{f}"' for f in _FIELDS)
        marks = ", ".join("?" for _ in _FIELDS)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(f"INSERT OR REPLACE INTO episodes ({cols}, finished_at) VALUES ({marks}, ?)",
                             [row[f] for f in _FIELDS] + [time.time()])

    def add_attempt(self, episode_id: str, attempt: int, kind: str, reason: str) -> None:
        """Record a failed attempt that will be retried."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO attempts VALUES (?, ?, ?, ?, ?)",
                             (episode_id, attempt, kind, reason, time.time()))

    def done_ids(self, statuses: Iterable[str] | None = None) -> set[str]:
        """Ids of stored episodes (optionally only those with the given statuses)."""
        if statuses is None:
            rows = self._db.execute("SELECT episode_id FROM episodes")
        else:
            wanted = list(statuses)
            rows = self._db.execute(f"SELECT episode_id FROM episodes WHERE status IN ({','.join('?' * len(wanted))})",
                                    wanted)
        return {r[0] for r in rows}

    def records(self) -> list[EpisodeRecord]:
        """Every stored episode."""
        cols = ", ".join(f'"{f}"' for f in _FIELDS)
        cur = self._db.execute(f"SELECT {cols} FROM episodes ORDER BY finished_at")
        return [EpisodeRecord.from_row(dict(zip(_FIELDS, row))) for row in cur]

    def rows(self) -> list[dict[str, Any]]:
        """Every stored episode as a plain dict (all columns, ``finished_at`` included)."""
        cur = self._db.execute("SELECT * FROM episodes ORDER BY finished_at")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur]

    def attempts(self) -> list[dict[str, Any]]:
        cur = self._db.execute("SELECT * FROM attempts ORDER BY at")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
