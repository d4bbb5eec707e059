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
    assert report.ok, report.text()
