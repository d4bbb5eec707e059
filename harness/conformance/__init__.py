"""The plugin contract as executable checks, like Gymnasium's ``check_env`` and dm_env's ``test_utils``.

    from harness.conformance import check_adapter, check_policy
    report = check_adapter("rooms", {"image_size": [96, 128]})
    assert report.ok, report.text()

``crossview check adapter|policy NAME [-o key=value ...]`` runs the same checks and prints the table.
"""

from harness.conformance.adapter import check_adapter
from harness.conformance.policy import check_policy
from harness.conformance.results import FAIL, PASS, SKIP, CheckResult, Report

__all__ = ["FAIL", "PASS", "SKIP", "CheckResult", "Report", "check_adapter", "check_policy"]
