"""End to end from the command line, in the MineStudio environment: MineStudio policies with random weights saved to
local folders → ``crossview sweep`` on Rooms → the store → ``crossview report`` (and one-line errors)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.minestudio
pytest.importorskip("minestudio.models", reason="MineStudio is not installed here: run 'nox -s minestudio'")

import torch  # noqa: E402

from tests.policies.minestudio_models import TinyCrossView, saved, tiny_vpt  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def crossview(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=540)


def test_sweep_store_report_with_minestudio_policies(tmp_path: Path) -> None:
    vpt = saved(tiny_vpt(), tmp_path / "vpt")
    torch.manual_seed(1)
    xview = saved(TinyCrossView(), tmp_path / "xview")
    config = {
        "name": "ms",
        "policies": [
            {"name": "vpt", "kind": "minestudio",
             "options": {"model": "minestudio.models:VPTPolicy", "checkpoint": str(vpt), "device": "cpu"}},
            {"name": "xview", "kind": "rocket",
             "options": {"model": "tests.policies.minestudio_models:TinyCrossView", "code": str(REPO),
                         "checkpoint": str(xview), "cfg_coef": 1.0, "device": "cpu"}},
        ],
        "environments": [{"adapter": "rooms", "role": "source", "domains": ["apartment"], "interactions": ["approach"],
                          "difficulties": ["easy"], "episodes": 2, "max_steps": 6}],
        "seeds": [0], "workers": 1, "envs_per_worker": 2,
    }
    path = tmp_path / "ms.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    run = crossview("sweep", str(path), "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    with sqlite3.connect(tmp_path / "runs" / "ms" / "results.sqlite") as db:
        rows = db.execute("SELECT policy, status, steps FROM episodes").fetchall()
    assert sorted({r[0] for r in rows}) == ["vpt", "xview"] and len(rows) == 4
    assert all(status in ("success", "failure", "timeout") and steps >= 1 for _, status, steps in rows), rows
    report = crossview("report", str(tmp_path / "runs" / "ms"), cwd=tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr
    assert (tmp_path / "runs" / "ms" / "report" / "index.html").stat().st_size > 0


def test_offline_hub_name_and_uncached_backbone_are_one_line(tmp_path: Path) -> None:
    rocket1 = tmp_path / "rocket1"  # a save_pretrained folder whose config names a timm backbone on the hub
    rocket1.mkdir()
    (rocket1 / "config.json").write_text(json.dumps({"backbone": "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k",
                                                     "hiddim": 32, "num_heads": 2, "num_layers": 1, "timesteps": 4,
                                                     "mem_len": 4}))
    (rocket1 / "model.safetensors").write_bytes(b"")
    for kind, options, message in [
        ("rocket", {"model": "minestudio.models:VPTPolicy", "checkpoint": "crossview-test/not-cached"},
         "is a Hugging Face hub name, but the hub cannot be reached"),
        # MineStudio's ROCKET-1 builds its backbone with timm.create_model(..., pretrained=True)
        # (minestudio/models/rocket_one/body.py:80): offline and not cached, that is one line naming the backbone
        ("minestudio", {"model": "minestudio.models:RocketPolicy", "goal": "none", "checkpoint": str(rocket1)},
         "'timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k' (timm backbone weights)"),
    ]:
        config = {"name": "bad", "policies": [{"name": "p", "kind": kind, "options": options}],
                  "environments": [{"adapter": "rooms", "episodes": 1, "max_steps": 2}], "workers": 1}
        path = tmp_path / "bad.yaml"
        path.write_text(json.dumps(config))
        run = crossview("sweep", str(path), "--out", str(tmp_path / "runs"), cwd=tmp_path,
                        env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
        assert run.returncode != 0
        assert message in run.stderr and "Traceback" not in run.stderr + run.stdout, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
