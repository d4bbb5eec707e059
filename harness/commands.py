"""Subcommands of ``crossview`` beyond ``envs``: sweep, status, export (and those later issues add)."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import CrossviewError

Handler = Any


def _plan_counts(plan: Any) -> Any:
    from rich.table import Table

    counts = Counter((e.policy.name, e.env.name, e.task.domain, e.env.role) for e in plan.episodes)
    table = Table(title=f"plan: {len(plan)} episodes")
    for col in ("policy", "adapter", "domain", "role", "episodes"):
        table.add_column(col)
    for (policy, adapter, domain, role), n in counts.items():
        table.add_row(policy, adapter, domain, role, str(n))
    return table


def cmd_sweep(args: argparse.Namespace) -> int:
    from harness import safety
    from harness.config import load_config, parse_config
    from harness.plan import build_plan
    from harness.progress import SweepProgress, summary_table
    from harness.runner import run_sweep
    from harness.store import Store

    config = load_config(args.config)
    overrides = {k: v for k, v in (("executor", args.executor), ("workers", args.workers),
                                   ("inference", args.inference)) if v is not None}
    if overrides:  # validated as if written in the config, so the same bounds hold
        config = parse_config({**config.model_dump(), **overrides}, "command line (--workers/--executor/--inference)")
    base = Path(args.config).resolve().parent
    console = Console(width=None if Console().is_terminal else 140)
    if args.dry_run:
        from harness.compat import check_policies

        plan = build_plan(config, base)
        check_policies(plan)  # constructs every policy once and checks it against each adapter it will face
        console.print(_plan_counts(plan))
        console.print("dry run: every adapter and policy was constructed and is compatible; nothing was run")
        return 0
    progress = None if args.quiet else SweepProgress(label=config.name)
    safety.install(interrupt=True)  # Ctrl-C, SIGTERM, SIGHUP: workers stop their robots first, then wind down
    outcome = run_sweep(config, args.out, allow_config_change=args.allow_config_change,
                        retry_errors=args.retry_errors, base=base, progress=progress, address=args.address)
    with Store(outcome.run_dir, create=False, readonly=True) as store:
        records = store.records()
    console.print(summary_table(records, title=f"{config.name}: {len(records)}/{outcome.planned} episodes stored"))
    counts = ", ".join(f"{k} {v}" for k, v in sorted(outcome.counts.items())) or "nothing new"
    console.print(f"this run: {counts}; skipped {outcome.skipped} already stored; results in {outcome.run_dir}")
    if outcome.interrupted:
        print("crossview sweep: interrupted: every finished episode is stored; run the same command to resume",
              file=sys.stderr)
    elif outcome.errors:
        console.print(f"[red]{outcome.errors} episode(s) ended in env_error or policy_error: see 'crossview "
                      f"status {outcome.run_dir}'[/]")
    return outcome.exit_code


def _open_run(path: str) -> Any:
    from harness.store import Store

    return Store(path, create=False, readonly=True)


def cmd_status(args: argparse.Namespace) -> int:
    from rich.table import Table

    with _open_run(args.run) as store:
        plan_ids = set(store.get_meta("plan_ids") or [])
        rows = store.rows()
        attempts = store.attempts()
    statuses = Counter(r["status"] for r in rows)
    done = {r["episode_id"] for r in rows}
    failed = statuses["env_error"] + statuses["policy_error"]
    table = Table(title=f"{args.run}")
    for col in ("planned", "done", "remaining", "failed", "retried attempts"):
        table.add_column(col, justify="right")
    table.add_row(str(len(plan_ids)), str(len(done & plan_ids)), str(len(plan_ids - done)), str(failed),
                  str(len(attempts)))
    console = Console()
    console.print(table)
    console.print("by status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    errors = [r for r in rows if r["status"] in ("env_error", "policy_error", "aborted")][-5:]
    for r in errors:
        console.print(f"  {r['status']} {r['episode_id']} ({r['policy']} on {r['adapter']}/{r['domain']}): "
                      f"{r['error']}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from harness.atomic import atomic_path

    with _open_run(args.run) as store:
        rows = store.rows()
    out = Path(args.output) if args.output else Path(args.run) / f"episodes.{args.format}"
    if out.is_dir():
        raise CrossviewError(f"--output {out} is a folder: give a file path (e.g. {out / ('episodes.' + args.format)})")
    if not out.parent.is_dir():
        raise CrossviewError(f"--output {out}: folder {out.parent} does not exist (create it or choose another path)")
    with atomic_path(out) as tmp:
        if args.format == "csv":
            names = list(rows[0]) if rows else ["episode_id"]
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=names)
                writer.writeheader()
                writer.writerows(rows)
        else:
            import pandas as pd

            pd.DataFrame(rows).to_parquet(tmp, index=False)
    print(f"wrote {len(rows)} episodes to {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness.atomic import clear_stale
    from reports.render import build

    out = Path(args.out) if args.out else Path(args.runs[0]) / "report"
    if out.exists() and not out.is_dir():
        raise CrossviewError(f"--out {out} is a file: give a folder for the report")
    for run in args.runs:  # every run is a crossview store before anything is written
        _open_run(run).close()
    try:  # build() clears what a killed report left; this clears what a failing one leaves
        index = build(args.runs, args.out, reps=args.reps)
    finally:
        clear_stale(out)
    print(f"wrote {index} (and summary.md, CSV tables, figures/ beside it)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from reports.compare import compare_policies

    print(compare_policies(args.runs, args.a, args.b, world=args.world, role=args.role, reps=args.reps))
    return 0


def _options(pairs: list[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CrossviewError(f"--option {pair!r}: write KEY=VALUE (e.g. device=cuda)")
        out[key] = yaml.safe_load(value)
    return out


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio

    from harness.serve import PolicyServer
    from policies.base import make_policy

    options = _options(args.option)
    if args.checkpoint:
        options["checkpoint"] = args.checkpoint
    token = serve_token(args)
    if not 0 <= args.port <= 65535:
        raise CrossviewError(f"--port {args.port}: give a port in 0..65535")
    if not 0 < args.max_mb <= 4096:
        raise CrossviewError(f"--max-mb {args.max_mb}: give a size in MiB above 0 and at most 4096")
    server = PolicyServer(lambda: make_policy(args.kind, **options), host=args.host, port=args.port, token=token,
                          max_bytes=int(args.max_mb * 2**20))

    def ready(port: int) -> None:  # only once the socket is bound
        if token is None and args.host not in LOOPBACK:
            print(f"crossview serve: warning: serving anyone who can reach {args.host}:{port} (--insecure)",
                  file=sys.stderr)
        print(f"serving {server.meta_policy.info.name} on ws://{args.host}:{port}"
              f"{' (token required)' if token else ''} (Ctrl-C stops)", flush=True)

    asyncio.run(server.serve(ready=ready))
    return 0


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve_token(args: argparse.Namespace) -> str | None:
    """The token ``serve`` requires; a non-loopback bind needs one (or an explicit --insecure)."""
    if args.token_env is not None:
        token = os.environ.get(args.token_env)
        if not token:
            raise CrossviewError(f"--token-env {args.token_env}: that environment variable is empty or unset "
                                 f"(export {args.token_env}=<secret> first)")
        return token
    if args.token is not None:
        if not args.token:
            raise CrossviewError("--token is empty: give a secret (better: --token-env VAR)")
        return args.token
    if args.host not in LOOPBACK and not args.insecure:
        raise CrossviewError(f"--host {args.host} lets other machines in: require a token with --token-env VAR, "
                             "or pass --insecure to serve anyone who can reach this port")
    return None


def cmd_goal(args: argparse.Namespace) -> int:
    from harness import goal_capture

    if args.goal_command == "capture":
        from harness.config import check_name
        from harness.spec import Interaction

        if sum(v is not None for v in (args.file, args.serial, args.dmlab)) != 1:
            raise CrossviewError("goal capture: give exactly one of --file RECORDING, --serial CAMERA or --dmlab LEVEL")
        try:
            check_name(args.name)
        except ValueError as exc:
            raise CrossviewError(f"--name: {exc}") from None
        Interaction.parse(args.interaction)
        if args.frame < 0:
            raise CrossviewError(f"--frame {args.frame}: give a frame number >= 0")
        size = _size(args.size or ("240,320" if args.dmlab else "224,224"))
        if args.dmlab is not None:
            from adapters import dmlab_capture

            if args.seed is None:
                raise CrossviewError("goal capture --dmlab: give --seed N (the level seed the goal's episodes use)")
            path = dmlab_capture.capture(args.out, args.name, args.box, args.seed, args.dmlab, args.steps,
                                         args.object, args.interaction, args.target, args.split, size)
            print(f"saved goal {args.name} in {args.out} (preview: {args.out}/{args.name}.preview.png)")
            return 0
        path = goal_capture.capture(args.out, args.name, args.box, args.interaction, args.file, args.serial,
                                    args.frame, size, args.target, args.split, args.instruction)
        print(f"saved goal {args.name} in {args.out} (preview: {args.out}/{args.name}.preview.png)")
        return 0 if path else 1
    target = goal_capture.show(args.goal, args.out)
    print(f"wrote {target}")
    return 0


def _size(text: str) -> tuple[int, int]:
    """``--size HEIGHT,WIDTH`` with both in 16..4096."""
    try:
        h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise CrossviewError(f"--size {text!r}: give HEIGHT,WIDTH in pixels (e.g. 224,224)") from None
    if not (16 <= h <= 4096 and 16 <= w <= 4096):
        raise CrossviewError(f"--size {text!r}: height and width must lie in 16..4096")
    return h, w


def _reps(text: str) -> int:
    """argparse type: a bootstrap resample count, 1..1,000,000."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{value} is outside 1..1000000")
    return value


