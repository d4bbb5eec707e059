"""Answerers (and one adapter without its backend) for the tests, named by import path in probe configs."""

from __future__ import annotations

from harness.probe.items import ProbeItem


def always_first(item: ProbeItem) -> str:
    return "A"


def index_of_last(item: ProbeItem) -> int:
    return len(item.choices) - 1


def fails_on_patches(item: ProbeItem) -> str:
    if item.task.startswith("patch_"):
        raise ValueError("this answerer cannot see patches")
    return "(A)"


def make_constant(letter: str = "B"):
    """A factory: the config's options are its arguments."""
    return lambda item: letter


def two_arguments(item: ProbeItem, extra: str) -> str:
    return "A"


class AbsentBackend:
    """An adapter whose backend is not installed here (named by import path in probe configs)."""

    def __init__(self, **options: object) -> None:
        from harness.errors import BackendUnavailable

        raise BackendUnavailable("absent_sim is not installed: pip install absent-sim")
