"""The ``crossview`` command: one entry point, one subcommand per job.

The error policy lives here, once for every subcommand: whatever a user can cause or meet ends as exactly one line
on stderr (what is wrong, which file or field, what would fix it) and an exit code from ``harness.errors``: 2 for
bad input, 1 for a runtime failure, 130 when interrupted by Ctrl-C or SIGTERM. No traceback reaches the user;
``CROSSVIEW_DEBUG=1`` shows it for bugs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from harness.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, CrossviewError, describe_os_error

Handler = Callable[[argparse.Namespace], int]


class Interrupted(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: finished work kept, one 'interrupted' line."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (argparse prints the whole usage block otherwise)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message.splitlines()[0] if message else 'bad arguments'} "
              f"(see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    """The argument parser and the handler of each subcommand."""
    parser = _Parser(
        prog="crossview",
        description="Zero-shot cross-environment evaluation of goal-conditioned visuomotor policies: sweep "
                    "checkpoints x environments x tasks x seeds, then report how each policy transfers.",
        epilog="Exit codes: 0 done, 1 runtime failure (or episodes that ended in errors), 2 bad input "
               "(config, arguments, files), 130 interrupted (Ctrl-C or SIGTERM).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers: dict[str, Handler] = {}

    from harness import commands, plugin_commands

    plugin_commands.add_commands(sub, handlers)
    commands.add_commands(sub, handlers)
    from harness.probe.command import add_probe_command

    add_probe_command(sub, handlers)
    return parser, handlers


def one_line(exc: BaseException) -> tuple[str, int]:
    """The message and exit code the CLI answers ``exc`` with (the error policy, in one place)."""
    if isinstance(exc, CrossviewError):
        return str(exc), exc.exit_code
    if isinstance(exc, OSError):
        return describe_os_error(exc), EXIT_FAILURE
    if isinstance(exc, sqlite3.Error):
        fix = ("free disk space, then run the same command again to resume" if "full" in str(exc)
               else "the results store is damaged or not a crossview store")
        return f"SQLite: {exc} ({fix})", EXIT_FAILURE
    if isinstance(exc, UnicodeError):
        return f"cannot decode input as UTF-8 ({exc.reason} at byte {getattr(exc, 'start', '?')})", EXIT_USAGE
    if isinstance(exc, MemoryError):
        return "out of memory: lower the sweep's size (episodes, seeds, workers) or image_size", EXIT_FAILURE
    if isinstance(exc, RecursionError):
        return "input nested too deeply", EXIT_USAGE
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return (f"internal error {type(exc).__name__}{at}: {text} (a crossview bug: please report it; "
            "CROSSVIEW_DEBUG=1 shows the traceback)"), EXIT_FAILURE


def _on_sigterm(signum: int, frame: Any) -> None:
    from harness import safety

    safety.emergency_stop("SIGTERM")  # a robot stops first, whatever else happens
    raise Interrupted()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``crossview`` command line; returns the process exit code."""
    parser, handlers = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a one-line usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help()
        print("crossview: error: give a COMMAND (listed above)", file=sys.stderr)
        return EXIT_USAGE
    name = f"crossview {args.command}"
    previous = None
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread (main() called from a thread): leave signals alone
            previous = None
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print(f"{name}: interrupted (finished work is kept; run the same command again to resume)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if os.environ.get("CROSSVIEW_DEBUG"):
            traceback.print_exc()
        message, code = one_line(exc)
        print(f"{name}: error: {' '.join(message.split())}", file=sys.stderr)
        return code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
