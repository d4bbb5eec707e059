"""The probe store: SQLite (WAL) at ``runs/<name>/probe.sqlite``, written only by the driver.

One transaction per generated frame (the frame's row and all its items) and one per final answer, so a run
killed at any moment resumes with nothing lost and nothing done twice. Item images are PNG files under
``dataset/images/`` (published atomically before their rows commit; regenerating them gives the same bytes).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import CrossviewError

DB_NAME = "probe.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (frame_key TEXT PRIMARY KEY, adapter TEXT, domain TEXT, idx INTEGER,
    items INTEGER, skipped TEXT, error TEXT, wall_s REAL, at REAL);
CREATE TABLE IF NOT EXISTS items (item_id TEXT PRIMARY KEY, frame_key TEXT, task TEXT, adapter TEXT, domain TEXT,
    role TEXT, frame_index INTEGER, seed INTEGER, question TEXT, choices TEXT, answer INTEGER, truth TEXT,
    provenance TEXT, images TEXT, content_sha256 TEXT);
CREATE TABLE IF NOT EXISTS answers (answer_id TEXT PRIMARY KEY, item_id TEXT, answerer TEXT, fingerprint TEXT,
    status TEXT, reply TEXT, choice INTEGER, correct INTEGER, attempts INTEGER, wall_s REAL, error TEXT, at REAL);
CREATE TABLE IF NOT EXISTS attempts (answer_id TEXT, attempt INTEGER, reason TEXT, at REAL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE INDEX IF NOT EXISTS answers_by_answerer ON answers (answerer);
"""
ITEM_COLUMNS = ("item_id", "frame_key", "task", "adapter", "domain", "role", "frame_index", "seed", "question",
                "choices", "answer", "truth", "provenance", "images", "content_sha256")


@dataclass(frozen=True)
class AnswerRow:
    """One final answer of one answerer to one item."""

    answer_id: str
    item_id: str
    answerer: str
    fingerprint: str
    status: str  # "answered" | "unparseable" | "error"
    reply: str | None
    choice: int | None
    correct: bool | None
    attempts: int
    wall_s: float
    error: str | None = None


def _quote(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


class ProbeStore:
    """A probe run's durable state; open with ``ProbeStore(run_dir)``."""

    def __init__(self, run_dir: str | Path, create: bool = True) -> None:
        self.run_dir = Path(run_dir)
        path = self.run_dir / DB_NAME
        if not create and not path.is_file():
            raise CrossviewError(f"{self.run_dir} is not a probe run: {DB_NAME} is missing (run 'crossview probe "
                                 "CONFIG' first, or give the run's folder)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def _write(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(sql, rows)

    # ------------------------------------------------------------- meta
    def get_meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, values: dict[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [(k, json.dumps(v, default=str)) for k, v in values.items()])

    # ------------------------------------------------------------- frames and items
    def add_frame(self, key: str, adapter: str, domain: str, index: int, items: list[dict[str, Any]],
                  skipped: dict[str, int], wall_s: float, error: str | None = None) -> None:
        """A generated frame and its items (rows as dicts of ``ITEM_COLUMNS``), in one transaction."""
        marks = ", ".join("?" for _ in ITEM_COLUMNS)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(f"INSERT OR REPLACE INTO items ({', '.join(ITEM_COLUMNS)}) VALUES ({marks})",
                                 [[row[c] for c in ITEM_COLUMNS] for row in items])
            if error is None:  # a frame that failed before and now worked: drop its error row
                self._db.execute("DELETE FROM frames WHERE error IS NOT NULL AND adapter = ? AND domain = ? AND "
                                 "idx = ?", (adapter, domain, index))
            self._db.execute("INSERT OR REPLACE INTO frames VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (key, adapter, domain, index, len(items), json.dumps(skipped), error, wall_s,
                              time.time()))

    def frame_keys(self, with_errors: bool = True) -> set[str]:
        sql = "SELECT frame_key FROM frames" + ("" if with_errors else " WHERE error IS NULL")
        return {r[0] for r in self._db.execute(sql)}

    def frames(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM frames ORDER BY at")

    def items(self) -> list[dict[str, Any]]:
        """Every stored item with JSON columns decoded, in generation order."""
        rows = self._rows("SELECT items.* FROM items JOIN frames USING (frame_key) ORDER BY frames.at, item_id")
        for r in rows:
            for c in ("choices", "truth", "provenance", "images"):
                r[c] = json.loads(r[c])
        return rows

    # ------------------------------------------------------------- answers
    def add_answer(self, row: AnswerRow) -> None:
        self._write("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(row.answer_id, row.item_id, row.answerer, row.fingerprint, row.status, row.reply, row.choice,
                      None if row.correct is None else int(row.correct), row.attempts, row.wall_s, row.error,
                      time.time())])

    def add_attempt(self, answer_id: str, attempt: int, reason: str) -> None:
        self._write("INSERT INTO attempts VALUES (?, ?, ?, ?)", [(answer_id, attempt, reason, time.time())])

    def answer_ids(self, statuses: Iterable[str] | None = None) -> set[str]:
        if statuses is None:
            return {r[0] for r in self._db.execute("SELECT answer_id FROM answers")}
        wanted = list(statuses)
        return {r[0] for r in self._db.execute(
            f"SELECT answer_id FROM answers WHERE status IN ({','.join('?' * len(wanted))})", wanted)}

    def answers(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM answers ORDER BY at")

    def attempts(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM attempts ORDER BY at")

    def accuracy_counts(self) -> list[dict[str, Any]]:
        """Per answerer × world × task × role: items answered correctly, scored (answered + unparseable),
        unparseable and errored — counted in SQL, so reports do not grow with items. Only answers given under
        each answerer's current fingerprint (meta ``answerers``) count."""
        return self._rows(
            "SELECT a.answerer, i.adapter, i.domain, i.role, i.task, "
            "SUM(a.correct = 1) AS correct, SUM(a.status != 'error') AS n, "
            "SUM(a.status = 'unparseable') AS unparseable, SUM(a.status = 'error') AS errors, "
            "AVG(1.0 / json_array_length(i.choices)) AS chance "
            "FROM answers a JOIN items i USING (item_id) " + self._current() +
            "GROUP BY a.answerer, i.adapter, i.domain, i.role, i.task ORDER BY a.answerer, i.adapter, i.domain, i.task")

    def paired_rows(self) -> list[dict[str, Any]]:
        """Per scored answer (current fingerprints, errors excluded): answerer, item, stratum, correct (0/1)."""
        return self._rows(
            "SELECT a.answerer, a.item_id, i.adapter || '/' || i.domain || '|' || i.task AS stratum, "
            "COALESCE(a.correct, 0) AS correct FROM answers a JOIN items i USING (item_id) " + self._current() +
            "AND a.status != 'error'")

    def _current(self) -> str:
        current = self.get_meta("answerers") or {}
        pairs = " OR ".join(f"(a.answerer = {_quote(n)} AND a.fingerprint = {_quote(f)})" for n, f in current.items())
        return f"WHERE ({pairs or '1'}) "

    def _rows(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        cur = self._db.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ProbeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
