"""Soak: whole sweeps driving a slow robot (the reference peer, tests/servers/robot_peer.py: every command takes
time) are interrupted at random moments by every stop path; the peer's log must show STOP within 100 ms of the
moment, and no motion command after that STOP.

Paths: SIGINT / SIGTERM / SIGHUP to the driver alone or to the whole process group, Ctrl-C pressed three times,
SIGKILL of the driver (the worker notices within its watchdog period), a failing policy, a worker exception, the end
of every episode and of the sweep. ``CROSSVIEW_SOAK_MOMENTS`` sets the moments per path (10 by default; 20 or more
for a longer soak); trials of all paths run shuffled, a few at a time. The worst latency of each path is printed
(``pytest -s``) and every latency is written to ``soak.json`` in the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.harness.sweeps import REPO
from tests.servers.robot_peer import MOTION, Entry, RobotPeer

MOMENTS = int(os.environ.get("CROSSVIEW_SOAK_MOMENTS", "10"))  # 10 keeps the whole suite under 15 minutes
# the module fixture starts about 8 sweeps per moment; on a loaded machine that outlasts the suite-wide 300 s timeout
pytestmark = pytest.mark.timeout(1200)
LIMIT_S = 0.100
BUSY_S = 0.15  # how long the robot takes to carry out one command
PARALLEL = 6  # trials at a time (most of a trial is waiting)
SIGNAL_PATHS = {  # name: (signal, to the whole group?, how many times)
    "sigint-group (Ctrl-C)": (signal.SIGINT, True, 1),
    "sigint-group x3 (Ctrl-C repeated)": (signal.SIGINT, True, 3),
    "sigint-driver": (signal.SIGINT, False, 1),
    "sigterm-driver": (signal.SIGTERM, False, 1),
    "sigterm-group": (signal.SIGTERM, True, 1),
    "sighup-driver": (signal.SIGHUP, False, 1),
    "sighup-group": (signal.SIGHUP, True, 1),
    "sigkill-driver": (signal.SIGKILL, False, 1),
}


def _config(peer: RobotPeer, name: str, policy: dict, episodes: int, max_steps: int, confirm: bool = False) -> dict:
    robot = {"driver": "line", "url": peer.url, "timeout_s": 2.0}
    return {"name": name, "policies": [policy],
            "environments": [{"adapter": "tests.servers.robot_rig:BlankRig", "role": "zeroshot", "episodes": episodes,
                              "max_steps": max_steps,
                              "options": {"robot": robot, "max_steps": max_steps, "confirm": confirm}}],
            "workers": 1, "envs_per_worker": 1, "timeouts": {"reset": 20, "step": 20}}


def _sweep(tmp: Path, config: dict) -> subprocess.Popen:
    path = tmp / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "sweep", str(path), "--out", str(tmp / "runs"),
                             "--quiet"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _check_stop(log: list[Entry], moment: float) -> tuple[float, list[str]]:
    """The latency of the first STOP after ``moment``, and the motion commands received after that STOP (but before
    the next STOP, which starts the next episode)."""
    after = [e for e in log if e.kind == "recv" and e.t >= moment]
    stops = [i for i, e in enumerate(after) if e.text == "STOP"]
    assert stops, f"no STOP after the moment: {[e.text for e in after]}"
    latency = after[stops[0]].t - moment
    rest = after[stops[0] + 1:]
    until = next((i for i, e in enumerate(rest) if e.text == "STOP"), len(rest))
    return latency, [e.text for e in rest[:until] if e.text.split(" ")[0] in MOTION]


def _signal_trial(tmp: Path, path: str, k: int) -> float:
    sig, group, times = SIGNAL_PATHS[path]
    peer = RobotPeer(busy_s=BUSY_S)
    folder = tmp / f"{list(SIGNAL_PATHS).index(path)}-{k}"
    folder.mkdir()
    proc = _sweep(folder, _config(peer, "soak", {"name": "random", "kind": "random"}, 3, 10_000))
    try:
        end = time.monotonic() + 120
        while not any(c.split(" ")[0] in MOTION for c in peer.commands()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < end, "the robot never moved"
            time.sleep(0.01)
        time.sleep(random.uniform(0.0, 1.5))
        moment = time.monotonic()
        for i in range(times):
            (os.killpg if group else os.kill)(proc.pid, sig)
            if i + 1 < times:
                time.sleep(0.03)
        proc.wait(30)
        end = time.monotonic() + 15
        while _group_alive(proc.pid) and time.monotonic() < end:  # orphaned workers leave on their own
            time.sleep(0.02)
        assert not _group_alive(proc.pid), "a worker outlived the sweep"
        time.sleep(0.05)
        latency, motion = _check_stop(peer.log, moment)
        assert not motion, f"{path}: motion after STOP: {motion}"
        everything = [e.text for e in peer.log if e.kind == "recv" and e.t >= moment]
        last_stop = max(i for i, c in enumerate(everything) if c == "STOP")
        assert not [c for c in everything[last_stop:] if c.split(" ")[0] in MOTION]
        assert not peer.entries("violation"), peer.entries("violation")
        return latency
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        peer.close()


def _failure_sweep(tmp: Path, mode: str) -> tuple[list[float], list[float]]:
    """One sweep whose policy fails (``error``) or crashes its worker (``crash``) at random steps of most episodes:
    the STOP latency after each failure, and after each episode that ended normally (from its last reply)."""
    peer = RobotPeer(busy_s=0.03)
    folder = tmp / mode
    folder.mkdir()
    log = folder / "failures.txt"
    p = 0.55 if mode == "error" else 0.9  # episodes that do not fail end normally: the end-of-episode STOPs
    policy = {"name": "flaky", "kind": "tests.servers.robot_rig:FlakyPolicy",
              "options": {"log": str(log), "mode": mode, "p": p, "max_step": 5}}
    # a crashed worker takes the episode it had queued with it (stored as env_error too)
    episodes = int(MOMENTS * (2.5 if mode == "error" else 2.4)) + 4
    proc = _sweep(folder, _config(peer, "soak", policy, episodes, 5, confirm=True) | {"retries": 0})
    try:
        proc.wait(240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        peer.close()
    moments = [float(v) for v in log.read_text().split()]
    assert len(moments) >= MOMENTS, f"only {len(moments)} failures in {episodes} episodes"
    failures = []
    for moment in moments:
        latency, motion = _check_stop(peer.log, moment)
        assert not motion, f"{mode}: motion after the emergency STOP: {motion}"
        failures.append(latency)
    emergency = {next(e.t for e in peer.log if e.kind == "recv" and e.text == "STOP" and e.t >= m) for m in moments}
    ends, log = [], peer.log
    for i, e in enumerate(log):  # a routine STOP right after a motion's OK: the end of an episode (or the sweep)
        if (e.kind == "recv" and e.text == "STOP" and e.t not in emergency and i > 1 and log[i - 1].kind == "reply"
                and log[i - 2].kind == "recv" and log[i - 2].text.split(" ")[0] in MOTION):
            ends.append(e.t - log[i - 1].t)
    assert not peer.entries("violation"), peer.entries("violation")
    return failures, ends


def _run_all(tmp: Path) -> dict[str, list[float]]:
    """Every path's latencies: the signal trials, shuffled, a few at a time, beside the two failure sweeps."""
    trials = [(path, k) for path in SIGNAL_PATHS for k in range(MOMENTS)]
    random.shuffle(trials)
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        failing = [pool.submit(_failure_sweep, tmp, mode) for mode in ("error", "crash")]
        signalled = [(path, pool.submit(_signal_trial, tmp, path, k)) for path, k in trials]
        out: dict[str, list[float]] = {path: [] for path in SIGNAL_PATHS}
        for path, future in signalled:
            out[path].append(future.result())
        (errors, ends_a), (crashes, ends_b) = (f.result() for f in failing)
    out.update({"policy failure": errors, "worker exception": crashes, "end of episode / sweep": ends_a + ends_b})
    return out


@pytest.fixture(scope="module")
def latencies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[float]]:
    tmp = tmp_path_factory.mktemp("soak")
    began = time.monotonic()
    out = _run_all(tmp)
    worst = {path: max(values, default=float("nan")) for path, values in out.items()}
    lines = [f"  {path:36s} {len(out[path]):3d} moments, worst STOP latency {1000 * s:6.1f} ms"
             for path, s in worst.items()]
    print(f"\nsoak: {time.monotonic() - began:.0f} s\n" + "\n".join(lines))
    (tmp / "soak.json").write_text(json.dumps(out, indent=2))
    return out


@pytest.mark.parametrize("path", [*SIGNAL_PATHS, "policy failure", "worker exception", "end of episode / sweep"])
def test_every_path_stops_the_robot_first(latencies: dict[str, list[float]], path: str) -> None:
    values = latencies[path]
    assert len(values) >= (min(3, MOMENTS) if path.startswith("end") else MOMENTS)
    late = [round(1000 * s, 1) for s in values if s > LIMIT_S]
    assert not late, f"{path}: STOP later than {LIMIT_S * 1000:.0f} ms after the moment: {late} ms"
