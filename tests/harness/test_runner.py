"""The sweep runner end to end: resume, faults, policy errors, Ctrl-C, SIGKILL, videos, determinism."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import pytest

from harness.config import parse_config
from harness.plan import build_plan
from harness.runner import run_sweep
from harness.store import Store
from tests.harness.sweeps import REPO, crossview, small_config, write


def stored(run: Path) -> list[dict]:
    with Store(run, create=False) as store:
        return store.rows()


def test_sweep_stores_every_planned_episode_and_resumes(tmp_path) -> None:
    config = parse_config(small_config())
    outcome = run_sweep(config, tmp_path)
    plan = build_plan(config)
    rows = stored(tmp_path / "t")
    assert outcome.exit_code == 0 and outcome.finished == len(plan) == 12
    assert sorted(r["episode_id"] for r in rows) == sorted(e.episode_id for e in plan.episodes)
    assert {r["status"] for r in rows} <= {"success", "failure", "timeout"}
    oracle = [r for r in rows if r["policy"] == "oracle"]
    assert sum(r["success"] for r in oracle) >= 5
    again = run_sweep(config, tmp_path)
    assert again.finished == 0 and again.skipped == 12


def test_outcomes_do_not_depend_on_workers_or_batching(tmp_path) -> None:
    def outcomes(workers: int, k: int, name: str) -> dict:
        cfg = parse_config(small_config(name=name, workers=workers, envs_per_worker=k))
        run_sweep(cfg, tmp_path)
        return {(r["policy"], r["seed"], r["domain"]): (r["status"], r["steps"], r["final_distance"])
                for r in stored(tmp_path / name)}

    assert outcomes(1, 1, "serial") == outcomes(2, 3, "batched")


def _faulty(fault: str, tmp_path: Path, **extra) -> dict:
    env = {"adapter": "tests.harness.faulty:FaultyRooms", "role": "source", "domains": ["apartment"],
           "interactions": ["approach"], "difficulties": ["easy"], "episodes": 6, "max_steps": 10,
           "options": {"image_size": [48, 48], "fault": fault, "every": 2, **extra}}
    return small_config(policies=[{"name": "random", "kind": "random"}], environments=[env], retries=1,
                        timeouts={"reset": 20, "step": 3})


@pytest.mark.parametrize("fault, reason", [("hang", "missed its deadline"), ("die", "worker died"),
                                           ("raise", "injected simulator failure")])
def test_faulty_simulators_are_recorded_and_the_sweep_goes_on(tmp_path, fault, reason) -> None:
    config = parse_config(_faulty(fault, tmp_path))
    outcome = run_sweep(config, tmp_path)
    rows = stored(tmp_path / "t")
    assert len(rows) == 6 and outcome.exit_code == 1
    errors = [r for r in rows if r["status"] == "env_error"]
    seeds = {e.task.seed for e in build_plan(config).episodes}
    assert len(errors) == sum(s % 2 == 0 for s in seeds) > 0
    assert all(reason in r["error"] and r["attempts"] == 2 for r in errors)
    assert all(r["status"] in ("success", "failure", "timeout") for r in rows if r not in errors)
    with Store(tmp_path / "t", create=False) as store:
        assert len(store.attempts()) == 2 * len(errors)


def test_a_flaky_simulator_is_retried_to_success(tmp_path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    outcome = run_sweep(parse_config(_faulty("die", tmp_path, once_dir=str(marks))), tmp_path)
    rows = stored(tmp_path / "t")
    assert outcome.exit_code == 0 and len(rows) == 6
    assert all(r["status"] != "env_error" for r in rows)
    assert any(r["attempts"] == 2 for r in rows)


def test_policy_exceptions_are_policy_errors(tmp_path) -> None:
    cfg = small_config(policies=[{"name": "boom", "kind": "tests.harness.faulty:RaisingPolicy"}])
    outcome = run_sweep(parse_config(cfg), tmp_path)
    rows = stored(tmp_path / "t")
    assert outcome.exit_code == 1 and len(rows) == 6
    assert {r["status"] for r in rows} == {"policy_error"}
    assert all("policy exploded" in r["error"] for r in rows)


def _start(config_path: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "sweep", str(config_path), "--out", str(out),
                             "--quiet"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM episodes").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _wait_for_rows(proc: subprocess.Popen, db: Path, n: int, limit: float = 120) -> None:
    end = time.time() + limit
    while _count(db) < n:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() < end, "the sweep stored too little in time"
        time.sleep(0.1)


def _session_alive(sid: int) -> list[int]:
    alive = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                alive.append(int(pid))
    return alive


def _long_config(tmp_path: Path, episodes: int = 12) -> Path:
    cfg = small_config()
    for env in cfg["environments"]:
        env["episodes"] = episodes
        env["max_steps"] = 40
    return write(tmp_path, cfg)


def test_sigkill_mid_sweep_then_resume_loses_nothing_and_repeats_nothing(tmp_path) -> None:
    path, out = _long_config(tmp_path), tmp_path / "runs"
    db = out / "t" / "results.sqlite"
    proc = _start(path, out)
    _wait_for_rows(proc, db, 10)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    end = time.time() + 15
    while _session_alive(proc.pid) and time.time() < end:  # orphaned workers notice and exit
        time.sleep(0.2)
    assert not _session_alive(proc.pid), "workers outlived their killed driver"
    before = {r["episode_id"]: r["finished_at"] for r in stored(out / "t")}
    assert 10 <= len(before) < 48
    result = crossview("sweep", str(path), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    rows = stored(out / "t")
    plan = build_plan(parse_config(small_config() | {"environments": [
        dict(e, episodes=12, max_steps=40) for e in small_config()["environments"]]}))
    assert sorted(r["episode_id"] for r in rows) == sorted(e.episode_id for e in plan.episodes)
    after = {r["episode_id"]: r["finished_at"] for r in rows}
    assert all(after[k] == v for k, v in before.items()), "a stored episode was run again"


def interrupted_sweep(tmp_path: Path, signal_it) -> tuple[Path, Path, subprocess.Popen]:
    """A sweep started from the command line and sent a signal (``signal_it(proc)``) once it stored 4 episodes;
    checks that it exits 130. Returns the config path, the runs folder and the ended process."""
    path, out = _long_config(tmp_path), tmp_path / "runs"
    proc = _start(path, out)
    _wait_for_rows(proc, out / "t" / "results.sqlite", 4)
    signal_it(proc)
    assert proc.wait(30) == 130
    return path, out, proc


def test_ctrl_c_stops_cleanly_and_keeps_finished_episodes(tmp_path) -> None:
    _, out, proc = interrupted_sweep(tmp_path, lambda p: os.killpg(p.pid, signal.SIGINT))
    time.sleep(0.5)
    assert not _session_alive(proc.pid)
    kept = len(stored(out / "t"))
    assert kept >= 4
    result = crossview("status", str(out / "t"))
    assert result.returncode == 0 and "remaining" in result.stdout


def test_videos_show_agent_and_goal(tmp_path) -> None:
    cfg = small_config(video={"mode": "every", "every": 2, "fps": 5})
    run_sweep(parse_config(cfg), tmp_path)
    rows = stored(tmp_path / "t")
    with_video = [r for r in rows if r["video"]]
    assert len(with_video) == sum(r["index"] % 2 == 0 for r in rows) > 0
    r = with_video[0]
    frames = list(iio.imiter(tmp_path / "t" / r["video"]))
    assert len(frames) == r["steps"] + 1
    assert frames[0].shape[1] >= 2 * 48 - 1  # agent view beside the goal
    assert (tmp_path / "t" / "thumbs" / f"{r['episode_id']}.png").is_file()


def test_changed_config_is_refused_unless_asked(tmp_path) -> None:
    path = write(tmp_path, small_config())
    out = tmp_path / "runs"
    assert crossview("sweep", str(path), "--out", str(out), "--quiet").returncode == 0
    cfg = small_config()
    cfg["environments"][0]["episodes"] = 4
    path = write(tmp_path, cfg)
    refused = crossview("sweep", str(path), "--out", str(out))
    assert refused.returncode == 2 and "different config" in refused.stderr
    assert len(stored(out / "t")) == 12
    ok = crossview("sweep", str(path), "--out", str(out), "--allow-config-change", "--quiet")
    assert ok.returncode == 0 and len(stored(out / "t")) == 14


def test_dry_run_and_export(tmp_path) -> None:
    path = write(tmp_path, small_config())
    out = tmp_path / "runs"
    dry = crossview("sweep", str(path), "--out", str(out), "--dry-run")
    assert dry.returncode == 0 and "12 episodes" in dry.stdout and not out.exists()
    assert crossview("sweep", str(path), "--out", str(out), "--quiet").returncode == 0
    for fmt in ("csv", "parquet"):
        res = crossview("export", str(out / "t"), "--format", fmt)
        assert res.returncode == 0 and (out / "t" / f"episodes.{fmt}").is_file()
    import pandas as pd

    assert len(pd.read_parquet(out / "t" / "episodes.parquet")) == 12
    assert len(pd.read_csv(out / "t" / "episodes.csv")) == 12
    missing = crossview("status", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "not a crossview run" in missing.stderr


def test_report_on_a_sweep_in_progress(tmp_path) -> None:
    path, out = _long_config(tmp_path, episodes=400), tmp_path / "runs"  # minutes of work: still running after
    proc = _start(path, out)
    try:
        _wait_for_rows(proc, out / "t" / "results.sqlite", 6)
        result = crossview("report", str(out / "t"))
        assert result.returncode == 0, result.stderr
        page = (out / "t" / "report" / "index.html").read_text()
        assert len(page) > 1000 and "still running" in page  # partial numbers are flagged as such
        assert proc.poll() is None, "the sweep was still running while the report was written"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)


def test_an_idle_worker_leaves_at_the_tail_without_a_fault(tmp_path, monkeypatch) -> None:
    """When no work is left for a worker, it is told to leave while the others finish: it exits cleanly (code
    0, counted as no fault), and every episode is stored exactly once with no failed attempt."""
    from harness.executors.local import LocalExecutor

    retired: list = []
    woke_for_nothing: list[float] = []  # receive calls after the retirement that returned early and empty
    real_retire, real_receive = LocalExecutor.retire, LocalExecutor.receive

    def spy(self, wid: int) -> None:
        retired.append(self._procs[wid].process)
        real_retire(self, wid)

    def receive(self, timeout: float) -> list:
        start = time.monotonic()
        out = real_receive(self, timeout)
        if retired and not out and time.monotonic() - start < timeout / 2:
            woke_for_nothing.append(start)
        return out

    monkeypatch.setattr(LocalExecutor, "retire", spy)
    monkeypatch.setattr(LocalExecutor, "receive", receive)
    config = small_config(workers=2, envs_per_worker=1)
    config["environments"] = [{**config["environments"][0], "max_steps": 150}]
    config["policies"] = config["policies"][:1]  # random: 3 episodes of 150 steps over 2 workers of 1 slot, so
    # the tail (one worker left, for a whole episode) is long enough to see the driver spin if it did
    outcome = run_sweep(parse_config(config), tmp_path)
    assert outcome.exit_code == 0 and outcome.finished == 3 and outcome.errors == 0
    assert len(retired) == 1 and retired[0].exitcode == 0
    assert len(woke_for_nothing) <= 2, "the retired worker's closed pipe kept waking the driver (a busy loop)"
    rows = stored(tmp_path / "t")
    assert len({r["episode_id"] for r in rows}) == len(rows) == 3
    with sqlite3.connect(tmp_path / "t" / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 0


def _xview_copy(tmp_path: Path) -> Path:
    """The shipped series' last checkpoint, copied (with its manifest) to be broken or kept."""
    from policies.series import expand_series

    src = Path(expand_series(str(REPO / "checkpoints" / "xview"))[-1].path)
    folder = tmp_path / "series"
    folder.mkdir()
    for f in (src, Path(f"{src}.json")):
        (folder / f.name).write_bytes(f.read_bytes())
    return folder / src.name


def test_the_policy_check_is_answered_by_a_worker_so_the_driver_never_loads_torch(tmp_path) -> None:
    """Workers load policies anyway; the driver gets each one's PolicyInfo from the first of them, so it never
    imports the policies' frameworks nor holds their weights (a sweep of large checkpoints, or on a GPU)."""
    ckpt = _xview_copy(tmp_path)
    cfg = small_config(policies=[{"name": "xview", "kind": "torch", "checkpoints": str(ckpt)}])
    code = ("import sys; from harness.config import parse_config; from harness.runner import run_sweep; "
            f"o = run_sweep(parse_config({cfg!r}), {str(tmp_path / 'runs')!r}); "
            "print(o.finished, o.errors, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["6", "0", "False"]


def test_a_broken_checkpoint_is_refused_in_one_line_before_anything_is_stored(tmp_path) -> None:
    ckpt = _xview_copy(tmp_path)
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])  # truncated, as by a failed copy
    cfg = small_config(policies=[{"name": "xview", "kind": "torch", "checkpoints": str(ckpt)}])
    result = crossview("sweep", str(write(tmp_path, cfg)), "--out", str(tmp_path / "runs"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error: policy 'xview@" in lines[0] and "truncated" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists(), "a refused sweep leaves nothing behind"
