"""harness.safety: a worker whose driver is SIGKILLed runs its stops at once, woken by the kernel, not a poll."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness.sweeps import REPO

CHILD = """
import os, sys, time
from harness import safety
out = sys.argv[1]
safety.register(lambda reason: open(out, "w").write(f"{time.time():.6f} {reason}"))
safety.install(interrupt=False, parent=os.getppid(), period=5.0)  # a poll this slow could never meet the bound
print(int(safety._kernel_watches(os.getppid())), flush=True)
time.sleep(30)
"""

DRIVER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], stdout=subprocess.PIPE, text=True)
print(child.pid, child.stdout.readline().strip(), flush=True)
time.sleep(30)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_killed_driver_wakes_the_watchdog_at_once(tmp_path: Path) -> None:
    out = tmp_path / "stopped"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, CHILD, str(out)], stdout=subprocess.PIPE, text=True,
                              env=env, cwd=REPO)
    child_pid = 0
    try:
        child_pid, kernel = (int(v) for v in driver.stdout.readline().split())
        assert kernel == 1
        killed = time.time()
        driver.kill()
        driver.wait(5)
        end = time.monotonic() + 5
        while not out.exists() and time.monotonic() < end:
            time.sleep(0.005)
        when, reason = out.read_text().split(" ", 1)
        assert "driver process is gone" in reason
        assert float(when) - killed < 0.5  # the fallback poll is 5 s here: only the kernel's signal is this fast
    finally:
        driver.kill()
        if child_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child_pid, signal.SIGKILL)
