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

# name -> (adapter name, options)
ADAPTER_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "rooms": ("rooms", {"image_size": (96, 128)}),
    "rooms-rgb-only": ("rooms", {"image_size": (64, 64), "depth": False, "masked": ["pitch", "use"]}),
    "dmlab": ("dmlab", {"goals": str(FIXTURES / "dmlab_goals"), "width": 160, "height": 120}),
    "minecraft": ("minecraft", {"tasks": str(FIXTURES / "minecraft_tasks.yaml"), "masked": ["use"]}),
}

# name -> factory
POLICY_CASES: dict[str, Callable[[], Policy]] = {
    "random": lambda: make_policy("random"),
    "oracle": lambda: make_policy("oracle"),
    "torch-xview": lambda: make_policy("torch", checkpoint=_last_checkpoint()),
}


def build_adapter(case: str) -> Adapter:
    """Construct a conformance case, or skip the test naming what is missing."""
    name, options = ADAPTER_CASES[case]
    ok, why = availability(name)
    if not ok:
        pytest.skip(f"{name} backend unavailable: {why}")
    return make_adapter(name, **options)


def _last_checkpoint() -> str:
    from policies.series import expand_series

    return expand_series(str(Path(__file__).resolve().parents[2] / "checkpoints" / "xview"))[-1].path
