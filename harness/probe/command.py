"""``crossview probe CONFIG``: build (or resume) a probe set, answer it, export it, write its report."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console


def cmd_probe(args: argparse.Namespace) -> int:
    from harness.probe.config import load_probe_config
    from harness.probe.runner import run_probe
    from reports.probe import build_probe_report

    config = load_probe_config(args.config)
    console = Console(width=None if Console().is_terminal else 140)
    say = (lambda _m: None) if args.quiet else (lambda m: console.print(m, markup=False, highlight=False))
    outcome = run_probe(config, args.out, allow_config_change=args.allow_config_change,
                        retry_errors=args.retry_errors, say=say)
    gen_rate = outcome.items_new / outcome.generate_s if outcome.generate_s > 0 and outcome.items_new else 0.0
    console.print(f"generated {outcome.items_new} new items from {outcome.frames_new} frames in "
                  f"{outcome.generate_s:.1f} s ({gen_rate:.1f} items/s); {outcome.items_total} items stored",
                  markup=False, highlight=False)
    for name, seconds in outcome.answer_s.items():
        n = sum(v for (a, _), v in outcome.answers.items() if a == name)
        statuses = ", ".join(f"{s} {v}" for (a, s), v in sorted(outcome.answers.items()) if a == name) or "nothing new"
        rate = f" ({n / seconds:.1f} items/s)" if n and seconds > 0 else ""
        console.print(f"{name}: {statuses} in {seconds:.2f} s{rate}", markup=False, highlight=False)
    for note in outcome.skipped_sources:
        console.print(f"skipped source {note}", markup=False, highlight=False)
    if not args.no_report:
        index = build_probe_report(outcome.run_dir, gallery=config.gallery, reps=args.reps)
        console.print(f"wrote {index} (summary.md, accuracy.csv beside it); dataset in "
                      f"{outcome.run_dir / 'dataset'} (items.jsonl, items.parquet, images/)", markup=False,
                      highlight=False)
    return outcome.exit_code


def add_probe_command(sub: Any, handlers: dict[str, Any]) -> None:
    """Register ``probe`` on the ``crossview`` parser."""
    p = sub.add_parser("probe", help="verifiable spatial probes (depth order, 3D position, patch tasks) across worlds",
                       description="Sample frames from every source of CONFIG, generate verifiable spatial "
                                   "questions, have every answerer answer them, export the dataset (JSONL + PNG, "
                                   "Parquet) and write the report. Running it again resumes. Exit code 1 if a "
                                   "frame or an answer ended in an error.")
    p.add_argument("config", help="probe YAML file")
    p.add_argument("--out", default="runs", help="folder that holds runs (default: runs)")
    p.add_argument("--allow-config-change", action="store_true",
                   help="add a changed config's items to an existing probe run instead of refusing")
    p.add_argument("--retry-errors", action="store_true", help="generate and answer again what ended in an error")
    p.add_argument("--no-report", action="store_true", help="store and export only")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    handlers["probe"] = cmd_probe
