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


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    """The argument parser and the handler of each subcommand."""
    parser = argparse.ArgumentParser(
        prog="crossview",
        description="Zero-shot cross-environment evaluation of goal-conditioned visuomotor policies: sweep "
                    "checkpoints x environments x tasks x seeds, then report how each policy transfers.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers: dict[str, Handler] = {}

    from harness import commands, plugin_commands

    plugin_commands.add_commands(sub, handlers)
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
