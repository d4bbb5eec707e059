"""What reports need from stored episodes, counted in SQL: per cell and per pair of policies, never per episode.

Several runs are merged into a temporary store that counts each distinct episode once. An episode is
identified by its checkpoint's sha256 with its task, seed and index when it has a checkpoint (``episode_id`` hashes
the checkpoint's *path*, so the same checkpoint reached from another folder would count twice), and by its
``episode_id`` otherwise; an episode stored by several runs counts once (the last run given wins). A policy name
that means two things across runs (another ``kind``, another checkpoint) is refused with one line.

Outcomes: ``env_error`` and ``policy_error`` are *errors*; an episode whose ``success`` is NULL (status ``unjudged``,
an aborted episode) is *unjudged*; the rest are *judged*, and a judged episode with ``success`` true is a *success*.
Errors and unjudged episodes are counted, never scored.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import CrossviewError
from harness.store import DB_NAME, EPISODE_COLUMNS, Store, drop_tallies, install_tallies, split_label

TASK = ("adapter", "domain", "interaction", "difficulty", "split")
_IDENT = ("CASE WHEN coalesce(checkpoint_sha256, '') <> '' THEN checkpoint_sha256 || '|' || adapter || '|' || domain"
          " || '|' || interaction || '|' || target || '|' || difficulty || '|' || split || '|' || seed || '|' || "
          "\"index\" || '|' || coalesce(goal, 'cross_view') ELSE episode_id END")
RUNNING_S = 120.0  # a run written to within this many seconds, with planned episodes missing, is "still running"


@dataclass(frozen=True)
class RunState:
    """One run's completeness: planned and stored episodes, and when its store was last written."""

    run: str
    planned: int
    stored: int
    last_write: float

    @property
    def running(self) -> bool:
        """Planned episodes are missing and the store was written a moment ago."""
        return self.stored < self.planned and time.time() - self.last_write < RUNNING_S


@dataclass(frozen=True)
class Counts:
    """Merged runs, counted.

    ``cells``: one row per policy × task (columns policy, series, goal, step, sha256, role, adapter, domain,
    interaction, difficulty, split, episodes, judged, successes, errors, unjudged); ``policy`` is the name counted
    (``harness.store.policy_label``: the goal modality in brackets unless cross-view), ``goal`` the modality.
    ``kinds``: policy or series name → kind.
    ``statuses``: episodes per status. ``runs``: completeness of each run; ``metas``: each run's metadata.
    """

    cells: pd.DataFrame
    kinds: dict[str, str]
    statuses: dict[str, int]
    runs: tuple[RunState, ...]
    metas: tuple[dict, ...]


