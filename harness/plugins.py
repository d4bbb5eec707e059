"""Building adapters and policies from a ``module:attr`` target with the user's options, with one-line errors.

A config names code to load, as Hydra's ``_target_`` does: ``adapter: mypkg.sim:MyAdapter`` or
``kind: mypkg.policies:make_policy`` imports that module (running its top-level code, as any import does) and
calls the named class or factory with the entry's ``options``. So only name modules you trust. To keep a config
from calling anything else (``kind: 'os:system'``), the target is checked *before* it is called: it must be a class
that has every method of the protocol (Adapter: tasks, reset, step, close; Policy: reset, act), or a function whose
return annotation is such a class (or the protocol itself). The object it returns is checked against the protocol
too.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable
from typing import Any

from harness.errors import CrossviewError


def import_target(target: str) -> Any:
    """The object a ``module:attr`` path names."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ImportError(f"{target!r} is not an import path: write package.module:ClassName")
    return getattr(importlib.import_module(module), attr)


def protocol_methods(protocol: type) -> list[str]:
    """The public methods a Protocol class declares."""
    return sorted(n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_"))


def _has_methods(cls: Any, methods: list[str]) -> bool:
    return inspect.isclass(cls) and all(callable(getattr(cls, m, None)) for m in methods)


def check_target(what: str, obj: Any, protocol: type) -> None:
    """Refuse (one line) a target that is neither a class with the protocol's methods nor a factory declared to
    return one: checked before anything is called, so a config cannot run arbitrary callables."""
    methods = protocol_methods(protocol)
    need = f"a class implementing the {protocol.__name__} protocol ({', '.join(methods)})"
    if inspect.isclass(obj):
        if not _has_methods(obj, methods):
            missing = [m for m in methods if not callable(getattr(obj, m, None))]
            raise CrossviewError(f"{what} names class {obj.__qualname__}, which lacks {', '.join(missing)}: "
                                 f"name {need}")
        return
    if inspect.isfunction(obj):
        try:
            returns = typing.get_type_hints(obj).get("return")
        except Exception:  # unresolvable annotations: treated as none
            returns = None
        if returns is protocol or _has_methods(returns, methods):
            return
        raise CrossviewError(f"{what} names function {obj.__qualname__} without a return annotation of "
                             f"{need}: annotate the factory (-> {protocol.__name__}) or name the class")
    kind = type(obj).__name__
    raise CrossviewError(f"{what} names a {kind}, which crossview will not call: name {need}, or a factory "
                         f"annotated to return one")


def load_checked(what: str, load: Callable[[], Any], protocol: type | None = None) -> Any:
    """``load()`` a class or factory and check it against ``protocol`` without calling it; one-line errors."""
    try:
        factory = load()
    except CrossviewError:
        raise
    except Exception as exc:  # ImportError, AttributeError, or whatever the module raised at import
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise CrossviewError(f"{what} cannot be imported ({type(exc).__name__}: {first})") from None
    if protocol is not None:
        check_target(what, factory, protocol)
    return factory


def construct(what: str, load: Callable[[], Any], options: dict[str, Any], protocol: type | None = None) -> Any:
    """``load()`` the class or factory, check it against ``protocol`` (when given), call it with ``options``, and
    check what it made; every failure in one line."""
    factory = load_checked(what, load, protocol)
    try:  # only a call that does not fit the signature is about the options; a TypeError inside is a failure
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise CrossviewError(f"{what}: bad options {sorted(options)}: {exc}") from None
    except ValueError:  # no signature to check (some builtins): let the call say
        pass
    try:
        made = factory(**options)
    except CrossviewError:
        raise
    except TypeError as exc:
        raise CrossviewError(f"{what} failed while starting: TypeError: {exc}") from None
    except Exception as exc:  # a constructor rejecting an option's value (ValueError, ...), in one line
        first = " ".join(str(exc).split())[:300]
        raise CrossviewError(f"{what}: cannot start with options {sorted(options)} "
                             f"({type(exc).__name__}: {first})") from None
    if protocol is not None and not isinstance(made, protocol):
        raise CrossviewError(f"{what} made a {type(made).__name__}, which does not implement the "
                             f"{protocol.__name__} protocol")
    return made
