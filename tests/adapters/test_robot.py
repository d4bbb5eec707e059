"""The line protocol against the reference robot (tests/servers/robot_peer.py, written from the protocol's
documentation): lockstep, replies matched to their commands, ERR and silence named, STOP first and latched, STOP
overtaking a running command, the heartbeat and the late-policy watchdog."""

from __future__ import annotations

import threading
import time

import pytest

from adapters.realsense.robot import LineBase, make_base
from harness import safety
from harness.errors import CrossviewError
from harness.spec import Action
from tests.servers.robot_peer import MOTION, RobotPeer

TURN_LEFT = Action(camera=(0.0, -45.0))
COMPOSITE = Action(forward=True, right=True, attack=True, camera=(0.0, 10.0))


@pytest.fixture(autouse=True)
def fresh_safety():
    safety.reset()
    yield
    safety.reset()


def _peer(**kw) -> RobotPeer:
    return RobotPeer(**kw)


def _refuses_motion(base: LineBase, peer: RobotPeer) -> None:
    """A latched base refuses the next motion command, and the robot saw no motion after its STOP."""
    with pytest.raises(safety.EmergencyStop):
        base.apply(TURN_LEFT)
    assert _motion_after_stop(peer) == []


def _motion_after_stop(peer: RobotPeer) -> list[str]:
    lines = peer.commands()
    first = lines.index("STOP") if "STOP" in lines else len(lines)
    return [c for c in lines[first:] if c.split(" ")[0] in MOTION]


def test_lockstep_each_command_waits_for_its_reply() -> None:
    peer = _peer(busy_s=0.08)
    base = LineBase(peer.url, heartbeat_s=0)
    try:
        base.apply(COMPOSITE)
        assert peer.commands() == ["TURN 10.00", "MOVE 0.100 0.000", "MOVE 0.000 0.100", "BEEP"]
        received, replies = peer.entries("recv"), peer.entries("reply")
        assert [r.text for r in replies] == ["OK"] * 4
        for nxt, reply in zip(received[1:], replies):  # every command went out after the previous one's OK
            assert nxt.t >= reply.t
        assert received[-1].t - received[0].t >= 3 * 0.08
        assert not peer.entries("violation")
    finally:
        base.close()
        peer.close()


@pytest.mark.parametrize("fault", ["refuse", "silent"])
def test_err_or_silence_names_the_command_and_stops_the_robot(fault: str) -> None:
    peer = _peer(refuse=("TURN",)) if fault == "refuse" else _peer(silent=("TURN",))
    base = LineBase(peer.url, timeout_s=0.3, heartbeat_s=0)
    try:
        with pytest.raises(safety.EmergencyStop) as err:
            base.apply(TURN_LEFT)
        message = str(err.value)
        assert "'TURN -45.00'" in message and "\n" not in message
        assert ("ERR refused TURN" in message) if fault == "refuse" else ("within 0.3 s" in message)
        assert peer.wait_for("STOP", 2.0), "the robot must be stopped"
        assert peer.commands() == ["TURN -45.00", "STOP"]
        assert safety.unconfirmed() == message  # the operator must confirm before the next episode
        with pytest.raises(safety.EmergencyStop, match="no motion"):  # latched
            base.apply(Action(forward=True))
        base.rearm()  # not confirmed: still latched
        with pytest.raises(safety.EmergencyStop):
            base.apply(Action(forward=True))
        assert _motion_after_stop(peer) == []
        safety.confirm()
        base.rearm()
        if fault == "refuse":
            base.apply(Action(forward=True))
            assert peer.commands()[-1] == "MOVE 0.100 0.000"
    finally:
        base.close()
        peer.close()


def test_a_mute_robot_names_stop() -> None:
    peer = _peer(mute=True)
    base = LineBase(peer.url, timeout_s=0.2, stop_timeout_s=0.2, heartbeat_s=0)
    try:
        with pytest.raises(safety.EmergencyStop, match=r"did not answer 'MOVE 0.100 0.000' within 0.2 s"):
            base.apply(Action(forward=True))
        with pytest.raises(safety.EmergencyStop, match=r"did not answer 'STOP' within 0.2 s"):
            base.stop()
        assert peer.commands()[:2] == ["MOVE 0.100 0.000", "STOP"]
    finally:
        base.close()
        peer.close()


def test_stop_overtakes_a_running_command_and_is_latched() -> None:
    peer = _peer(busy_s=2.0)
    base = LineBase(peer.url, heartbeat_s=0)
    raised: list[BaseException] = []

    def drive() -> None:
        try:
            base.apply(Action(forward=True, camera=(0.0, 10.0)))
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=drive)
    try:
        worker.start()
        assert peer.wait_for("TURN 10.00", 2.0)
        time.sleep(0.2)
        asked = time.monotonic()
        base.stop("a test")
        worker.join(3)
        stop = next(e for e in peer.entries() if e.text == "STOP")
        assert stop.t - asked < 0.1, "STOP did not overtake the running TURN"
        assert [r.text for r in peer.entries("reply")] == ["ERR stopped", "OK"]
        assert len(raised) == 1 and isinstance(raised[0], safety.EmergencyStop) and "TURN 10.00" in str(raised[0])
        assert peer.commands() == ["TURN 10.00", "STOP"]  # the MOVE after it was never sent
    finally:
        base.close()
        peer.close()


