"""The report's goal-modality axis: counted names carry the modality (SQL and Python agree), and paired
comparisons across modalities meet on the same episodes."""

from __future__ import annotations

import pandas as pd

from harness.counts import MergedRuns
from harness.spec import EpisodeRecord, Status
from harness.store import Store, policy_label, split_label
from reports.compare import modality_pairs


def _record(eid: str, policy: str, goal: str, seed: int, success: bool, step: int | None = None) -> EpisodeRecord:
    return EpisodeRecord(eid, policy, "", step, "rooms", "apartment", "mine", "red box", "easy", "train", "source",
                         seed, 0, Status.SUCCESS if success else Status.FAILURE, success, 5, float(success), 0.1,
                         0.5, goal=goal)


def test_labels_round_trip() -> None:
    for name, goal in (("xview@2000", "language"), ("oracle", "video"), ("xview@300", "cross_view")):
        label = policy_label(name, goal)
        assert split_label(label) == (name, goal)
    assert policy_label("xview-lang@2000", "language") == "xview-lang@2000[language]"


def test_pairs_across_modalities_on_the_same_episodes(tmp_path) -> None:
    with Store(tmp_path) as store:
        for seed in range(6):  # the agent succeeds from the image on every seed, from words on the even ones
            store.add(_record(f"c{seed}", "agent", "cross_view", seed, True))
            store.add(_record(f"l{seed}", "agent", "language", seed, seed % 2 == 0))
        store.add(_record("l-only", "agent", "language", 99, True))  # no cross-view partner: never paired
        store.set_meta({"config": {"policies": [{"name": "agent", "kind": "torch"}]}})
    with MergedRuns([tmp_path]) as runs:
        counts = runs.counts()
        cells = counts.cells
        assert set(cells["policy"]) == {"agent", "agent[language]"}
        assert dict(zip(cells["policy"], cells["goal"])) == {"agent": "cross_view", "agent[language]": "language"}
        pairs = modality_pairs(cells, counts.kinds)
        assert pairs == [("agent[language]", "agent")]
        table = runs.pairs(pairs)
        assert int(table[["n00", "n01", "n10", "n11"]].to_numpy().sum()) == 6
        assert int(table["n01"].sum()) == 3 and int(table["n11"].sum()) == 3  # language fails where image wins


def test_same_step_of_two_series_pairs_and_baselines_do_not() -> None:
    cells = pd.DataFrame({"policy": ["xview@700", "xview@6000", "xview-lang@700[language]",
                                     "xview-lang@200[language]", "xview-lang@2000[language]", "oracle",
                                     "oracle[video]"],
                          "goal": ["cross_view", "cross_view", "language", "language", "language", "cross_view",
                                   "video"],
                          "step": [700.0, 6000.0, 700.0, 200.0, 2000.0, float("nan"), float("nan")]})
    assert modality_pairs(cells, {"oracle": "oracle", "xview": "torch"}) == [
        ("xview-lang@700[language]", "xview@700"), ("xview-lang@2000[language]", "xview@6000")]
