"""User-facing errors: one line that names what is wrong and how to fix it, and the exit code it ends with.

Exit codes of ``crossview`` (README, "Exit codes"): 0 done; 1 a runtime failure (disk full, an unreadable or
unwritable file, a database error, episodes that ended in errors); 2 bad input (config, arguments, files the user
gave, a missing backend); 130 interrupted (Ctrl-C or SIGTERM; finished work is kept).
"""

from __future__ import annotations

import errno
import importlib
import os
from typing import Any

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CrossviewError(Exception):
    """An error caused by user input or the environment; the CLI prints it as one line and exits non-zero."""

    exit_code = EXIT_USAGE


class RunFailure(CrossviewError):
    """A failure met while running (disk full, a broken store, an unwritable file): exit code 1."""

    exit_code = EXIT_FAILURE


class BackendUnavailable(CrossviewError):
    """An adapter or policy whose backend library or engine is not installed here."""


def require(module: str, who: str, install: str) -> Any:
    """Import an optional backend module, or raise BackendUnavailable saying who needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(f"{who} needs {module} ({exc}): {install}") from None


_OS_FIXES = {
    errno.ENOSPC: "free disk space (or write elsewhere), then run the same command again",
    errno.EDQUOT: "free space in your quota, then run the same command again",
    errno.EACCES: "choose a location you may write to, or fix its permissions",
    errno.EPERM: "choose a location you may write to, or fix its permissions",
    errno.EROFS: "the filesystem is read-only: choose another location",
    errno.EISDIR: "give a file path, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EEXIST: "a file is in the way: remove it or choose another path",
    errno.ENOENT: "check the path",
    errno.ENAMETOOLONG: "use a shorter name",
    errno.EADDRINUSE: "the port is taken: stop what uses it or choose another --port",
    errno.EADDRNOTAVAIL: "this machine has no such address: use 127.0.0.1 or one of its own addresses",
    errno.EMFILE: "too many open files: raise 'ulimit -n' or use fewer workers",
}


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: what failed, on which file, and what would fix it."""
    import socket

    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host ({exc.strerror or exc}): give an IP address or a resolvable host name"
    what = exc.strerror or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    where = f" {os.fsdecode(exc.filename)!r}" if exc.filename is not None else ""
    fix = _OS_FIXES.get(exc.errno or -1, "")
    return f"{what}{':' if where else ''}{where}" + (f" ({fix})" if fix else "")
