"""Every adapter case passes the package's conformance checks (harness.conformance, as 'crossview check' runs them)."""

from __future__ import annotations

import pytest

from harness.conformance import check_adapter
from tests.conformance.cases import ADAPTER_CASES, adapter_case, require_adapter


@pytest.mark.parametrize("case", sorted(ADAPTER_CASES))
def test_adapter_conformance(case: str) -> None:
    require_adapter(case)
    name, options = adapter_case(case)
    report = check_adapter(name, options)
    if report.unavailable:
        pytest.skip(f"{name}: {report.unavailable}")
    assert report.ok, report.text()
