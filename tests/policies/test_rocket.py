"""ROCKET's VPT action conversion (pure, always tested) and the MineStudio-backed policy (skipped without it)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from harness.spec import Action
from policies.rocket import actions as vpt


def test_sizes_match_vpt() -> None:
    assert vpt.N_BUTTONS == 8641 and vpt.INVENTORY == 8640 and vpt.N_CAMERA == 121


def test_mu_law_bins_by_hand() -> None:
    assert vpt.bin_to_degrees(5) == 0 and vpt.bin_to_degrees(10) == pytest.approx(10)
    assert vpt.bin_to_degrees(0) == pytest.approx(-10)
    # bin 6: linear 0.2 -> ((1 + 10) ** 0.2 - 1) / 10 * 10 degrees
    assert vpt.bin_to_degrees(6) == pytest.approx(11**0.2 - 1)
    assert vpt.degrees_to_bin(0.6154) == 6 and vpt.degrees_to_bin(-45) == 0
    bins = np.arange(11)
    assert (vpt.degrees_to_bin(vpt.bin_to_degrees(bins)) == bins).all()


def test_joint_index_by_hand() -> None:
    # digits (hotbar, fore_back, left_right, sprint_sneak, use, drop, attack, jump, camera) = (0,1,0,0,0,0,1,0,1);
    # place values 864, 288, 96, 32, 16, 8, 4, 2, 1 -> 288 + 4 + 1
    assert vpt.decode_buttons(293) == {"hotbar": "none", "fore_back": "forward", "left_right": "none",
                                       "sprint_sneak": "none", "use": "none", "drop": "none", "attack": "attack",
                                       "jump": "none", "camera": "camera"}
    a = vpt.vpt_to_action(293, 6 * 11 + 10)  # pitch bin 6, yaw bin 10
    assert a.forward and a.attack and not a.back
    assert a.camera == pytest.approx((11**0.2 - 1, 10.0))
    assert vpt.action_to_vpt(a) == (293, 6 * 11 + 10)


def test_camera_meta_off_means_no_turn_and_inventory_keeps_the_camera() -> None:
    assert vpt.vpt_to_action(0, 120) == Action()  # meta "none": the camera head is ignored
    # "inventory" is never marked camera-meta-off by MineStudio's to_factored (action_mapping.py:164-172), so the
    # camera head applies with it; inventory itself has no common equivalent
    assert vpt.vpt_to_action(vpt.INVENTORY, 60) == Action()
    assert vpt.vpt_to_action(vpt.INVENTORY, 0) == Action(camera=(-10.0, -10.0))
    assert vpt.vpt_to_env(vpt.INVENTORY, 0)["inventory"] == 1
    with pytest.raises(ValueError):
        vpt.vpt_to_action(8641, 0)
    with pytest.raises(ValueError):
        vpt.vpt_to_action(0, 121)


def test_round_trip_of_common_actions() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        bits = rng.random(9) < 0.4
        a = Action.from_arrays(bits, vpt.bin_to_degrees(rng.integers(11, size=2)))
        b = vpt.vpt_to_action(*vpt.action_to_vpt(a))
        assert b.forward == (a.forward and not a.back) and b.left == (a.left and not a.right)
        assert b.attack == a.attack and b.use == a.use and b.jump == a.jump
        assert b.camera == pytest.approx(a.camera)


def test_rocket_without_minestudio_says_what_to_install() -> None:
    if importlib.util.find_spec("minestudio") is not None:
        pytest.skip("MineStudio is installed here")
    from harness.errors import CrossviewError
    from policies.base import make_policy

    for kind in ("rocket", "minestudio"):
        with pytest.raises(CrossviewError, match="minestudio.models .*MineStudio lives in its own environment") as e:
            make_policy(kind)
        assert "\n" not in str(e.value)


def test_sweep_with_rocket_and_no_minestudio_is_one_line(tmp_path) -> None:
    """From the command line, without MineStudio: one line naming every missing piece, nothing written."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    if importlib.util.find_spec("minestudio") is not None:
        pytest.skip("MineStudio is installed here")
    repo = Path(__file__).resolve().parents[2]
    config = {"name": "r", "workers": 1, "environments": [{"adapter": "rooms", "episodes": 1, "max_steps": 2}],
              "policies": [{"name": "rocket2", "kind": "rocket", "options": {
                  "model": "model:CrossViewRocket", "code": str(tmp_path), "checkpoint": "phython96/ROCKET-2-1x-22w"}}]}
    (tmp_path / "r.yaml").write_text(json.dumps(config))
    run = subprocess.run([sys.executable, "-m", "harness.cli", "sweep", str(tmp_path / "r.yaml"), "--out",
                          str(tmp_path / "runs")], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(repo)})
    assert run.returncode != 0 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "minestudio.models" in run.stderr and "nox -s minestudio" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "runs").exists()
