"""The plan: stable content-hash ids, seeds that do not depend on the policy, checkpoint series order."""

from __future__ import annotations

import json

from harness.config import parse_config
from harness.plan import build_plan
from policies.series import expand_series
from tests.harness.faulty import UnreachableProtocol
from tests.harness.sweeps import small_config


def test_ids_are_stable_and_seeds_shared_across_policies() -> None:
    a = build_plan(parse_config(small_config()))
    b = build_plan(parse_config(small_config()))
    assert [e.episode_id for e in a.episodes] == [e.episode_id for e in b.episodes]
    by_policy: dict[str, list[int]] = {}
    for e in a.episodes:
        by_policy.setdefault(e.policy.name, []).append(e.task.seed)
    assert by_policy["random"] == by_policy["oracle"], "paired comparisons need identical seeds"
    assert len(set(by_policy["random"])) == len(by_policy["random"])


def test_ids_change_with_what_decides_the_outcome() -> None:
    base = {e.episode_id for e in build_plan(parse_config(small_config())).episodes}
    cfg = small_config()
    cfg["environments"][0]["options"] = {"image_size": [64, 64]}
    changed = {e.episode_id for e in build_plan(parse_config(cfg)).episodes}
    assert len(base & changed) == 6  # only the untouched environment's episodes keep their ids
    more = small_config(seeds=[0, 1])
    assert len(build_plan(parse_config(more))) == 24


def test_checkpoint_series_ordered_by_step(tmp_path) -> None:
    for name, step in (("a.safetensors", 2000), ("b.safetensors", 500), ("ckpt-100.pt", None)):
        (tmp_path / name).write_bytes(name.encode())
        if step is not None:
            (tmp_path / f"{name}.json").write_text(json.dumps({"step": step}))
    series = expand_series(str(tmp_path))
    assert [c.step for c in series] == [100, 500, 2000]
    assert all(len(c.sha256) == 64 for c in series)
    assert [c.step for c in expand_series(str(tmp_path / "*.safetensors"))] == [500, 2000]


def test_adapter_timeouts_are_capped_by_the_sweep_deadlines() -> None:
    """An adapter option ``timeout`` (given or default) never outlasts half the shorter deadline."""
    from harness.plan import bounded_options

    assert bounded_options("unrealcv", {"port": 1}, reset=60, step=8) == {"port": 1, "timeout": 4.0}  # default 10
    assert bounded_options("airsim", {"timeout": 2}, reset=60, step=30) == {"timeout": 2}
    assert bounded_options("airsim", {"timeout": 100}, reset=20, step=30) == {"timeout": 10.0}
    assert bounded_options("rooms", {"image_size": [32, 32]}, reset=1, step=1) == {"image_size": [32, 32]}


class _NeverStarts(UnreachableProtocol):
    """An adapter whose constructor blocks (a simulator that never answers, with no timeout of its own)."""

    def __init__(self) -> None:
        import time

        time.sleep(60)



def test_adapter_construction_while_planning_is_bounded() -> None:
    import time

    import pytest

    from harness.config import parse_config
    from harness.errors import CrossviewError
    from harness.plan import build_plan

    config = parse_config({"name": "slow", "policies": [{"name": "random", "kind": "random"}],
                           "environments": [{"adapter": "tests.harness.test_plan:_NeverStarts"}],
                           "timeouts": {"reset": 1, "step": 1}})
    began = time.monotonic()
    with pytest.raises(CrossviewError, match=r"environments\[0\]: adapter .* did not start within 1 s"):
        build_plan(config)
    assert time.monotonic() - began < 5