def test_heartbeat_keeps_the_dead_man_switch_quiet() -> None:
    peer = _peer(deadman_s=0.5)
    beating, silent = LineBase(peer.url, heartbeat_s=0.1), None
    try:
        beating.apply(Action(forward=True))
        time.sleep(1.2)
        assert peer.commands().count("PING") >= 5 and not peer.entries("halt")
        beating.close()
        peer2 = _peer(deadman_s=0.5)
        silent = LineBase(peer2.url, heartbeat_s=0)
        silent.apply(Action(forward=True))
        time.sleep(1.0)
        assert [e.text for e in peer2.entries("halt")] == ["dead-man: no line in time"]
    finally:
        beating.close()
        if silent is not None:
            silent.close()
            peer2.close()
        peer.close()


def test_watchdog_stops_a_robot_whose_policy_is_late() -> None:
    peer = _peer()
    base = LineBase(peer.url, deadline_s=0.3, heartbeat_s=0)
    try:
        base.apply(Action(forward=True, camera=(0.0, 10.0)))
        assert peer.wait_for("STOP", timeout=2.0), "no action within the deadline: the robot must stop"
        times = {e.text: e.t for e in peer.entries()}
        assert times["STOP"] - times["MOVE 0.100 0.000"] >= 0.25
        assert "deadline_s=0.3" in (safety.unconfirmed() or "")
    finally:
        base.close()
        peer.close()


def test_serial_link_in_lockstep() -> None:
    pytest.importorskip("serial", reason="pyserial (the realsense extra) is not installed")
    peer = _peer(busy_s=0.05, refuse=("BEEP",))
    base = LineBase(peer.serial_url(), heartbeat_s=0)
    try:
        base.apply(Action(forward=True, camera=(0.0, 10.0)))
        with pytest.raises(safety.EmergencyStop, match="answered 'ERR refused BEEP' to 'BEEP'"):
            base.apply(Action(attack=True))
        assert peer.commands() == ["TURN 10.00", "MOVE 0.100 0.000", "BEEP", "STOP"]
        assert not peer.entries("violation")
    finally:
        base.close()
        peer.close()


def test_bad_robot_options_give_one_line() -> None:
    with pytest.raises(CrossviewError, match="robot option.*speed.*unknown"):
        make_base(driver="line", url="tcp://127.0.0.1:1", speed=3)
    with pytest.raises(CrossviewError, match="cannot reach the robot"):
        make_base(driver="line", url="tcp://127.0.0.1:1")
    with pytest.raises(CrossviewError, match="use tcp://HOST:PORT"):
        make_base(driver="line", url="udp://x")


@pytest.mark.parametrize("fault", ["refuse", "mute"])
def test_an_unanswered_stop_needs_the_operator_before_motion_again(fault: str) -> None:
    """README "The line protocol": a STOP answered ERR or not in time needs the operator's go; rearm alone (the
    next episode's reset) must not let motion through."""
    peer = _peer(refuse=("STOP",)) if fault == "refuse" else _peer(mute=True)
    base = LineBase(peer.url, timeout_s=0.3, stop_timeout_s=0.2, heartbeat_s=0)
    try:
        with pytest.raises(safety.EmergencyStop, match="'STOP'"):
            base.stop()  # a routine stop (the end of an episode) that the robot never confirms
        assert safety.unconfirmed() is not None
        base.rearm()
        _refuses_motion(base, peer)
    finally:
        base.close()
        peer.close()


def test_a_stop_landing_during_rearm_stays_latched(monkeypatch: pytest.MonkeyPatch) -> None:
    """An emergency stop from another thread (a failed heartbeat) that lands between rearm's check and its clearing
    of the latch: the latch must survive, and no motion follows the STOP."""
    peer = _peer()
    base = LineBase(peer.url, heartbeat_s=0)
    real = safety.unconfirmed
    done = threading.Event()

    def unconfirmed_then_stop() -> str | None:
        seen = real()
        if not done.is_set():
            done.set()
            t = threading.Thread(target=safety.emergency_stop, args=("a heartbeat failed",))
            t.start()
            t.join(0.5)  # completes at once unless rearm holds the link's lock
        return seen

    try:
        monkeypatch.setattr(safety, "unconfirmed", unconfirmed_then_stop)
        base.rearm()
        monkeypatch.setattr(safety, "unconfirmed", real)
        assert peer.wait_for("STOP")
        _refuses_motion(base, peer)
    finally:
        base.close()
        peer.close()


def test_min_interval_spacing_does_not_silence_the_heartbeat() -> None:
    """Motion commands are spaced by min_interval_s, but the heartbeat goes on meanwhile: a robot whose dead-man
    period is shorter than the spacing is not halted by a healthy host."""
    peer = _peer(deadman_s=0.3)
    base = LineBase(peer.url, heartbeat_s=0.05, min_interval_s=0.7)
    try:
        base.apply(Action(forward=True, right=True))  # two MOVEs, 0.7 s apart
        moves = [e for e in peer.entries("recv") if e.text.startswith("MOVE")]
        assert len(moves) == 2 and moves[1].t - moves[0].t >= 0.7 - 0.01
        assert not peer.entries("halt"), peer.entries("halt")
        assert not peer.entries("violation")
    finally:
        base.close()
        peer.close()


def test_a_robot_sweep_refuses_the_ray_executor() -> None:
    """Ray kills its actors outright (no SIGTERM, no driver to watch): a robot there could not be stopped."""
    from harness.config import SweepConfig
    from harness.runner import make_executor

    config = SweepConfig.model_validate({
        "policies": [{"name": "p", "kind": "random"}], "executor": "ray",
        "environments": [{"adapter": "realsense", "options": {"goals": "g", "robot": {"driver": "line",
                                                                                       "url": "tcp://car:9100"}}}]})
    with pytest.raises(CrossviewError, match=r"options.robot.driver.*executor: local"):
        make_executor(config, None, None)
