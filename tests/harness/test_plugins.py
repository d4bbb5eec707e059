"""Third-party adapters and policies found through entry points, as an installed plugin package provides them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from adapters.base import make_adapter, registry
from policies.base import make_policy, policy_kinds
from tests.harness.sweeps import REPO, crossview, fake_dist


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch):
    """An installed distribution 'fake-plugin' declaring one adapter and one policy."""
    fake_dist(tmp_path, "fake-plugin", "0.1", "[crossview.adapters]\nfaultyrooms = tests.harness.faulty:FaultyRooms\n\n"
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


class _Broken:
    """A plugin whose constructor fails inside with a TypeError that has nothing to do with its options."""

    def __init__(self, size: int = 1) -> None:
        self.size = size + "px"  # TypeError: unsupported operand


def test_constructor_errors_say_what_went_wrong() -> None:
    from harness.errors import CrossviewError
    from harness.plugins import construct

    with pytest.raises(CrossviewError, match=r"adapter 'broken' failed while starting: TypeError: unsupported"):
        construct("adapter 'broken'", lambda: _Broken, {"size": 2})
    with pytest.raises(CrossviewError, match=r"adapter 'broken': bad options \['colour'\]"):
        construct("adapter 'broken'", lambda: _Broken, {"colour": "red"})
