"""Goal modalities end to end in the harness: the goal types, the sweep's goal axis pairing (task, seed) episodes
across modalities, the store's goal column (and its migration), and the refusal of an incompatible pair."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from harness.config import parse_config
from harness.errors import CrossviewError
from harness.plan import build_plan
from harness.spec import (
    CrossViewGoal,
    EpisodeRecord,
    Goal,
    Interaction,
    LanguageGoal,
    Modality,
    Status,
    TaskSpec,
    VideoGoal,
)
from harness.store import Store
from tests.harness.sweeps import REPO, crossview, small_config, write


def test_goal_keeps_one_modality_and_null_goals_exist() -> None:
    cv = CrossViewGoal(np.ones((4, 5, 3), np.uint8), np.ones((4, 5), bool), Interaction.MINE)
    words = LanguageGoal("mine the red box", Interaction.MINE)
    goal = Goal(cv, words)
    assert goal.modalities == (Modality.CROSS_VIEW, Modality.LANGUAGE)
    assert goal.only("language") == Goal(language=words) and goal.only("language").interaction == Interaction.MINE
    with pytest.raises(CrossviewError, match="no video modality"):
        goal.only(Modality.VIDEO)
    assert Goal.of(cv).cross_view is cv
    for m in Modality:
        null = Goal.null(m, 4, 5)
        assert null.modalities == (m,) and null.interaction == Interaction.NONE
    assert Goal.null("video", 4, 5).video.frames.shape == (1, 4, 5, 3)
    assert Goal.null("language", 4, 5).language.instruction == ""
    with pytest.raises(CrossviewError, match="use one of cross_view, language, video"):
        Modality.parse("smell")
    with pytest.raises(CrossviewError, match="T x H x W x 3"):
        VideoGoal(np.zeros((4, 5, 3), np.uint8), Interaction.MINE)


def test_task_goal_is_left_out_of_ids_when_cross_view() -> None:
    task = TaskSpec("rooms", "apartment", 3, Interaction.MINE)
    assert "goal" not in task.to_dict(), "older runs' episode ids must stay the same"
    lang = TaskSpec.from_dict({**task.to_dict(), "goal": "language"})
    assert lang.goal == "language" and lang.to_dict()["goal"] == "language"
    assert TaskSpec.from_dict(lang.to_dict()) == lang


def test_goal_axis_pairs_episodes_by_task_and_seed() -> None:
    config = parse_config(small_config(goals=["cross_view", "language", "video"]))
    plan = build_plan(config)
    single = build_plan(parse_config(small_config()))
    assert len(plan) == 3 * len(single)
    assert {e.episode_id for e in single.episodes} <= {e.episode_id for e in plan.episodes}, \
        "cross-view episodes keep the ids they had before the goal axis"
    assert len({e.episode_id for e in plan.episodes}) == len(plan), "ids differ per modality"
    pairs: dict[tuple, set[str]] = {}
    for e in plan.episodes:
        key = (e.policy.name, e.env.key, e.task.domain, e.task.interaction, e.task.difficulty, e.task.split,
               e.task.seed, e.index)
        pairs.setdefault(key, set()).add(e.task.goal)
    assert all(goals == {"cross_view", "language", "video"} for goals in pairs.values())
    assert len(pairs) == len(single)


def test_policy_goals_narrow_the_axis_and_bad_names_fail_in_one_line() -> None:
    cfg = small_config(goals=["cross_view", "language"])
    cfg["policies"][0]["goals"] = ["language"]
    plan = build_plan(parse_config(cfg))
    assert {e.task.goal for e in plan.episodes if e.policy.name == "random"} == {"language"}
    assert {e.task.goal for e in plan.episodes if e.policy.name == "oracle"} == {"cross_view", "language"}
    with pytest.raises(CrossviewError) as err:
        parse_config(small_config(goals=["cross_view", "smell"]))
    assert "goals" in str(err.value) and "use one of cross_view, language, video" in str(err.value)
    assert "\n" not in str(err.value)
    assert parse_config(small_config()).fingerprint() == parse_config(small_config(goals=["cross_view"])).fingerprint()


def test_cross_view_policy_refused_before_a_language_sweep(tmp_path) -> None:
    cfg = small_config(goals=["language"], policies=[
        {"name": "xview", "kind": "torch", "checkpoints": str(REPO / "checkpoints" / "xview")}])
    result = crossview("sweep", str(write(tmp_path, cfg)), "--out", str(tmp_path / "runs"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "accepts cross_view goals, not language" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs" / "t" / "results.sqlite").exists(), "no episode may run"


def test_store_migrates_runs_made_before_the_goal_axis(tmp_path) -> None:
    db = sqlite3.connect(tmp_path / "results.sqlite")
    db.execute('CREATE TABLE episodes (episode_id TEXT PRIMARY KEY, policy TEXT, status TEXT, success INTEGER, '
               'finished_at REAL)')
    db.execute("INSERT INTO episodes VALUES ('old', 'p', 'success', 1, 0.0)")
    db.commit()
    db.close()
    with Store(tmp_path) as store:
        rows = {r["episode_id"]: r for r in store.rows()}
        assert rows["old"]["goal"] == "cross_view" and rows["old"]["instruction"] is None
        assert store.get_meta("schema_version") == 2
        record = EpisodeRecord("new", "p", "", None, "rooms", "apartment", "mine", "red box", "easy", "train",
                               "source", 1, 0, Status.SUCCESS, True, 5, 1.0, 0.1, 0.5, goal="language",
                               instruction="mine the red box in this room")
        store.add(record)
        assert [r for r in store.records() if r.episode_id == "new"] == [record]
    assert json.loads(json.dumps(record.to_row()))["goal"] == "language"


def test_environment_goals_narrow_what_runs_there() -> None:
    cfg = small_config(goals=["cross_view", "language"])
    cfg["environments"][1]["goals"] = ["cross_view"]
    plan = build_plan(parse_config(cfg))
    assert {e.task.goal for e in plan.episodes if e.task.domain == "warehouse"} == {"cross_view"}
    assert {e.task.goal for e in plan.episodes if e.task.domain == "apartment"} == {"cross_view", "language"}
