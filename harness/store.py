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

import numpy as np

from harness.errors import CrossviewError, RunFailure
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
EPISODE_COLUMNS = (*_FIELDS, "finished_at")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS episodes ({_COLUMNS}, finished_at REAL);
CREATE TABLE IF NOT EXISTS attempts (episode_id TEXT, attempt INTEGER, kind TEXT, reason TEXT, at REAL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
# Tallies the report reads instead of episodes (harness/counts.py), kept by triggers in the same transaction as
# every insert or delete, whoever writes: per cell and status, and per pair of policies on the same episode key
# (task, target, seed, index; both judged) the four outcome cells 00, 01, 10, 11 with a = the smaller name. Report
# cost is then flat in the number of episodes. Judged: not an error and success known; win: judged and success.
_JUDGED = "({0}.status NOT IN ('env_error', 'policy_error') AND {0}.success IS NOT NULL)"
_WIN = "({0}.status NOT IN ('env_error', 'policy_error') AND coalesce({0}.success, 0) > 0)"
_TASK = "adapter, domain, interaction, difficulty, split"
# The name a policy is counted under: its own for cross-view episodes, with the goal modality appended otherwise
# ("xview-lang@2000[language]", "oracle[video]"), so every table has a row per policy and modality and pairs
# across modalities meet on the same episode key. Config names cannot hold "[" (harness.config).
_LABEL = ("(CASE WHEN coalesce({0}.goal, 'cross_view') = 'cross_view' THEN {0}.policy "
          "ELSE {0}.policy || '[' || {0}.goal || ']' END)")


def policy_label(policy: str, goal: str | None) -> str:
    """The name ``policy`` is counted under for episodes of goal modality ``goal`` (the SQL ``_LABEL``)."""
    return policy if goal in (None, "", "cross_view") else f"{policy}[{goal}]"


def split_label(label: str) -> tuple[str, str]:
    """(policy name, goal modality) of a counted name: the inverse of ``policy_label``."""
    if not label.endswith("]") or "[" not in label:
        return label, "cross_view"
    name, _, goal = label[:-1].rpartition("[")
    return name, goal


_KEY_MATCH = " AND ".join(f'o."{c}" = {{0}}."{c}"' for c in ("adapter", "domain", "interaction", "target",
                                                           "difficulty", "split", "seed", "index"))


def _tally_triggers(row: str, sign: int, when: str, name: str = "") -> str:
    n = "NEW" if row == "NEW" else "OLD"
    name = name or when
    ln, lo = _LABEL.format(n), _LABEL.format("o")
    a_first = f"{ln} < o.label"
    cell = (f"CASE WHEN {a_first} THEN 2 * {_WIN.format(n)} + {_WIN.format('o')} "
            f"ELSE 2 * {_WIN.format('o')} + {_WIN.format(n)} END")
    return f"""
CREATE TRIGGER IF NOT EXISTS tally_cell_{name} AFTER {when.upper()} ON episodes BEGIN
  INSERT INTO cell_tally (policy, {_TASK}, role, status, sha256, step, n, judged, wins)
  VALUES ({ln}, {n}.adapter, {n}.domain, {n}.interaction, {n}.difficulty, {n}.split, {n}.role, {n}.status,
          coalesce({n}.checkpoint_sha256, ''), {n}.checkpoint_step, {sign}, {sign} * {_JUDGED.format(n)},
          {sign} * {_WIN.format(n)})
  ON CONFLICT (policy, {_TASK}, role, status) DO UPDATE SET n = n + excluded.n,
    judged = judged + excluded.judged, wins = wins + excluded.wins;
END;
CREATE TRIGGER IF NOT EXISTS tally_pair_{name} AFTER {when.upper()} ON episodes WHEN {_JUDGED.format(n)} BEGIN
  INSERT INTO pair_tally (a, b, {_TASK}, role, n00, n01, n10, n11)
  SELECT min({ln}, o.label), max({ln}, o.label), {n}.adapter, {n}.domain, {n}.interaction,
         {n}.difficulty, {n}.split, {n}.role, {sign} * (c = 0), {sign} * (c = 1), {sign} * (c = 2), {sign} * (c = 3)
  FROM (SELECT {cell.replace("o.label", lo)} AS c, {lo} AS label FROM episodes o WHERE {_KEY_MATCH.format(n)}
        AND {lo} <> {ln} AND {_JUDGED.format('o')}) AS o WHERE true
  ON CONFLICT (a, b, {_TASK}, role) DO UPDATE SET n00 = n00 + excluded.n00, n01 = n01 + excluded.n01,
    n10 = n10 + excluded.n10, n11 = n11 + excluded.n11;
END;"""


_TALLY_TABLES = f"""
CREATE INDEX IF NOT EXISTS episodes_by_key ON episodes (adapter, domain, interaction, target, difficulty, split,
    seed, "index", policy, role, status, success);
CREATE TABLE IF NOT EXISTS cell_tally (policy TEXT, adapter TEXT, domain TEXT, interaction TEXT, difficulty TEXT,
    split TEXT, role TEXT, status TEXT, sha256 TEXT, step INTEGER, n INTEGER, judged INTEGER, wins INTEGER,
    PRIMARY KEY (policy, {_TASK}, role, status));
CREATE TABLE IF NOT EXISTS pair_tally (a TEXT, b TEXT, adapter TEXT, domain TEXT, interaction TEXT,
    difficulty TEXT, split TEXT, role TEXT, n00 INTEGER, n01 INTEGER, n10 INTEGER, n11 INTEGER,
    PRIMARY KEY (a, b, {_TASK}, role));
"""
_TRIGGERS = {"insert": ("NEW", 1, "insert"), "delete": ("OLD", -1, "delete"),
             "update_old": ("OLD", -1, "update"), "update_new": ("NEW", 1, "update")}  # an update: out, then in
_TALLY_TRIGGERS = "".join(_tally_triggers(row, sign, when, name) for name, (row, sign, when) in _TRIGGERS.items())


_REBUILD = f"""
DELETE FROM cell_tally;
DELETE FROM pair_tally;
INSERT INTO cell_tally (policy, {_TASK}, role, status, sha256, step, n, judged, wins)
  SELECT {_LABEL.format("e")}, {_TASK}, role, status, coalesce(MAX(checkpoint_sha256), ''), MAX(checkpoint_step),
         COUNT(*), SUM({_JUDGED.format("e")}), SUM({_WIN.format("e")})
  FROM episodes e GROUP BY 1, {_TASK}, role, status;
"""


def install_tallies(db: sqlite3.Connection, rebuild: bool = False) -> None:
    """Create the tally tables and triggers on ``db``. A store that has episodes but no tallies yet (made by an
    older crossview, or bulk-loaded with ``rebuild``) is counted once, set-wise, in the same transaction."""
    fresh = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'cell_tally'").fetchone() is None
    rows = db.execute("SELECT 1 FROM episodes LIMIT 1").fetchone() is not None
    db.execute("PRAGMA recursive_triggers = ON")  # INSERT OR REPLACE's implicit delete untallies the old row
    again = (fresh or rebuild) and rows
    db.executescript("BEGIN IMMEDIATE;" + _TALLY_TABLES + _TALLY_TRIGGERS + (_REBUILD if again else ""))
    try:  # still inside the transaction the script began
        if again:
            _rebuild_pairs(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _rebuild_pairs(db: sqlite3.Connection, bits: int = 31) -> None:
    """Pair tallies of every stored episode, set-wise: one pass per group of policies over the episode-key index
    gives, per key, bit masks of who was judged and who succeeded; pairs are counted from the distinct masks."""
    names = [r[0] for r in db.execute("SELECT DISTINCT policy FROM cell_tally ORDER BY policy")]
    groups = [names[i:i + bits] for i in range(0, len(names), bits)]
    for gi, ga in enumerate(groups):
        for gb in groups[gi:]:
            chunk = ga if gb is ga else ga + gb
            wanted = [(i, j) for i in range(len(chunk)) for j in range(i + 1, len(chunk))
                      if gb is ga or (i < len(ga) <= j)]
            _count_pairs(db, chunk, wanted)


def _count_pairs(db: sqlite3.Connection, chunk: list[str], wanted: list[tuple[int, int]]) -> None:
    label = _LABEL.format("e")
    case = f"CASE {label} " + " ".join(f"WHEN ? THEN {1 << i}" for i in range(len(chunk))) + " END"
    rows = db.execute(
        f"SELECT {_TASK}, role, jm, wm, COUNT(*) FROM (SELECT {_TASK}, MAX(role) AS role, "
        f"SUM(({case}) * {_JUDGED.format('e')}) AS jm, SUM(({case}) * {_WIN.format('e')}) AS wm "
        f"FROM episodes e WHERE {label} IN ({','.join('?' * len(chunk))}) GROUP BY adapter, domain, "
        f'interaction, target, difficulty, split, seed, "index") GROUP BY {_TASK}, role, jm, wm',
        [*chunk, *chunk, *chunk]).fetchall()
    if not rows:
        return
    tasks: dict[tuple, int] = {}
    tid = np.array([tasks.setdefault(r[:6], len(tasks)) for r in rows], np.int64)
    jm, wm, n = (np.array([r[k] for r in rows], np.int64) for k in (6, 7, 8))
    keys = list(tasks)
    out = []
    for i, j in wanted:
        ia, ib = (i, j) if chunk[i] < chunk[j] else (j, i)  # tallies keep the smaller name as a
        both = ((jm >> ia) & (jm >> ib) & 1).astype(bool)
        if not both.any():
            continue
        counts = np.zeros((len(keys), 4), np.int64)
        np.add.at(counts, (tid[both], 2 * ((wm[both] >> ia) & 1) + ((wm[both] >> ib) & 1)), n[both])
        out += [(chunk[ia], chunk[ib], *keys[t], *map(int, counts[t])) for t in np.flatnonzero(counts.sum(1))]
    db.executemany(f"INSERT INTO pair_tally (a, b, {_TASK}, role, n00, n01, n10, n11) VALUES "
                   "(?,?,?,?,?,?,?,?,?,?,?,?)", out)


def drop_tallies(db: sqlite3.Connection) -> None:
    """Remove the tally triggers, for a bulk load followed by ``install_tallies(db, rebuild=True)``."""
    for name in _TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS tally_cell_{name}")
        db.execute(f"DROP TRIGGER IF EXISTS tally_pair_{name}")


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

    ``create=False`` opens an existing store only; ``readonly=True`` (status, export, report) opens it read-only: a
    file that is not a crossview store is refused in one line and never written into; only a crossview store from
    before the count tables (harness/counts.py) or a newer column gets them added, once.
    """

    def __init__(self, run_dir: str | Path, create: bool = True, readonly: bool = False) -> None:
        self.run_dir = Path(run_dir)
        path = self.path = self.run_dir / DB_NAME
        if not create and not path.is_file():
            raise CrossviewError(f"{self.run_dir} is not a crossview run: {DB_NAME} is missing (run 'crossview "
                                 "sweep' first, or give the run's folder)")
        with _sqlite_errors(path):
            if create:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            else:  # an existing file must be a crossview store before anything is written into it
                uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
                tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if not {"episodes", "meta"} <= tables:
                    self._db.close()
                    raise sqlite3.DatabaseError("no such table: episodes")
                have = {r[1] for r in self._db.execute("PRAGMA table_info(episodes)")}
                outdated = "cell_tally" not in tables or not set(_FIELDS) <= have  # made by an older crossview
                if readonly and not outdated:
                    return
                self._db.close()  # open for writing; an outdated store is upgraded once, in place
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._open_for_writing()

    def _open_for_writing(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(episodes)")}
        if "goal" not in have and "policy" in have:  # tally triggers from before the goal axis count by policy
            drop_tallies(self._db)  # alone; recreated below (older rows are all cross-view: the tallies stand)
        for name in _FIELDS:  # runs made by an older crossview: add the columns it did not have
            if name not in have:
                default = f" NOT NULL DEFAULT {_DEFAULTS[name]}" if name in _DEFAULTS else ""
                self._db.execute(f'ALTER TABLE episodes ADD COLUMN "{name}" {_TYPES.get(name, "TEXT")}{default}')
        if (self.get_meta("schema_version") or 1) < SCHEMA_VERSION:
            self.set_meta({"schema_version": SCHEMA_VERSION})
        install_tallies(self._db)

    # ----------------------------------------------------------------- metadata
    @_guarded
    def get_meta(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        try:
            return None if row is None else json.loads(row[0])
        except (TypeError, ValueError):
            raise CrossviewError(f"{self.path}: stored metadata {key!r} is not valid JSON; the store is damaged: "
                                 "restore it or run the sweep again") from None

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
        """Every stored episode (a run opened read-only from before a column existed reads it as absent)."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(episodes)")}
        cols = ", ".join(f'"{f}"' if f in have else f'NULL AS "{f}"' for f in _FIELDS)
        cur = self._db.execute(f"SELECT {cols} FROM episodes ORDER BY finished_at")
        return [EpisodeRecord.from_row({k: v for k, v in zip(_FIELDS, row) if k in have}) for row in cur]

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
