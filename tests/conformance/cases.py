"""The adapters and policies the conformance suite runs against, each built the way a user would.

A case whose backend is missing here is skipped with the one-line reason its adapter gives. Later backends add a
factory here (with the local wire-protocol server their tests start, where the engine cannot run).
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.base import availability
from policies.base import BUILTIN_POLICIES, Policy, make_policy, policy_kinds

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

def _airsim() -> tuple[str, dict[str, Any]]:
    from tests.servers.fixtures import start, suite

    return "airsim", {"tasks": str(suite("airsim")), "port": start("airsim_server")}


def _unrealcv() -> tuple[str, dict[str, Any]]:
    from tests.servers.fixtures import start, suite

    return "unrealcv", {"tasks": str(suite("unrealcv")), "port": start("unrealcv_server"), "resolution": [96, 72]}


# name -> (adapter name, options), or a function giving them (starting the local protocol server it needs)
ADAPTER_CASES: dict[str, Any] = {
    "rooms": ("rooms", {"image_size": [96, 128]}),
    "rooms-rgb-only": ("rooms", {"image_size": [64, 64], "depth": False, "masked": ["pitch", "use"]}),
    "dmlab": ("dmlab", {"goals": str(FIXTURES / "dmlab_goals"), "width": 160, "height": 120}),
    "minecraft": ("minecraft", {"tasks": str(FIXTURES / "minecraft_tasks.yaml"), "masked": ["use"]}),
    "airsim": _airsim,
    "unrealcv": _unrealcv,
}


def adapter_case(case: str) -> tuple[str, dict[str, Any]]:
    """The adapter name and options of a case (starting its server if it needs one)."""
    entry = ADAPTER_CASES[case]
    return entry() if callable(entry) else entry

def _remote() -> Policy:
    """The random policy behind a policy server started for the session, through the remote client."""
    from harness.serve import serve_in_thread

    if "remote" not in _SERVED:
        port, stop = serve_in_thread(lambda: make_policy("random"))
        atexit.register(stop)
        _SERVED["remote"] = port
    return make_policy("remote", url=f"ws://127.0.0.1:{_SERVED['remote']}")


_SERVED: dict[str, int] = {}

# name -> factory; a factory raising BackendUnavailable skips its case with the reason
POLICY_CASES: dict[str, Callable[[], Policy]] = {
    "random": lambda: make_policy("random"),
    "oracle": lambda: make_policy("oracle"),
    "torch-xview": lambda: make_policy("torch", checkpoint=_last_checkpoint()),
    "remote": _remote,
    "rocket": lambda: make_policy("rocket"),
}
# every policy kind a plugin registers joins, built with its default options
POLICY_CASES.update({f"plugin:{k}": (lambda k=k: make_policy(k)) for k in policy_kinds()
                     if k not in BUILTIN_POLICIES})


def policy_factory(case: str) -> tuple[str, Callable[[], Policy]]:
    """The policy kind of a case and how to build it (as a user would, options included)."""
    kind = case.removeprefix("plugin:").replace("torch-xview", "torch")
    return kind, POLICY_CASES[case]


def require_adapter(case: str) -> None:
    """Skip the test, naming what is missing, unless the case's backend can run here."""
    entry = ADAPTER_CASES[case]
    name = case if callable(entry) else entry[0]  # check the backend before starting any server it needs
    ok, why = availability(name)
    if not ok:
        pytest.skip(f"{name} backend unavailable: {why}")


def _last_checkpoint() -> str:
    from policies.series import expand_series

    return expand_series(str(Path(__file__).resolve().parents[2] / "checkpoints" / "xview"))[-1].path
