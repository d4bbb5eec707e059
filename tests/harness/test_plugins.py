"""Third-party adapters and policies found through entry points, as an installed plugin package provides them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from adapters.base import make_adapter, registry
from policies.base import make_policy, policy_kinds
from tests.harness.sweeps import REPO, crossview


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch):
    """An installed distribution 'fake-plugin' declaring one adapter and one policy."""
    dist = tmp_path / "fake_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[crossview.adapters]\nfaultyrooms = tests.harness.faulty:FaultyRooms\n\n"
        "[crossview.policies]\nraising = tests.harness.faulty:RaisingPolicy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{REPO}")
    return tmp_path


def test_entry_points_register_adapters_and_policies(plugin: Path) -> None:
    entry = registry()["faultyrooms"]
    assert entry.source == "fake-plugin 0.1" and entry.dist == "fake-plugin"
    adapter = make_adapter("faultyrooms", image_size=(32, 32), every=1000)
    assert adapter.info.name == "rooms"
    adapter.close()
    assert "raising" in policy_kinds() and make_policy("raising").info.name == "raising"


def test_envs_lists_plugins(plugin: Path) -> None:
    out = crossview("envs", env={**__import__("os").environ})
    assert out.returncode == 0 and "faultyrooms" in out.stdout and "fake-plugin" in out.stdout
    assert str(plugin) in sys.path
