"""Every example config is valid; those on the embedded world plan without any simulator running."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import load_config
from harness.plan import build_plan

EXAMPLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "examples").glob("*.yaml")
                  if not p.stem.startswith("probe"))  # probe configs: tests/probe/test_runner.py


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_config_is_valid(path: Path) -> None:
    config = load_config(path)
    assert config.policies and config.environments and config.fingerprint()
    if all(env.adapter == "rooms" for env in config.environments):
        plan = build_plan(config, path.parent)
        assert len(plan) > 0
