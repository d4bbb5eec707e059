"""The live progress bar of a sweep and its closing summary table."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from harness.spec import EpisodeRecord

ERRORS = ("env_error", "policy_error")


class SweepProgress:
    """Episodes done / failed, rate and ETA, live on stderr."""

    def __init__(self, console: Console | None = None, label: str = "sweep") -> None:
        self.console = console or Console(stderr=True)
        self.label = label
        self._progress: Progress | None = None
        self._task: Any = None
        self.failed = 0
        self.successes = 0

    def start(self, total: int, already: int) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=False)
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=total, completed=already, ok=0, failed=0, rate="")

    def advance(self, record: EpisodeRecord) -> None:
        self.failed += record.status.value in ERRORS
        self.successes += bool(record.success)
        if self._progress is not None:
            task = self._progress.tasks[0]
            speed = task.speed
            self._progress.update(self._task, advance=1, ok=self.successes, failed=self.failed,
                                  rate=f"{speed:.1f} ep/s" if speed else "")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def summary_table(records: list[EpisodeRecord], title: str = "sweep summary") -> Table:
    """Success rate per policy × adapter × domain × role, with error and timeout counts."""
    groups: dict[tuple, list[EpisodeRecord]] = defaultdict(list)
    for r in records:
        groups[(r.policy, r.adapter, r.domain, r.role)].append(r)
    table = Table(title=title)
    for col in ("policy", "adapter", "domain", "role", "episodes", "success", "timeouts", "errors", "mean steps"):
        table.add_column(col, justify="right" if col in ("episodes", "success", "timeouts", "errors",
                                                          "mean steps") else "left")
    ordered = sorted(groups.items(), key=lambda kv: (_series_key(kv[0][0]), kv[0][1:]))
    for (policy, adapter, domain, role), rs in ordered:
        judged = [r for r in rs if r.success is not None]
        wins = sum(bool(r.success) for r in judged)
        rate = f"{wins}/{len(judged)} ({wins / len(judged):.0%})" if judged else "-"
        errors = sum(r.status.value in ERRORS for r in rs)
        timeouts = sum(r.status.value == "timeout" for r in rs)
        steps = [r.steps for r in rs if r.status.value not in ERRORS]
        table.add_row(policy, adapter, domain, role, str(len(rs)), rate, str(timeouts),
                      f"[red]{errors}[/]" if errors else "0", f"{sum(steps) / len(steps):.1f}" if steps else "-")
    return table


def _series_key(name: str) -> tuple[str, int]:
    """Sort 'xview@2000' after 'xview@500'."""
    base, _, step = name.partition("@")
    return (base, int(step) if step.isdigit() else -1)
