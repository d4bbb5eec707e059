"""Subcommands of ``crossview`` beyond ``envs``; each registers its parser and handler here."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any, handlers: dict[str, Any]) -> None:
    """Add the subcommands that grow with the project (sweep, status, export, report, ...)."""
    del sub, handlers
    _ = argparse
