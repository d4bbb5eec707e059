"""Faulty simulators on both Unreal routes end within the configured timeouts, as one line or env_error rows:
a dead port, a server that accepts and never answers, one that answers and then goes silent, one killed mid-episode.
The servers are the local protocol servers with their ``--fault`` options; the clients are upstream's."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from adapters.base import make_adapter
from harness.errors import CrossviewError
from harness.spec import Action
from tests.harness.sweeps import crossview, write
from tests.servers.fixtures import spawn, suite

ROUTES = ["airsim", "unrealcv"]
SERVER = {"airsim": "airsim_server", "unrealcv": "unrealcv_server"}
SMALL = {"airsim": {}, "unrealcv": {"resolution": None}}  # the servers' own size: no re-render to wait for
TIMEOUT = 2.0  # seconds per request: small renders on a loaded 2-core machine take up to about a second
SLACK = 4.0  # process scheduling on a busy 2-core machine; msgpack-rpc counts its timeout in whole seconds
# requests a route makes to start (construction) and to reset the first test task
START = {"airsim": 6, "unrealcv": 3}
RESET = {"airsim": 10, "unrealcv": 9}


@pytest.fixture(params=ROUTES)
def route(request) -> str:
    return request.param


@pytest.fixture
def servers():
    """Private servers (killed at the end): ``servers(route, *args) -> port``."""
    procs = []

    def run(route: str, *args: str) -> int:
        proc, port = spawn(SERVER[route], *args)
        procs.append(proc)
        return port

    yield run
    for proc in procs:
        proc.kill()
        proc.wait(10)


def build(route: str, port: int, **extra):
    return make_adapter(route, tasks=str(suite(route)), port=port, timeout=TIMEOUT, **SMALL[route], **extra)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_line_within(route: str, port: int, pattern: str, seconds: float) -> None:
    suite(route)  # written before the clock starts
    began = time.monotonic()
    with pytest.raises(CrossviewError, match=pattern) as err:
        build(route, port)
    assert time.monotonic() - began < seconds
    assert "\n" not in str(err.value) and f"127.0.0.1:{port}" in str(err.value)


def test_dead_server_says_how_to_start_it(route: str) -> None:
    _one_line_within(route, _free_port(), "start the", SLACK)


def test_server_that_accepts_and_never_answers(route: str, servers) -> None:
    port = servers(route, "--fault", "silent")
    expected = "no greeting within 2 s" if route == "unrealcv" else r"ping failed \(no answer within 2 s\)"
    _one_line_within(route, port, expected, TIMEOUT + SLACK)


def test_server_that_answers_then_goes_silent(route: str, servers) -> None:
    adapter = build(route, servers(route, "--fault", "mute", "--after", str(START[route])))
    try:
        began = time.monotonic()
        with pytest.raises(CrossviewError, match="did not answer|no answer within 2 s") as err:
            adapter.reset(adapter.tasks("train")[0])
        assert time.monotonic() - began < TIMEOUT + SLACK and "\n" not in str(err.value)
        with pytest.raises(CrossviewError):  # the broken connection is never reused silently
            adapter.reset(adapter.tasks("train")[0])
    finally:
        adapter.close()


def test_server_killed_mid_episode(route: str, servers) -> None:
    adapter = build(route, servers(route, "--fault", "die", "--after", str(START[route] + RESET[route] + 4)))
    try:
        adapter.reset(adapter.tasks("train")[0])
        began = time.monotonic()
        with pytest.raises(CrossviewError) as err:
            for _ in range(5):
                adapter.step(Action(forward=True))
        assert time.monotonic() - began < TIMEOUT + SLACK and "\n" not in str(err.value)
    finally:
        adapter.close()


def _sweep(tmp_path: Path, route: str, port: int) -> tuple[object, Path]:
    config = {"name": "faulty", "policies": [{"name": "random", "kind": "random"}],
              "environments": [{"adapter": route, "episodes": 2, "max_steps": 6,
                                "options": {"tasks": str(suite(route)), "port": port, "timeout": TIMEOUT,
                                            **SMALL[route]}}],
              "workers": 1, "envs_per_worker": 1, "retries": 0, "timeouts": {"reset": 20, "step": 10}}
    began = time.monotonic()
    out = crossview("sweep", str(write(tmp_path, config)), "--out", str(tmp_path / "runs"), "--quiet", timeout=120)
    return out, time.monotonic() - began


def test_sweep_against_a_silent_server_is_one_line(route: str, servers, tmp_path: Path) -> None:
    out, seconds = _sweep(tmp_path, route, servers(route, "--fault", "silent"))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("crossview sweep: error: environments[0]:"), out.stderr
    assert seconds < 30


def test_sweep_against_a_server_gone_silent_stores_env_errors(route: str, servers, tmp_path: Path) -> None:
    # answers the planning's and the worker's start-up, then nothing
    out, _ = _sweep(tmp_path, route, servers(route, "--fault", "mute", "--after", str(2 * START[route])))
    assert out.returncode == 1 and "Traceback" not in out.stderr + out.stdout, out.stderr
    run = tmp_path / "runs" / "faulty"
    with sqlite3.connect(run / "results.sqlite") as db:
        rows = db.execute("select status, error from episodes").fetchall()
    assert len(rows) == 2 and all(s == "env_error" and ("did not answer" in e or "no answer within" in e)
                                  for s, e in rows), rows
    if route == "unrealcv":  # the client library's lines are in the run's log, not on the terminal
        assert "connected to RoomsLevel" in (run / "run.log").read_text()
        assert "connected to RoomsLevel" not in out.stdout + out.stderr and "=>Info" not in out.stdout


def test_sweep_with_a_server_killed_mid_episode_stores_env_errors(route: str, servers, tmp_path: Path) -> None:
    port = servers(route, "--fault", "die", "--after", str(2 * START[route] + RESET[route] + 8))
    out, _ = _sweep(tmp_path, route, port)
    assert out.returncode == 1 and "Traceback" not in out.stderr + out.stdout, out.stderr
    with sqlite3.connect(tmp_path / "runs" / "faulty" / "results.sqlite") as db:
        statuses = [r[0] for r in db.execute("select status from episodes")]
    assert statuses.count("env_error") >= 1 and len(statuses) == 2
    assert json.dumps(statuses)  # every planned episode has a row
