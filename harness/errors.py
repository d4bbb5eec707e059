"""User-facing errors: one line that names what is wrong and how to fix it."""

import importlib
from typing import Any


class CrossviewError(Exception):
    """An error caused by user input or the environment; the CLI prints it as one line and exits non-zero."""


class BackendUnavailable(CrossviewError):
    """An adapter or policy whose backend library or engine is not installed here."""


def require(module: str, who: str, install: str) -> Any:
    """Import an optional backend module, or raise BackendUnavailable saying who needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(f"{who} needs {module} ({exc}): {install}") from None