class MergedRuns:
    """The tallies of one or more runs (harness/store.py keeps them per run); use as a context manager.

    One run is read in place (its tallies only): cost is flat in its number of episodes. Several runs are merged
    into a temporary store, each distinct episode once, whose triggers count them: cost linear in the episodes of
    the runs merged, paid only when merging.
    """

    def __init__(self, runs: Sequence[str | Path]) -> None:
        if not runs:
            raise CrossviewError("give at least one run folder")
        self.runs = [Path(r) for r in runs]
        self.metas: list[dict] = []
        for run in self.runs:
            with Store(run, create=False, readonly=True) as store:  # one line for a non-run; upgrades old runs
                self.metas.append({key: store.get_meta(key) for key in ("config", "versions", "git", "machine")}
                                  | {"run": str(run)})  # damaged metadata: one line from the store
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._merged: Store | None = None
        if len(self.runs) == 1:
            self.db = sqlite3.connect(":memory:")
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="crossview-merge-")
            self._merged = Store(self._tmp.name)
            self.db = self._merged._db
            self.db.execute("PRAGMA cache_size=-500000")  # 500 MB at most, for the bulk copy and recount
            drop_tallies(self.db)
        try:
            self._attach()
        except BaseException:
            self.close()
            raise

    def _attach(self) -> None:
        for i, run in enumerate(self.runs):  # only ever read from here on
            self.db.execute(f"ATTACH DATABASE ? AS r{i}", (str((run / DB_NAME).resolve()),))
        self._check_definitions()
        self.states = tuple(self._states())
        self.src = "r0"
        if self._merged is not None:
            self.src = "main"
            self.db.execute(f"CREATE UNIQUE INDEX episodes_ident ON episodes ({_IDENT})")
            self.db.execute("BEGIN")
            for i in reversed(range(len(self.runs))):  # the last run given wins an episode stored twice
                have = {r[1] for r in self.db.execute(f"PRAGMA r{i}.table_info(episodes)")}
                cols = ", ".join(f'"{c}"' for c in EPISODE_COLUMNS if c in have)  # an older run lacks new ones
                self.db.execute(f"INSERT OR IGNORE INTO episodes ({cols}) SELECT {cols} FROM r{i}.episodes")
            self.db.execute("COMMIT")
            for i in range(len(self.runs)):  # a write transaction would lock every attached run
                self.db.execute(f"DETACH DATABASE r{i}")
            install_tallies(self.db, rebuild=True)  # counted once, set-wise

    def close(self) -> None:
        """Release the connection and any temporary merged store."""
        if self._merged is not None:
            self._merged.close()
        else:
            self.db.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> MergedRuns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ definitions
    def kinds(self) -> dict[str, str]:
        """Policy (or series) name → kind, from every run's config; a name with two kinds is refused."""
        kinds: dict[str, tuple[str, str]] = {}
        for meta in self.metas:
            for p in (meta.get("config") or {}).get("policies", []):
                name, kind = str(p.get("name")), str(p.get("kind"))
                if name in kinds and kinds[name][0] != kind:
                    raise CrossviewError(f"policy {name!r} is kind {kinds[name][0]!r} in {kinds[name][1]} but "
                                         f"{kind!r} in {meta['run']}: rename one of them in its sweep config")
                kinds.setdefault(name, (kind, meta["run"]))
        return {k: v[0] for k, v in kinds.items()}

    def _check_definitions(self) -> None:
        self.kinds()
        by_name: dict[str, tuple[str, str]] = {}
        by_sha: dict[str, tuple[str, str]] = {}
        for i, run in enumerate(self.runs):
            for name, sha in self.db.execute(f"SELECT DISTINCT policy, sha256 FROM r{i}.cell_tally WHERE n > 0"):
                if name in by_name and by_name[name][0] != sha:
                    raise CrossviewError(f"policy {name!r} is checkpoint {by_name[name][0][:12] or 'none'} in "
                                         f"{by_name[name][1]} but {sha[:12] or 'none'} in {run}: rename one of "
                                         "them in its sweep config")
                by_name.setdefault(name, (sha, str(run)))
                if sha and sha in by_sha and by_sha[sha][0] != name:
                    raise CrossviewError(f"checkpoint {sha[:12]} is named {by_sha[sha][0]!r} in {by_sha[sha][1]} "
                                         f"but {name!r} in {run}: give it one name in every sweep config")
                if sha:
                    by_sha.setdefault(sha, (name, str(run)))

    # ------------------------------------------------------------------ counts
    def counts(self) -> Counts:
        """Per-cell counts, statuses and completeness of the merged runs."""
        keys = ["policy", "step", "sha256", "role", *TASK]
        cur = self.db.execute(f"SELECT policy, step, sha256, role, {', '.join(TASK)}, status, n, judged, wins, "
                              f"CASE WHEN status IN ('env_error', 'policy_error') THEN n ELSE 0 END "
                              f"FROM {self.src}.cell_tally WHERE n > 0")
        rows = pd.DataFrame(cur.fetchall(), columns=[*keys, "status", "episodes", "judged", "successes", "errors"])
        for c in ("episodes", "judged", "successes", "errors"):
            rows[c] = rows[c].astype(np.int64)
        statuses = {str(k): int(v) for k, v in rows.groupby("status")["episodes"].sum().items()}
        rows["step"] = pd.to_numeric(rows["step"], errors="coerce").astype(float)
        cells = rows.groupby(keys, dropna=False, sort=False)[["episodes", "judged", "successes", "errors"]] \
            .sum().reset_index()
        cells["unjudged"] = cells["episodes"] - cells["judged"] - cells["errors"]
        parts = cells["policy"].map(split_label)
        # a series per policy and modality: "xview-lang[language]" for xview-lang@2000[language]
        cells.insert(1, "series", [n.split("@")[0] + ("" if g == "cross_view" else f"[{g}]") for n, g in parts])
        cells.insert(2, "goal", [g for _, g in parts])
        kinds = self.kinds()
        for label, series, (name, _) in zip(cells["policy"], cells["series"], parts):
            kind = kinds.get(name, kinds.get(name.split("@")[0]))  # oracle[language] is an oracle: baselines
            if kind is not None:  # pool every modality
                kinds.setdefault(label, kind)
                kinds.setdefault(series, kind)
        return Counts(cells, kinds, statuses, self.states, tuple(self.metas))

    def _states(self) -> Iterable[RunState]:
        for i, run in enumerate(self.runs):
            planned = self.db.execute(f"SELECT json_array_length(value) FROM r{i}.meta WHERE key = 'plan_ids'"
                                      ).fetchone()
            stored = self.db.execute(f"SELECT coalesce(SUM(n), 0) FROM r{i}.cell_tally").fetchone()[0]
            files = [run / DB_NAME, run / f"{DB_NAME}-wal"]
            last = max((f.stat().st_mtime for f in files if f.exists()), default=0.0)
            yield RunState(str(run), int(planned[0] or 0) if planned else 0, int(stored), last)

    def episodes(self, ids: Sequence[str]) -> pd.DataFrame:
        """The stored rows of the given episode ids (looked up by primary key), with ``judged`` and ``win``."""
        table = f"{self.src}.episodes"
        found = []
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            cur = self.db.execute(f"SELECT * FROM {table} WHERE episode_id IN ({','.join('?' * len(chunk))})", chunk)
            found += [dict(zip([d[0] for d in cur.description], r)) for r in cur]
        frame = pd.DataFrame(found, columns=[*EPISODE_COLUMNS]) if found else pd.DataFrame(columns=[*EPISODE_COLUMNS])
        errored = frame["status"].isin(["env_error", "policy_error"])
        frame["judged"] = ~errored & frame["success"].notna()
        frame["win"] = frame["judged"] & (frame["success"].fillna(0).astype(float) > 0)
        return frame

    def pairs(self, pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
        """Per pair (a, b) and task: n00, n01, n10, n11 (outcome of a, then b) over the episodes both met and both
        were judged on (same task, target, seed and index)."""
        cols = ["a", "b", "role", *TASK, "n00", "n01", "n10", "n11"]
        found = []
        for a, b in dict.fromkeys(pairs):
            lo, hi = sorted((a, b))
            rows = self.db.execute(f"SELECT a, b, role, {', '.join(TASK)}, n00, n01, n10, n11 FROM "
                                   f"{self.src}.pair_tally WHERE a = ? AND b = ? AND n00 + n01 + n10 + n11 > 0",
                                   (lo, hi)).fetchall()
            frame = pd.DataFrame(rows, columns=cols)
            if lo != a:  # stored with the smaller name first: swap sides
                frame = frame.rename(columns={"n01": "n10", "n10": "n01"})[cols].assign(a=a, b=b)
            if len(frame):
                found.append(frame)
        out = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=cols)
        for c in ("n00", "n01", "n10", "n11"):
            out[c] = out[c].astype(np.int64)
        return out
