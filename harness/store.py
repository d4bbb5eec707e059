"""The results store: SQLite in WAL mode at ``runs/<name>/results.sqlite``, written only by the driver.

One transaction per finished episode, so a sweep killed at any moment keeps every episode it finished. Failed
attempts that were retried are kept in their own table. Run metadata (resolved config, versions, git revision,
machine) lives in ``meta`` and in ``run.json`` beside the database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import CrossviewError, RunFailure
from harness.spec import EpisodeRecord

DB_NAME = "results.sqlite"
_FIELDS = [f.name for f in dataclasses.fields(EpisodeRecord)]
_TYPES = {"checkpoint_step": "INTEGER", "seed": "INTEGER", "index": "INTEGER", "success": "INTEGER",
          "steps": "INTEGER", "episode_return": "REAL", "final_distance": "REAL", "wall_s": "REAL",
          "attempts": "INTEGER"}
_COLUMNS = ", ".join(f'"{f}" {_TYPES.get(f, "TEXT")}' + (" PRIMARY KEY" if f == "episode_id" else "")
                     for f in _FIELDS)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS episodes ({_COLUMNS}, finished_at REAL);
CREATE TABLE IF NOT EXISTS attempts (episode_id TEXT, attempt INTEGER, kind TEXT, reason TEXT, at REAL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


T = TypeVar("T")


@contextlib.contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """SQLite's errors as one line naming the store and what would fix it."""
    try:
        yield
    except sqlite3.Error as exc:
        text = str(exc)
        if "not a database" in text or "no such table" in text or "malformed" in text:
            raise CrossviewError(f"{path} is not a crossview results store (SQLite: {text}): give a run folder "
                                 "made by 'crossview sweep'") from None
        if "full" in text:
            raise RunFailure(f"{path}: disk full (SQLite: {text}): free disk space, then run the same command "
                             "again to resume (stored episodes are kept)") from None
        if "I/O error" in text:
            raise RunFailure(f"{path}: SQLite: {text} (is the disk full or failing? free space or check it, then "
                             "run the same command again to resume)") from None
        if "readonly" in text or "unable to open" in text:
            raise RunFailure(f"{path}: cannot write the results store (SQLite: {text}): fix its folder's "
                             "permissions or use --out elsewhere") from None
        raise RunFailure(f"{path}: SQLite error: {text}") from None


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> T:
        with _sqlite_errors(self.path):
            return method(self, *args, **kwargs)
    return wrapper


class Store:
    """A run's durable results; open it with ``Store(run_dir)``.

    ``create=False`` opens an existing store read-only (status, export, report): nothing is written into a file
    crossview did not make, and a file that is not a store is refused in one line.
    """

    def __init__(self, run_dir: str | Path, create: bool = True) -> None:
        self.run_dir = Path(run_dir)
        path = self.path = self.run_dir / DB_NAME
        if not create and not path.is_file():
            raise CrossviewError(f"{self.run_dir} is not a crossview run: {DB_NAME} is missing (run 'crossview "
                                 "sweep' first, or give the run's folder)")
        with _sqlite_errors(path):
            if create:
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
                self._open_for_writing()
            else:
                uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
                tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not {"episodes", "meta"} <= tables:
                    self._db.close()
                    raise sqlite3.DatabaseError("no such table: episodes")

    def _open_for_writing(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(episodes)")}
        for name in _FIELDS:  # runs made by an older crossview: add the columns it did not have
            if name not in have:
                self._db.execute(f'ALTER TABLE episodes ADD COLUMN "{name}" {_TYPES.get(name, "TEXT")}')

    # ----------------------------------------------------------------- metadata
    @_guarded
    def get_meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        try:
            return None if row is None else json.loads(row[0])
        except (TypeError, ValueError):
            raise CrossviewError(f"{self.path}: metadata {key!r} is damaged (not JSON): this is not a store "
                                 "crossview wrote") from None

    @_guarded
    def set_meta(self, values: dict[str, Any]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                 [(k, json.dumps(v, default=str)) for k, v in values.items()])

    # ----------------------------------------------------------------- episodes
    @_guarded
    def add(self, record: EpisodeRecord) -> None:
        """Store one finished episode in its own transaction (replacing an earlier row of the same id)."""
        row = record.to_row()
        cols = ", ".join(f'"{f}"' for f in _FIELDS)
        marks = ", ".join("?" for _ in _FIELDS)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(f"INSERT OR REPLACE INTO episodes ({cols}, finished_at) VALUES ({marks}, ?)",
                             [row[f] for f in _FIELDS] + [time.time()])

    @_guarded
    def add_attempt(self, episode_id: str, attempt: int, kind: str, reason: str) -> None:
        """Record a failed attempt that will be retried."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO attempts VALUES (?, ?, ?, ?, ?)",
                             (episode_id, attempt, kind, reason, time.time()))

    @_guarded
    def done_ids(self, statuses: Iterable[str] | None = None) -> set[str]:
        """Ids of stored episodes (optionally only those with the given statuses)."""
        if statuses is None:
            rows = self._db.execute("SELECT episode_id FROM episodes")
        else:
            wanted = list(statuses)
            rows = self._db.execute(f"SELECT episode_id FROM episodes WHERE status IN ({','.join('?' * len(wanted))})",
                                    wanted)
        return {r[0] for r in rows}

    @_guarded
    def error_ids(self, prefixes: Iterable[str]) -> set[str]:
        """Ids of episodes stored as env_error or policy_error whose error text starts with one of ``prefixes``."""
        ids: set[str] = set()
        for prefix in prefixes:
            rows = self._db.execute("SELECT episode_id FROM episodes WHERE status IN ('env_error', 'policy_error') "
                                    "AND substr(error, 1, ?) = ?", (len(prefix), prefix))
            ids.update(r[0] for r in rows)
        return ids

    @_guarded
    def records(self) -> list[EpisodeRecord]:
        """Every stored episode."""
        cols = ", ".join(f'"{f}"' for f in _FIELDS)
        cur = self._db.execute(f"SELECT {cols} FROM episodes ORDER BY finished_at")
        return [EpisodeRecord.from_row(dict(zip(_FIELDS, row))) for row in cur]

    @_guarded
    def rows(self) -> list[dict[str, Any]]:
        """Every stored episode as a plain dict (all columns, ``finished_at`` included)."""
        cur = self._db.execute("SELECT * FROM episodes ORDER BY finished_at")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur]

    @_guarded
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
