"""Answerers (and one adapter without its backend) for the tests, named by import path in probe configs."""

from __future__ import annotations

from harness.probe.items import ProbeItem
from tests.harness.faulty import UnreachableProtocol


def always_first(item: ProbeItem) -> str:
    return "A"


def index_of_last(item: ProbeItem) -> int:
    return len(item.choices) - 1


def fails_on_patches(item: ProbeItem) -> str:
    if item.task.startswith("patch_"):
        raise ValueError("this answerer cannot see patches")
    return "(A)"


class Constant:
    """A configurable answerer: the config's options are its constructor's arguments."""

    def __init__(self, letter: str = "B") -> None:
        self.letter = letter

    def answer(self, item: ProbeItem) -> str:
        return self.letter


def unannotated(item) -> str:
    return "A"


def two_arguments(item: ProbeItem, extra: str) -> str:
    return "A"


class AbsentBackend(UnreachableProtocol):
    """An adapter whose backend is not installed here (named by import path in probe configs)."""

    def __init__(self, **options: object) -> None:
        from harness.errors import BackendUnavailable

        raise BackendUnavailable("absent_sim is not installed: pip install absent-sim")
