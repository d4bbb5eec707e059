"""The plugin contract as a new user meets it: check, envs, policies, new, dry-run, labels and provenance."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.config import SweepConfig
from harness.plan import build_plan
from tests.harness.sweeps import REPO, crossview, fake_dist, small_config, write


@pytest.fixture
def broken_dist(tmp_path: Path) -> dict[str, str]:
    """An installed distribution 'broken-plugin' declaring a broken adapter and one whose class does not exist."""
    fake_dist(tmp_path, "broken-plugin", "0.3", "[crossview.adapters]\n"
              "broken = tests.harness.broken_plugin:BrokenAdapter\n"
              "misnamed = tests.harness.broken_plugin:NoSuchAdapter\n")
    return {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}


def test_check_names_what_is_wrong_with_a_broken_plugin(broken_dist) -> None:
    out = crossview("check", "adapter", "broken", env=broken_dist)
    assert out.returncode == 1, out.stderr
    table = out.stdout
    assert "3 failed" in table and "Traceback" not in out.stdout + out.stderr
    assert "does not sit on the target" in table  # the mask on blank wall
    assert "masked field(s) ['jump'] changed the view" in table
    assert "close() leaked: file descriptors" in table
    ok = crossview("check", "adapter", "rooms", "-o", "image_size=[48,64]", "--only", "reset", env=broken_dist)
    assert ok.returncode == 0 and "passed" in ok.stdout


def test_envs_survives_a_broken_plugin_and_says_who_declared_it(broken_dist) -> None:
    out = crossview("envs", env=broken_dist)
    assert out.returncode == 0 and "Traceback" not in out.stdout + out.stderr
    row = next(line for line in out.stdout.splitlines() if "misnamed" in line)
    assert "no" in row and "broken-plugin 0.3" in row
    assert "NoSuchAdapter" in out.stdout and "mujoco" in out.stdout  # the client module and its version


def test_envs_says_realsense_is_missing_and_what_to_install(tmp_path: Path) -> None:
    """In an interpreter where pyrealsense2 cannot be imported (as on a machine without it)."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent('''
        import sys
        class _NoRealSense:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "pyrealsense2":
                    raise ModuleNotFoundError("No module named 'pyrealsense2'", name="pyrealsense2")
        sys.meta_path.insert(0, _NoRealSense())
    '''))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    out = crossview("envs", env=env)
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "realsense │ no" in text and "pyrealsense2 is not installed" in text
    assert "crossview-harness[realsense]" in text


def test_policies_lists_every_kind_with_its_backend() -> None:
    out = crossview("policies")
    assert out.returncode == 0
    for kind in ("random", "oracle", "torch", "rocket", "remote"):
        assert kind in out.stdout
    assert "websockets" in out.stdout


def test_new_adapter_template_passes_check_from_its_own_folder(tmp_path: Path) -> None:
    made = crossview("new", "adapter", "mysim", "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "crossview-mysim"
    again = crossview("new", "adapter", "mysim", "--dir", str(tmp_path))
    assert again.returncode == 2 and "exists already" in again.stderr
    # a console-script-like start (no current folder on sys.path): the import path is still found
    code = "import sys; from harness.cli import main; sys.exit(main())"
    out = subprocess.run([sys.executable, "-c", code, "check", "adapter", "crossview_mysim.adapter:MysimAdapter"],
                         capture_output=True, text=True, cwd=folder, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONSAFEPATH": "1"})
    assert out.returncode == 0 and "passed" in out.stdout, out.stdout + out.stderr
    pol = crossview("new", "policy", "mypol", "--dir", str(tmp_path))
    assert pol.returncode == 0
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'crossview-mypol'}{os.pathsep}{REPO}"}
    out = crossview("check", "policy", "crossview_mypol.policy:MypolPolicy", "-a", "image_size=[48,64]", env=env)
    assert out.returncode == 0 and "passed" in out.stdout, out.stdout + out.stderr


def test_dry_run_constructs_policies_and_checks_compatibility(tmp_path: Path, broken_dist) -> None:
    config = small_config(environments=[{"adapter": "broken", "episodes": 1}])
    out = crossview("sweep", str(write(tmp_path, config)), "--out", str(tmp_path / "runs"), "--dry-run",
                    env=broken_dist)
    assert out.returncode == 2 and "does not declare privileged_facts" in out.stderr
    assert not (tmp_path / "runs").exists()
    config = small_config(policies=[{"name": "bad", "kind": "torch", "options": {"checkpoint": "nope.pt"}}])
    out = crossview("sweep", str(write(tmp_path, config)), "--dry-run")
    assert out.returncode == 2 and "policy 'bad'" in out.stderr


def test_two_option_sets_of_one_adapter_get_their_own_names() -> None:
    config = SweepConfig.model_validate(small_config())
    envs = config.environments
    same = build_plan(config)
    assert {e.env.name for e in same.episodes} == {"rooms"}
    other = envs[1].model_copy(update={"options": {"image_size": [32, 32]}})
    plan = build_plan(config.model_copy(update={"environments": [envs[0], other]}))
    names = sorted({e.env.name for e in plan.episodes})
    assert len(names) == 2 and all(n.startswith("rooms@") for n in names)


def test_provenance_names_the_distribution_of_each_plugin(broken_dist, tmp_path: Path) -> None:
    code = ("from harness.config import SweepConfig; from harness.plan import build_plan; "
            "from harness.runner import plan_plugins; import json, sys; "
            "from tests.harness.sweeps import small_config; "
            "c = SweepConfig.model_validate(small_config(policies=[{'name': 'r', 'kind': 'random'}], "
            "environments=[{'adapter': 'broken', 'episodes': 1}])); "
            "print(json.dumps(plan_plugins(build_plan(c))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=broken_dist, cwd=REPO,
                         timeout=120)
    import json

    facts = json.loads(out.stdout)
    assert facts["adapters"]["broken"]["distribution"]["name"] == "broken-plugin"
    assert facts["adapters"]["broken"]["distribution"]["version"] == "0.3"
    assert facts["policies"]["random"]["source"] == "builtin"


def test_the_harness_masks_actions_whatever_the_adapter_does() -> None:
    """The broken adapter lets masked 'jump' move its view; stepped the harness's way, jump does nothing."""
    import dataclasses

    import numpy as np

    from adapters.base import masked_step
    from harness.spec import Action
    from tests.harness.broken_plugin import BrokenAdapter

    adapter = BrokenAdapter()
    task = dataclasses.replace(adapter.tasks()[0], seed=4)
    adapter.reset(task)
    jumped = masked_step(adapter, Action(jump=True))[0].rgb
    adapter.reset(task)
    still = masked_step(adapter, Action())[0].rgb
    adapter.reset(task)
    direct = adapter.step(Action(jump=True))[0].rgb
    assert np.array_equal(jumped, still) and not np.array_equal(direct, still)
