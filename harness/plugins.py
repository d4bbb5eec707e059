"""Building adapters and policies from a ``module:attr`` target with the user's options, with one-line errors."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from harness.errors import CrossviewError


def import_target(target: str) -> Any:
    """The object a ``module:attr`` path names."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def construct(what: str, load: Callable[[], Any], options: dict[str, Any]) -> Any:
    """``load()`` the class or factory and call it with ``options``; import and option errors in one line."""
    try:
        factory = load()
    except (ImportError, AttributeError) as exc:
        raise CrossviewError(f"{what} cannot be imported: {exc}") from None
    try:  # only a call that does not fit the signature is about the options; a TypeError inside is a failure
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise CrossviewError(f"{what}: bad options {sorted(options)}: {exc}") from None
    except ValueError:  # no signature to check (some builtins): let the call say
        pass
    try:
        return factory(**options)
    except TypeError as exc:
        raise CrossviewError(f"{what} failed while starting: TypeError: {exc}") from None
