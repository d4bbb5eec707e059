"""The store's tallies and merged runs: counts per cell and per pair, kept by triggers, equal to a recount from
the episodes; merged runs count a shared episode once; a policy name with two meanings is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.counts import MergedRuns
from harness.errors import CrossviewError
from harness.spec import EpisodeRecord, Status
from harness.store import DB_NAME, Store, install_tallies
from reports import tables

POLICIES = {"random": ("random", "", None), "oracle": ("oracle", "", None),
            "net@100": ("torch", "a" * 64, 100), "net@1000": ("torch", "b" * 64, 1000),
            "net@2000": ("torch", "c" * 64, 2000)}
RATE = {"random": 0.1, "oracle": 0.95, "net@100": 0.3, "net@1000": 0.5, "net@2000": 0.6}


def episodes(policy: str, seed: int = 0) -> list[EpisodeRecord]:
    """Deterministic outcomes per (policy, task, index): 2 worlds × 2 interactions × 6 episodes, with an error and
    an unjudged episode."""
    _, sha, step = POLICIES[policy]
    rng = np.random.default_rng([seed, len(policy), step or 0])
    out = []
    for domain, role in (("apartment", "source"), ("warehouse", "zeroshot")):
        for inter in ("approach", "mine"):
            for i in range(6):
                ok = bool(rng.random() < RATE[policy] * (1 if role == "source" else 0.5))
                status = Status.SUCCESS if ok else Status.TIMEOUT
                success: bool | None = ok
                if i == 5 and inter == "mine":
                    status, success = (Status.ENV_ERROR, None) if domain == "apartment" else (Status.FAILURE, None)
                out.append(EpisodeRecord(f"{policy}-{domain}-{inter}-{i}", policy, sha, step, "rooms", domain, inter,
                                         "box", "easy", "train", role, 1000 + i, i, status, success, 10, float(ok),
                                         0.5, 0.1))
    return out


def make_run(path: Path, policies: list[str], names: dict[str, str] | None = None) -> Path:
    with Store(path) as store:
        store.set_meta({"config": {"policies": [{"name": "random", "kind": "random"},
                                                {"name": "oracle", "kind": "oracle"},
                                                {"name": "net", "kind": (names or {}).get("net", "torch")}]}})
        for p in policies:
            for r in episodes(p):
                store.add(r)
    return path


def _snapshot(runs: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    with MergedRuns(runs) as merged:
        cells = merged.counts().cells.sort_values(["policy", *tables.TASK]).reset_index(drop=True)
        pairs = merged.pairs([("net@1000", "net@100"), ("net@2000", "random"), ("oracle", "net@2000")])
    return cells, pairs.sort_values(["a", "b", *tables.TASK]).reset_index(drop=True)


def test_tallies_match_a_recount_and_follow_replacements(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", list(POLICIES))
    with Store(run) as store:  # replace an error by a success: the tallies follow
        old = episodes("net@100")[11]
        assert old.status == Status.ENV_ERROR
        store.add(EpisodeRecord(**{**old.__dict__, "status": Status.SUCCESS, "success": True}))
    db = sqlite3.connect(run / DB_NAME, isolation_level=None)
    db.execute("PRAGMA recursive_triggers = ON")
    db.execute("UPDATE episodes SET success = 1 - success, status = 'failure' "  # an operator's later judgement
               "WHERE policy = 'net@2000' AND \"index\" < 3")
    kept = (sorted(db.execute("SELECT * FROM cell_tally WHERE n > 0")), sorted(db.execute("SELECT * FROM pair_tally")))
    install_tallies(db, rebuild=True)  # the set-wise recount an old run gets
    again = (sorted(db.execute("SELECT * FROM cell_tally WHERE n > 0")), sorted(db.execute("SELECT * FROM pair_tally")))
    db.close()
    assert kept == again
    cells, pairs = _snapshot([run])
    cell = cells[(cells.policy == "net@100") & (cells.domain == "apartment") & (cells.interaction == "mine")].iloc[0]
    assert (cell.episodes, cell.errors, cell.judged) == (6, 0, 6)
    net = {r.episode_id: r for r in episodes("net@1000") + episodes("net@100")}
    both = [(net[f"net@1000-{d}-{i}-{k}"].success, net[f"net@100-{d}-{i}-{k}"].success)
            for d in ("apartment", "warehouse") for i in ("approach", "mine") for k in range(6)
            if not (d == "apartment" and i == "mine" and k == 5)]
    both = [(a, b) for a, b in both if a is not None and b is not None]
    p = pairs[(pairs.a == "net@1000") & (pairs.b == "net@100")]
    got = p[["n00", "n01", "n10", "n11"]].sum().tolist()
    assert got == [sum((not a) and (not b) for a, b in both), sum((not a) and b for a, b in both),
                   sum(a and not b for a, b in both), sum(a and b for a, b in both)]


def test_merged_runs_with_a_shared_checkpoint_equal_one_run(tmp_path: Path) -> None:
    one = make_run(tmp_path / "one", list(POLICIES))
    first = make_run(tmp_path / "first", ["random", "oracle", "net@100", "net@1000"])
    second = make_run(tmp_path / "second", ["net@1000", "net@2000"])  # net@1000 again: same sha256
    # the same checkpoint reached from another folder has another episode id: rename the ids in the second run
    db = sqlite3.connect(second / DB_NAME)
    db.execute("UPDATE episodes SET episode_id = 'other-' || episode_id")
    db.commit()
    db.close()
    assert [f.equals(g) for f, g in zip(_snapshot([one]), _snapshot([first, second]))] == [True, True]
    assert [f.equals(g) for f, g in zip(_snapshot([one]), _snapshot([second, first, first]))] == [True, True]


def test_conflicting_definitions_are_refused(tmp_path: Path) -> None:
    first = make_run(tmp_path / "first", ["random", "net@100"])
    other_kind = make_run(tmp_path / "kind", ["random"], names={"net": "remote"})
    with pytest.raises(CrossviewError, match="policy 'net' is kind 'torch'.*'remote'"):
        MergedRuns([first, other_kind])
    other_sha = make_run(tmp_path / "sha", ["net@100"])
    db = sqlite3.connect(other_sha / DB_NAME)
    db.execute("UPDATE episodes SET checkpoint_sha256 = 'd' || substr(checkpoint_sha256, 2)")
    db.commit()
    db.close()
    install_tallies(sqlite3.connect(other_sha / DB_NAME, isolation_level=None), rebuild=True)
    with pytest.raises(CrossviewError, match="'net@100' is checkpoint aaaaaaaaaaaa .*first but daaaaaaaaaaa .*sha: "):
        MergedRuns([first, other_sha])


def test_old_run_without_tallies_is_counted_once(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", ["random", "net@100"])
    expected = _snapshot([run])
    db = sqlite3.connect(run / DB_NAME)
    for t in ("cell_tally", "pair_tally"):
        db.execute(f"DROP TABLE {t}")
    for trig in [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]:
        db.execute(f"DROP TRIGGER {trig}")
    db.commit()
    db.close()
    assert all(f.equals(g) for f, g in zip(expected, _snapshot([run])))


def test_pairs_are_one_to_one_across_targets(tmp_path: Path) -> None:
    """Episodes with the same task, seed and index but different targets pair with their own target only (the old
    join on task and seed made 4 pairs out of 4 × 4)."""
    with Store(tmp_path / "r") as store:
        for policy in ("net@100", "net@1000"):
            _, sha, step = POLICIES[policy]
            for t in range(4):
                store.add(EpisodeRecord(f"{policy}-{t}", policy, sha, step, "rooms", "apartment", "approach",
                                        f"target{t}", "easy", "train", "source", 7, 0, Status.SUCCESS, t % 2 == 0, 5,
                                        0.0, 0.1, 0.1))
    with MergedRuns([tmp_path / "r"]) as merged:
        p = merged.pairs([("net@1000", "net@100")])
    assert p[["n00", "n01", "n10", "n11"]].sum().tolist() == [2, 0, 0, 2]