def add_commands(sub: Any, handlers: dict[str, Handler]) -> None:
    """Register the subcommands."""
    p = sub.add_parser("sweep", help="run (or resume) every episode of a sweep config",
                       description="Run every policy/checkpoint x adapter x domain x task x seed episode of CONFIG "
                                   "and store each one durably in OUT/<name>/results.sqlite. Running the same "
                                   "command again resumes: stored episodes are skipped. Exit code 1 if any "
                                   "episode ended in env_error or policy_error, 130 if interrupted.")
    p.add_argument("config", help="sweep YAML file")
    p.add_argument("--out", default="runs", help="folder that holds runs (default: runs)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: the config's)")
    p.add_argument("--dry-run", action="store_true", help="print the plan's counts and run nothing")
    p.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="run workers as local processes or as Ray actors (default: the config's)")
    p.add_argument("--inference", choices=("per_worker", "shared"), default=None,
                   help="a policy copy per worker, or one batching policy copy per device serving every worker: "
                        "a process with --executor local, a Ray actor (batching.gpus_per_copy GPUs) with --executor "
                        "ray (default: the config's)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join: 'auto' or ray://HOST:PORT (default: start a local Ray)")
    p.add_argument("--allow-config-change", action="store_true",
                   help="add a changed config's episodes to an existing run instead of refusing")
    p.add_argument("--retry-errors", action="store_true", help="run again the episodes stored as errors")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    handlers["sweep"] = cmd_sweep

    p = sub.add_parser("status", help="show a run's done / remaining / failed episodes")
    p.add_argument("run", help="run folder (OUT/<name>)")
    handlers["status"] = cmd_status

    p = sub.add_parser("export", help="export a run's episodes as CSV or Parquet")
    p.add_argument("run", help="run folder (OUT/<name>)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--output", "-o", default=None, help="file to write (default: RUN/episodes.FORMAT)")
    handlers["export"] = cmd_export

    p = sub.add_parser("report", help="write the generalization report of one or more runs",
                       description="Merge the episodes of RUN... (a sweep still in progress too) and write "
                                   "index.html with figures, summary.md and CSV tables.")
    p.add_argument("runs", nargs="+", help="run folders (OUT/<name>)")
    p.add_argument("--out", default=None, help="report folder (default: FIRST_RUN/report)")
    p.add_argument("--reps", type=_reps, default=2000, help="bootstrap resamples (default 2000)")
    handlers["report"] = cmd_report

    p = sub.add_parser("compare", help="paired comparison of two policies on identical episodes",
                       description="Compare policies A and B on the episodes they share (same task, target, "
                                   "seed and index): success difference with Newcombe's paired interval, exact "
                                   "McNemar p-value, probability of improvement.")
    p.add_argument("runs", nargs="+", help="run folders (OUT/<name>)")
    p.add_argument("--a", required=True, help="policy A (as named in the run, e.g. xview@3000)")
    p.add_argument("--b", required=True, help="policy B")
    p.add_argument("--world", default=None, help="only this world: ADAPTER or ADAPTER/DOMAIN")
    p.add_argument("--role", default=None, choices=("source", "zeroshot"), help="only source or zero-shot tasks")
    p.add_argument("--reps", type=_reps, default=2000, help="bootstrap resamples (default 2000)")
    handlers["compare"] = cmd_compare

    p = sub.add_parser("serve", help="put a policy behind a websocket (for robots driven from a GPU server)",
                       description="Serve a policy to 'kind: remote' clients: msgpack over websocket, metadata "
                                   "first, health checks answered while busy, optional token, size limit. Binds "
                                   "127.0.0.1 unless --host says otherwise.")
    p.add_argument("--kind", required=True, help="policy kind (torch, rocket, random, oracle, or module:factory)")
    p.add_argument("--checkpoint", default=None, help="checkpoint file or hub name, for kinds that take one")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="a policy option (repeat)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--token", default=None, help="require this token (prefer --token-env)")
    p.add_argument("--token-env", default=None, help="read the token from this environment variable")
    p.add_argument("--insecure", action="store_true",
                   help="allow a non-loopback --host without a token (anyone who reaches the port is served)")
    p.add_argument("--max-mb", type=float, default=32.0, help="largest message accepted, MiB (default 32)")
    handlers["serve"] = cmd_serve

    p = sub.add_parser("goal", help="capture or preview cross-view goals for the rig or DMLab")
    goal = p.add_subparsers(dest="goal_command", metavar="ACTION", required=True)
    c = goal.add_parser("capture", help="goal image + target mask (GrabCut in a box, refined by depth)")
    c.add_argument("--file", default=None, help="a RealSense recording (.db3 or .bag)")
    c.add_argument("--serial", default=None, help="a connected RealSense camera's serial number")
    c.add_argument("--box", required=True, help="x0,y0,x1,y1 around the target, in pixels of the saved size")
    c.add_argument("--name", required=True, help="the goal's name in the library")
    c.add_argument("--out", default="goals", help="goal library folder (default: goals)")
    c.add_argument("--interaction", default="approach")
    c.add_argument("--target", default="", help="what the target is (default: the name)")
    c.add_argument("--split", default="train", choices=("train", "heldout"))
    c.add_argument("--instruction", default="", help="the task in words, e.g. 'go to the red ball' (rig: then "
                                                     "sweeps may use goals: [language])")
    c.add_argument("--frame", type=int, default=0, help="which frame of the source (default 0)")
    c.add_argument("--size", default=None, help="height,width of the saved goal (default 224,224; DMLab 240,320)")
    c.add_argument("--dmlab", default=None, metavar="LEVEL", help="capture in this DeepMind Lab level instead")
    c.add_argument("--seed", type=int, default=None, help="DMLab: the level seed (fixes maze, spawn, objects)")
    c.add_argument("--steps", default="", help="DMLab: actions before the shot, e.g. yaw=30*3,forward*12")
    c.add_argument("--object", default=None, metavar="ROW,COL",
                   help="DMLab: the goal object's maze cell (1-based); success then needs that object")
    s = goal.add_parser("show", help="write a preview PNG of a saved goal")
    s.add_argument("goal", help="path of the goal (FOLDER/NAME or FOLDER/NAME.png)")
    s.add_argument("--out", default=None, help="PNG to write (default: FOLDER/NAME.preview.png)")
    handlers["goal"] = cmd_goal
