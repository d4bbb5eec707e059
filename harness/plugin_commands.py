"""``crossview envs``, ``policies``, ``check adapter|policy`` and ``new adapter|policy``: the plugin-facing commands."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.errors import CrossviewError

Handler = Any


def parse_options(pairs: list[str] | None, flag: str = "-o") -> dict[str, Any]:
    """``key=value`` pairs as options; values are YAML scalars or lists (``image_size=[96,128]``, ``depth=false``)."""
    import yaml

    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CrossviewError(f"{flag} {pair!r}: write key=value, e.g. {flag} image_size=[96,128]")
        try:
            options[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            raise CrossviewError(f"{flag} {pair!r}: the value is not valid YAML (quote it)") from None
    return options


def _console() -> Any:
    from rich.console import Console

    return Console(width=max(110, Console().width))


def _availability_table(title: str, first: str, entries: dict[str, Any], kind: str) -> Any:
    from rich.markup import escape
    from rich.table import Table

    from harness.registry import probe_isolated

    names = sorted(entries)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: probe_isolated(kind, n), names))
    table = Table(title=title)
    for col in (first, "available", "versions", "details", "source"):
        table.add_column(col)
    for name, r in zip(names, results):
        table.add_row(name, "[green]yes[/]" if r.ok else "[red]no[/]", escape(r.versions), escape(r.detail),
                      escape(entries[name].source))
    return table


def cmd_envs(args: argparse.Namespace) -> int:
    from adapters.base import registry

    _console().print(_availability_table("crossview adapters", "adapter", registry(), "adapter"))
    return 0


def cmd_policies(args: argparse.Namespace) -> int:
    from policies.base import policy_registry

    _console().print(_availability_table("crossview policy kinds", "kind", policy_registry(), "policy"))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from harness.conformance import check_adapter, check_policy

    options = parse_options(args.option)
    only = tuple(args.only or ())
    if args.what == "adapter":
        if args.adapter_option:
            raise CrossviewError("-a/--adapter-option is for 'check policy' (the adapter its checks run on)")
        report = check_adapter(args.name, options, only=only)
    else:
        report = check_policy(args.name, options, adapter=args.adapter,
                              adapter_options=parse_options(args.adapter_option, "-a") or None, only=only)
    _console().print(report.table())
    if report.unavailable:
        print(f"crossview check: {args.what} {args.name!r} cannot run here: {report.unavailable}")
    return 0 if report.ok else 1


def cmd_new(args: argparse.Namespace) -> int:
    from harness.template import write_template

    folder = write_template(args.what, args.name, args.dir)
    print(f"wrote {folder}: pip install -e {folder}, then 'crossview check {args.what} {args.name}'")
    return 0


def add_commands(sub: Any, handlers: dict[str, Handler]) -> None:
    """Register the plugin-facing subcommands."""
    sub.add_parser("envs", help="list every adapter and whether its backend can run here (client, version)")
    handlers["envs"] = cmd_envs
    sub.add_parser("policies", help="list every policy kind and whether it can run here")
    handlers["policies"] = cmd_policies

    p = sub.add_parser("check", help="run the plugin contract checks on an adapter or a policy kind",
                       description="Run the conformance checks on a registered or import-path (module:Class) "
                                   "adapter or policy kind, and print a pass/fail table; exit 1 if any fails.")
    p.add_argument("what", choices=("adapter", "policy"))
    p.add_argument("name", help="registered name, or module:Class for an unpackaged plugin")
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE", help="constructor option (repeatable)")
    p.add_argument("--only", action="append", metavar="TEXT", help="run only checks whose name contains TEXT")
    p.add_argument("--adapter", default="rooms", help="check policy: the adapter whose starts it acts on")
    p.add_argument("-a", "--adapter-option", action="append", metavar="KEY=VALUE",
                   help="check policy: an option of that adapter (repeatable)")
    handlers["check"] = cmd_check

    p = sub.add_parser("new", help="write a plugin package skeleton (an adapter or a policy) that passes 'check'")
    p.add_argument("what", choices=("adapter", "policy"))
    p.add_argument("name", help="plugin name, e.g. mysim (letters, digits, underscores)")
    p.add_argument("--dir", default=".", help="where to create the package folder (default: here)")
    handlers["new"] = cmd_new
