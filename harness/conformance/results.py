"""Outcomes of conformance checks and how they print: one row per check, pass / fail / skip with the reason."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import BackendUnavailable, CrossviewError

PASS, FAIL, SKIP = "pass", "fail", "skip"


class Skip(Exception):
    """Raised by a check that does not apply (the message says why)."""


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, outcome and a one-line detail (what is wrong, or what was verified)."""

    name: str
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class Report:
    """Every check run on one adapter or policy."""

    subject: str
    results: tuple[CheckResult, ...]
    unavailable: str | None = None  # the backend is missing here (the one-line reason)

    @property
    def ok(self) -> bool:
        """No check failed."""
        return all(r.outcome != FAIL for r in self.results)

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome == FAIL]

    def table(self) -> Any:
        """A rich Table of the results."""
        from rich.markup import escape
        from rich.table import Table

        colour = {PASS: "green", FAIL: "red", SKIP: "yellow"}
        verdict = "[green]passed[/]" if self.ok else f"[red]{len(self.failures())} failed[/]"
        table = Table(title=f"{escape(self.subject)}: {verdict}")
        for col in ("check", "result", "details"):
            table.add_column(col)
        for r in self.results:
            table.add_row(r.name, f"[{colour[r.outcome]}]{r.outcome}[/]", escape(r.detail))
        return table

    def text(self) -> str:
        """Plain text of the table (for assertion messages and logs)."""
        lines = [f"{self.subject}: {'passed' if self.ok else 'FAILED'}"]
        lines += [f"  {r.outcome:4}  {r.name}: {r.detail}" for r in self.results]
        return "\n".join(lines)


def short(exc: BaseException) -> str:
    """An exception as one line: its type and message."""
    if isinstance(exc, (AssertionError, CrossviewError)) and str(exc):  # already written for the user
        return str(exc).splitlines()[0][:400]
    return traceback.format_exception_only(type(exc), exc)[-1].strip().replace("\n", " ")[:400]


Check = tuple[str, Callable[[], str | None]]


def run_checks(subject: str, checks: Sequence[Check], setup: Callable[[], str | None] | None = None) -> Report:
    """Run ``setup`` (construction), then each check in order; a failed setup skips the rest.

    A check returns a detail string (or None) when it passes, raises ``Skip`` when it does not apply, and any other
    exception means it failed.
    """
    results: list[CheckResult] = []
    if setup is not None:
        try:
            results.append(CheckResult("construct", PASS, setup() or ""))
        except BackendUnavailable as exc:
            results.append(CheckResult("construct", FAIL, f"backend unavailable: {exc}"))
            rest = [CheckResult(name, SKIP, "not constructed") for name, _ in checks]
            return Report(subject, tuple(results + rest), unavailable=str(exc))
        except Exception as exc:
            results.append(CheckResult("construct", FAIL, short(exc)))
            return Report(subject, tuple(results + [CheckResult(n, SKIP, "not constructed") for n, _ in checks]))
    for name, check in checks:
        try:
            detail = check()
            results.append(CheckResult(name, PASS, detail or ""))
        except Skip as exc:
            results.append(CheckResult(name, SKIP, str(exc)))
        except Exception as exc:
            results.append(CheckResult(name, FAIL, short(exc)))
    return Report(subject, tuple(results))
