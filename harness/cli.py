"""The ``crossview`` command: one entry point, one subcommand per job.

Every user error ends as one line on stderr and a non-zero exit code; nothing is half-written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from harness.errors import CrossviewError

EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


def _cmd_envs(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from adapters.base import availability, registry

    table = Table(title="crossview adapters")
    for col in ("adapter", "available", "details", "source"):
        table.add_column(col)
    for name, entry in sorted(registry().items()):
        ok, why = availability(name)
        table.add_row(name, "[green]yes[/]" if ok else "[red]no[/]", escape(why), escape(entry.source))
    Console(width=max(100, Console().width)).print(table)
    return 0


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    """The argument parser and the handler of each subcommand."""
    parser = argparse.ArgumentParser(
        prog="crossview",
        description="Zero-shot cross-environment evaluation of goal-conditioned visuomotor policies: sweep "
                    "checkpoints x environments x tasks x seeds, then report how each policy transfers.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers: dict[str, Handler] = {}

    sub.add_parser("envs", help="list every adapter and whether its backend is available here")
    handlers["envs"] = _cmd_envs

    from harness import commands

    commands.add_commands(sub, handlers)
    from harness.probe.command import add_probe_command

    add_probe_command(sub, handlers)
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``crossview`` command line; returns the process exit code."""
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handlers[args.command](args)
    except CrossviewError as exc:
        print(f"crossview {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"crossview {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
