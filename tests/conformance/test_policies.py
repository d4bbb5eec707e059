"""Every policy case passes the package's conformance checks (harness.conformance, as 'crossview check' runs them)."""

from __future__ import annotations

import pytest

from harness.conformance import check_policy
from tests.conformance.cases import POLICY_CASES, policy_factory


@pytest.mark.parametrize("case", sorted(POLICY_CASES))
def test_policy_conformance(case: str) -> None:
    kind, make = policy_factory(case)
    report = check_policy(kind, make=make)
    if report.unavailable:
        pytest.skip(f"{case}: {report.unavailable}")
    first = report.results[0]
    if case.startswith("plugin:") and first.outcome == "fail" and "bad options" in first.detail:
        pytest.skip(f"{case} needs options: check it with 'crossview check policy {kind} -o key=value'")
    assert report.ok, report.text()
