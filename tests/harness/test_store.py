"""The store: WAL mode, one row per episode id, attempts, metadata."""

from __future__ import annotations

import sqlite3

from harness.spec import EpisodeRecord, Status
from harness.store import Store


def record(eid: str, status: Status = Status.SUCCESS) -> EpisodeRecord:
    return EpisodeRecord(eid, "p", "", None, "rooms", "apartment", "approach", "red box", "easy", "train", "source",
                         1, 0, status, status == Status.SUCCESS, 10, 1.0, 0.3, 0.5)


def test_rows_are_durable_and_unique(tmp_path) -> None:
    with Store(tmp_path) as store:
        store.add(record("a"))
        store.add(record("b", Status.TIMEOUT))
        store.add(record("a", Status.FAILURE))  # the same id replaces, never duplicates
        store.add_attempt("b", 1, "env_error", "died")
        store.set_meta({"fingerprint": "x", "nested": {"k": [1, 2]}})
    con = sqlite3.connect(tmp_path / "results.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    with Store(tmp_path, create=False) as store:
        assert store.done_ids() == {"a", "b"} and store.done_ids(["timeout"]) == {"b"}
        assert {r.episode_id: r.status for r in store.records()} == {"a": Status.FAILURE, "b": Status.TIMEOUT}
        assert store.get_meta("nested") == {"k": [1, 2]} and len(store.attempts()) == 1


def test_a_store_from_before_score_gains_the_column(tmp_path) -> None:
    """A run made before EpisodeRecord.score existed opens, reads its rows (score None) and stores new scores."""
    with Store(tmp_path) as store:
        store.add(record("old"))
    con = sqlite3.connect(tmp_path / "results.sqlite")
    con.execute("ALTER TABLE episodes DROP COLUMN score")  # as an older crossview wrote it
    con.commit()
    con.close()
    with Store(tmp_path, create=False) as store:
        assert store.records()[0].score is None
        store.add(EpisodeRecord(**{**record("new").__dict__, "score": 0.5}))
        assert {r.episode_id: r.score for r in store.records()} == {"old": None, "new": 0.5}
