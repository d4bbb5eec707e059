"""Worker robustness: a stall anywhere in a worker's life is recovered, media failures stay with their episode,
harness-caused errors are retried by a plain resume, and a dying driver leaves no traceback behind."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from harness.atomic import TMP_PREFIX
from harness.config import parse_config
from harness.runner import run_sweep
from harness.store import Store
from tests.harness.sweeps import small_config, small_disk
from tests.harness.test_runner import _session_alive, _start, _wait_for_rows, interrupted_sweep, stored

ERRORS = {"env_error", "policy_error"}


def _one_env(episodes: int = 4, **overrides) -> dict:
    cfg = small_config(**overrides)
    cfg["environments"] = [dict(cfg["environments"][0], episodes=episodes, max_steps=8)]
    return cfg


def test_a_worker_stalled_between_calls_is_replaced_and_nobody_is_charged(tmp_path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    cfg = _one_env(policies=[{"name": "stall", "kind": "tests.harness.faulty:StallingPolicy",
                              "options": {"once_dir": str(marks)}}],
                   workers=1, timeouts={"reset": 20, "step": 3})
    started = time.monotonic()
    outcome = run_sweep(parse_config(cfg), tmp_path)
    took = time.monotonic() - started
    assert (marks / "stalled").exists(), "the policy never stalled: the test proves nothing"
    rows = stored(tmp_path / "t")
    assert outcome.exit_code == 0 and len(rows) == 4
    assert not {r["status"] for r in rows} & ERRORS
    with Store(tmp_path / "t", create=False) as store:
        assert store.attempts() == []  # the stall was the worker's, not an episode's
    assert took < 300, f"recovery took {took:.0f}s"


def _workers_of(pid: int) -> list[int]:
    """Spawned worker processes of ``pid`` (not multiprocessing's resource tracker)."""
    found = []
    for child in os.listdir("/proc"):
        if not child.isdigit():
            continue
        try:
            stat = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and b"spawn_main" in cmd and b"resource_tracker" not in cmd:
            found.append(int(child))
    return found


def test_a_sigstopped_worker_is_written_off_and_the_sweep_finishes(tmp_path) -> None:
    cfg = small_config(workers=2, retries=2, timeouts={"reset": 20, "step": 3})
    for env in cfg["environments"]:
        env["episodes"], env["max_steps"] = 6, 15
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("outcome", run_sweep(parse_config(cfg), tmp_path)))
    thread.start()
    stopped = None
    end = time.monotonic() + 120
    while stopped is None and time.monotonic() < end and thread.is_alive():
        workers = _workers_of(os.getpid())
        if len(workers) == 2 and (tmp_path / "t" / "results.sqlite").exists():
            stopped = workers[0]
            os.kill(stopped, signal.SIGSTOP)  # frozen wherever it is: idle, between episodes or mid-call
        time.sleep(0.3)
    thread.join(600)
    assert stopped is not None and not thread.is_alive()
    rows = stored(tmp_path / "t")
    assert box["outcome"].exit_code == 0 and len(rows) == 24
    assert not {r["status"] for r in rows} & ERRORS
    assert not Path(f"/proc/{stopped}").exists() or "Z" in Path(f"/proc/{stopped}/stat").read_text().split()[2]


@pytest.fixture
def full_video_disk(tmp_path):
    """``tmp_path/t/videos`` on a 1 MiB tmpfs filled up to its last 48 KiB (a video disk that fills mid-sweep)."""
    with small_disk(tmp_path / "t" / "videos", "1m") as videos:
        free = shutil.disk_usage(videos).free
        (videos / "filler").write_bytes(b"\0" * max(0, free - 48 * 1024))
        yield videos


def test_a_full_video_disk_charges_no_episode(tmp_path, full_video_disk: Path) -> None:
    cfg = small_config(video={"mode": "all", "fps": 5}, retries=0)
    outcome = run_sweep(parse_config(cfg), tmp_path)
    rows = stored(tmp_path / "t")
    assert len(rows) == 12 and outcome.exit_code == 0
    assert not {r["status"] for r in rows} & ERRORS
    failed = [r for r in rows if r["video"] is None]
    written = [r for r in rows if r["video"] is not None]
    assert failed, "the disk never filled: the test proves nothing"
    assert all("video not written" in r["error"] and "\n" not in r["error"] for r in failed)
    assert all((tmp_path / "t" / r["video"]).stat().st_size > 0 for r in written)
    assert all(r["error"] is None for r in written)
    assert not list(full_video_disk.glob(f"{TMP_PREFIX}*")), "a failed video left its temporary file"
    with Store(tmp_path / "t", create=False) as store:
        assert store.attempts() == []


def test_a_plain_resume_retries_errors_the_harness_caused(tmp_path) -> None:
    cfg = parse_config(_one_env(episodes=3))
    run_sweep(cfg, tmp_path)
    ids = sorted(r["episode_id"] for r in stored(tmp_path / "t"))
    reasons = {ids[0]: "worker crashed: OSError: [Errno 28] No space left on device",  # what 0.x stored
               ids[1]: "harness: worker stopped responding (missed its heartbeat) while idle or between episodes",
               ids[2]: "reset failed: RuntimeError: the simulator's own failure"}
    with sqlite3.connect(tmp_path / "t" / "results.sqlite") as db:
        for eid, reason in reasons.items():
            db.execute("UPDATE episodes SET status = 'env_error', error = ? WHERE episode_id = ?", (reason, eid))
    again = run_sweep(cfg, tmp_path)
    after = {r["episode_id"]: r for r in stored(tmp_path / "t")}
    assert again.finished == 2 and again.skipped == 4  # two policies x 3 episodes, two of them re-run
    assert after[ids[0]]["status"] not in ERRORS and after[ids[1]]["status"] not in ERRORS
    assert after[ids[2]]["status"] == "env_error"  # the simulator's: only --retry-errors runs it again


def test_killed_driver_leaves_no_traceback_and_sigterm_says_interrupted(tmp_path) -> None:
    path, out, proc = interrupted_sweep(tmp_path, lambda p: os.kill(p.pid, signal.SIGTERM))
    err = proc.stderr.read().decode()
    assert "interrupted" in err and "Traceback" not in err, err
    proc = _start(path, out)
    _wait_for_rows(proc, out / "t" / "results.sqlite", len(stored(out / "t")) + 2)
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers find their pipe broken
    proc.wait(10)
    end = time.time() + 20
    while _session_alive(proc.pid) and time.time() < end:
        time.sleep(0.2)
    err = proc.stderr.read().decode()
    assert not _session_alive(proc.pid) and "Traceback" not in err and "BrokenPipe" not in err, err
