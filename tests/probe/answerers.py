"""Answerers for the tests, named by import path in probe configs (kind: callable)."""

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
