"""Checkpoint policies: the shipped series loads; unsafe, truncated or mismatched files fail in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.errors import CrossviewError
from policies.base import make_policy
from policies.series import expand_series

SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints" / "xview"


def test_every_shipped_checkpoint_loads_in_step_order() -> None:
    series = expand_series(str(SHIPPED))
    assert len(series) >= 4
    steps = [c.step for c in series]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    for c in series:
        policy = make_policy("torch", checkpoint=c.path)
        assert policy.info.checkpoint_step == c.step and policy.info.checkpoint_sha256 == c.sha256
    assert sum(Path(c.path).stat().st_size for c in series) < 8 * 2**20  # a few MB in all


def _copy(tmp: Path, name: str = "ckpt.safetensors") -> Path:
    src = expand_series(str(SHIPPED))[-1].path
    dst = tmp / name
    shutil.copy(src, dst)
    shutil.copy(f"{src}.json", f"{dst}.json")
    return dst


class _Exploit:
    def __reduce__(self):
        import os

        return (os.mkdir, ("/tmp/crossview-pwned-by-pickle",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    import torch

    marker = Path("/tmp/crossview-pwned-by-pickle")
    shutil.rmtree(marker, ignore_errors=True)
    evil = tmp_path / "evil.pt"
    torch.save({"weight": _Exploit()}, evil)
    shutil.copy(f"{_copy(tmp_path)}.json", f"{evil}.json")
    with pytest.raises(CrossviewError, match="refused") as err:
        make_policy("torch", checkpoint=str(evil))
    assert "\n" not in str(err.value)
    assert not marker.exists(), "unpickling ran the payload"


def test_truncated_checkpoint(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CrossviewError, match="corrupt or truncated"):
        make_policy("torch", checkpoint=str(path))


def test_shape_mismatch_names_the_tensor(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    manifest = json.loads(Path(f"{path}.json").read_text())
    manifest["hyperparameters"]["width"] = 8
    Path(f"{path}.json").write_text(json.dumps(manifest))
    with pytest.raises(CrossviewError, match="does not fit its architecture: view.0.weight has shape"):
        make_policy("torch", checkpoint=str(path))


def test_missing_manifest_and_unknown_architecture(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    Path(f"{path}.json").unlink()
    with pytest.raises(CrossviewError, match="has no manifest"):
        make_policy("torch", checkpoint=str(path))
    path = _copy(tmp_path, "b.safetensors")
    manifest = json.loads(Path(f"{path}.json").read_text())
    manifest["architecture"] = "resnet-9000"
    Path(f"{path}.json").write_text(json.dumps(manifest))
    with pytest.raises(CrossviewError, match="unknown architecture 'resnet-9000'"):
        make_policy("torch", checkpoint=str(path))


def test_weights_only_torch_file_loads(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    src = _copy(tmp_path)
    pt = tmp_path / "plain.pt"
    torch.save(load_file(str(src)), pt)
    shutil.copy(f"{src}.json", f"{pt}.json")
    policy = make_policy("torch", checkpoint=str(pt))
    assert policy.info.checkpoint_step is not None


def test_greedy_batch_equals_one_by_one() -> None:
    from harness.spec import CrossViewGoal, Interaction, Observation

    policy = make_policy("torch", checkpoint=expand_series(str(SHIPPED))[-1].path, sample=False)
    rng = np.random.default_rng(0)
    obs = [Observation(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)) for _ in range(4)]
    goals = [CrossViewGoal(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8), rng.random((224, 224)) < 0.1,
                           Interaction.MINE) for _ in range(4)]
    policy.reset(4)
    batched = policy.act(obs, goals, [None] * 4)
    single = [policy.act([o], [g], [None], slots=[i])[0] for i, (o, g) in enumerate(zip(obs, goals))]
    assert batched == single


def test_a_goal_is_encoded_once_per_episode_and_acts_as_the_whole_network() -> None:
    """The goal embedding kept per slot gives the logits of the full forward pass every step; a new goal object
    at a slot, or a reset, encodes it afresh."""
    import torch

    from harness.spec import CrossViewGoal, Interaction, Observation
    from policies.torch.xview import decode_actions, prepare

    policy = make_policy("torch", checkpoint=expand_series(str(SHIPPED))[-1].path, sample=False)
    rng = np.random.default_rng(1)

    def goal(kind: Interaction) -> CrossViewGoal:
        return CrossViewGoal(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8), rng.random((224, 224)) < 0.2, kind)

    goals = [goal(Interaction.APPROACH), goal(Interaction.MINE)]
    policy.reset(2)
    for step in range(4):
        if step == 2:
            goals[1] = goal(Interaction.INTERACT)  # slot 1's next episode
        obs = [Observation(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)) for _ in goals]
        with torch.no_grad():
            whole = decode_actions(*policy.net(*prepare(obs, goals, policy.net.input)), None)
        assert policy.act(obs, goals, [None, None]) == whole
    assert policy._goals[1][0] is goals[1]
    policy.reset(2, slots=[0])
    assert 0 not in policy._goals and 1 in policy._goals


def test_training_goes_on_from_a_checkpoint_with_randomized_rollouts(tmp_path: Path) -> None:
    """``train_xview``: rollouts in randomized looks train a series, and ``init`` continues it from a checkpoint's
    weights and step, leaving the checkpoints it started from untouched."""
    from harness.spec import Modality
    from policies.torch.loading import load_state_dict, read_manifest
    from policies.torch.train_xview import Arrays, collect, train

    data = Arrays.of(collect("apartment", episodes=1, noise=0.3, seed=0, image=32, appearance="randomized"), 64)
    hyper = {"width": 4, "embed": 16, "input": 64}
    first = train(data, tmp_path, Modality.CROSS_VIEW, 3, [0, 3], 0, 8, 1e-3, hyper, {})
    before = (tmp_path / "xview-step00003.safetensors").read_bytes()
    more = train(data, tmp_path, Modality.CROSS_VIEW, 5, [5], 1, 8, 1e-3, {}, {}, init=first[-1])
    assert [p.name for p in more] == ["xview-step00005.safetensors"]
    assert (tmp_path / "xview-step00003.safetensors").read_bytes() == before
    assert read_manifest(more[0])["hyperparameters"] == hyper and read_manifest(more[0])["step"] == 5
    a, b = load_state_dict(first[-1]), load_state_dict(more[0])
    assert any(not np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)  # it trained on
    policy = make_policy("torch", checkpoint=str(more[0]))
    assert policy.info.checkpoint_step == 5
