"""The adapters and policies the conformance suite runs against, each built the way a user would.

A case whose backend is missing here is skipped with the one-line reason its adapter gives. Later backends add a
factory here (with the local wire-protocol server their tests start, where the engine cannot run).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Adapter, availability, make_adapter
from policies.base import Policy, make_policy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

def _airsim() -> tuple[str, dict[str, Any]]:
    from tests.servers.fixtures import start, suite

    return "airsim", {"tasks": str(suite("airsim")), "port": start("airsim_server")}


def _unrealcv() -> tuple[str, dict[str, Any]]:
    from tests.servers.fixtures import start, suite

    return "unrealcv", {"tasks": str(suite("unrealcv")), "port": start("unrealcv_server")}


# name -> (adapter name, options), or a function giving them (starting the local protocol server it needs)
ADAPTER_CASES: dict[str, Any] = {
    "rooms": ("rooms", {"image_size": (96, 128)}),
    "rooms-rgb-only": ("rooms", {"image_size": (64, 64), "depth": False, "masked": ["pitch", "use"]}),
    "dmlab": ("dmlab", {"goals": str(FIXTURES / "dmlab_goals"), "width": 160, "height": 120}),
    "minecraft": ("minecraft", {"tasks": str(FIXTURES / "minecraft_tasks.yaml"), "masked": ["use"]}),
    "airsim": _airsim,
    "unrealcv": _unrealcv,
}


def adapter_case(case: str) -> tuple[str, dict[str, Any]]:
    """The adapter name and options of a case (starting its server if it needs one)."""
    entry = ADAPTER_CASES[case]
    return entry() if callable(entry) else entry

# name -> factory
POLICY_CASES: dict[str, Callable[[], Policy]] = {
    "random": lambda: make_policy("random"),
    "oracle": lambda: make_policy("oracle"),
    "torch-xview": lambda: make_policy("torch", checkpoint=_last_checkpoint()),
}


def build_adapter(case: str) -> Adapter:
    """Construct a conformance case, or skip the test naming what is missing."""
    name, _ = entry if not callable(entry := ADAPTER_CASES[case]) else (case, None)
    ok, why = availability(name)
    if not ok:
        pytest.skip(f"{name} backend unavailable: {why}")
    name, options = adapter_case(case)
    return make_adapter(name, **options)


def _last_checkpoint() -> str:
    from policies.series import expand_series

    return expand_series(str(Path(__file__).resolve().parents[2] / "checkpoints" / "xview"))[-1].path
