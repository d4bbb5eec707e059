"""The crossview command as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import numpy as np


def crossview(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=120)


def test_envs_lists_rooms_available() -> None:
    out = crossview("envs")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if "rooms" in line)
    assert "yes" in line


def test_help_explains() -> None:
    out = crossview("--help")
    assert out.returncode == 0 and "envs" in out.stdout and "zero-shot" in out.stdout.lower()


def test_gymnasium_make_steps_with_dict_observation() -> None:
    import adapters  # noqa: F401

    env = gymnasium.make("crossview/Rooms-v0")
    obs, info = env.reset(seed=0)
    assert set(obs) == {"image", "goal_image", "goal_mask", "interaction"}
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert obs["image"].shape == (224, 224, 3) and obs["goal_mask"].any()
    assert isinstance(reward, float) and "distance" in info
    assert obs["image"].dtype == np.uint8
    env.close()
