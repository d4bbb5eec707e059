"""The policy server: round trips, health while busy, tokens, order, size limits, fuzzed input, reconnection."""

from __future__ import annotations

import time

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import CrossviewError
from harness.serve import PolicyServer, serve_in_thread
from harness.spec import Action, CrossViewGoal, Interaction, Observation, PrivilegedFacts
from harness.wire import pack, unpack
from policies.base import PolicyInfo, make_policy

websockets = pytest.importorskip("websockets", reason="websockets is not installed (pip install '[serve]')")
from websockets.sync.client import connect  # noqa: E402

INT = st.integers(-(2**63), 2**63 - 1)
OBS = [Observation(np.full((224, 224, 3), 7, np.uint8))]
GOAL = [CrossViewGoal(np.zeros((224, 224, 3), np.uint8), np.eye(224, dtype=bool), Interaction.MINE)]


class SlowPolicy:
    """Takes its time to act, to show that health checks do not wait for inference."""

    def __init__(self, seconds: float = 0.8) -> None:
        self.info = PolicyInfo(name="slow")
        self.seconds = seconds

    def reset(self, n, slots=None, seeds=None) -> None:
        pass

    def act(self, observations, goals, privileged, slots=None):
        time.sleep(self.seconds)
        return [Action(forward=True) for _ in observations]


@pytest.fixture
def server():
    port, stop = serve_in_thread(lambda: make_policy("random"), max_bytes=2 * 2**20)
    yield port
    stop()


def raw(port: int):
    ws = connect(f"ws://127.0.0.1:{port}", max_size=None).__enter__()
    meta = unpack(ws.recv(timeout=5), 2**30)
    assert meta["type"] == "meta"
    return ws


def ask(ws, message: dict) -> dict:
    ws.send(pack(message))
    return unpack(ws.recv(timeout=10), 2**30)


def test_remote_equals_local(server: int) -> None:
    remote, local = make_policy("remote", url=f"ws://127.0.0.1:{server}"), make_policy("random")
    for p in (remote, local):
        p.reset(3, seeds=[4, 5, 6])
    obs, goals = OBS * 3, GOAL * 3
    assert remote.act(obs, goals, [None] * 3) == local.act(obs, goals, [None] * 3)
    assert remote.info.name == "remote:random" and remote.health()["ok"]
    remote.close()


def test_default_bind_is_loopback() -> None:
    assert PolicyServer(lambda: make_policy("random")).host == "127.0.0.1"


def test_health_is_answered_while_inference_runs() -> None:
    port, stop = serve_in_thread(SlowPolicy)
    try:
        ws = raw(port)
        assert ask(ws, {"type": "reset", "id": 1, "n": 1})["type"] == "ok"
        ws.send(pack({"type": "act", "id": 2, "observations": [{"rgb": OBS[0].rgb}],
                      "goals": [{"image": GOAL[0].image, "mask": GOAL[0].mask, "interaction": 2}]}))
        time.sleep(0.1)
        t0 = time.monotonic()
        ws.send(pack({"type": "health", "id": 3}))
        first = unpack(ws.recv(timeout=5), 2**30)
        assert first["id"] == 3 and first["busy"] is True and time.monotonic() - t0 < 0.5
        assert unpack(ws.recv(timeout=5), 2**30)["type"] == "actions"
        ws.close()
    finally:
        stop()


def test_token_is_required() -> None:
    port, stop = serve_in_thread(lambda: make_policy("random"), token="s3cret")
    try:
        ws = raw(port)
        reply = ask(ws, {"type": "health", "id": 1})
        assert reply["type"] == "error" and "unauthenticated" in reply["error"]
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            ws.recv(timeout=5)
        with pytest.raises(CrossviewError, match="wants a token"):
            make_policy("remote", url=f"ws://127.0.0.1:{port}")
        with pytest.raises(CrossviewError):
            make_policy("remote", url=f"ws://127.0.0.1:{port}", token="wrong")
        good = make_policy("remote", url=f"ws://127.0.0.1:{port}", token="s3cret")
        good.reset(1)
        assert len(good.act(OBS, GOAL, [None])) == 1
        good.close()
    finally:
        stop()


def test_out_of_order_and_malformed_requests_keep_the_connection(server: int) -> None:
    ws = raw(server)
    reply = ask(ws, {"type": "act", "id": 1, "observations": [{"rgb": OBS[0].rgb}],
                     "goals": [{"image": GOAL[0].image, "mask": GOAL[0].mask}]})
    assert reply["type"] == "error" and "reset" in reply["error"]
    assert ask(ws, {"type": "reset", "id": 2, "n": 1})["type"] == "ok"
    bad = ask(ws, {"type": "act", "id": 3, "observations": [{"rgb": np.zeros((2, 2), np.float64)}], "goals": [None]})
    assert bad["type"] == "error"
    obj = msgpack.packb({"type": "act", "id": 4, "observations": [{"rgb": {"__nd__": True, "dtype": "object",
                                                                           "shape": [1], "data": b"x"}}]})
    ws.send(obj)
    assert "not allowed" in unpack(ws.recv(timeout=5), 2**30)["error"]  # no object arrays, no pickle
    assert ask(ws, {"type": "health", "id": 5})["ok"]
    ws.close()


def test_oversized_message_closes_only_that_connection(server: int) -> None:
    ws = raw(server)
    ws.send(b"\x00" * (3 * 2**20))
    with pytest.raises(websockets.exceptions.ConnectionClosed):
        ws.recv(timeout=5)
    fresh = raw(server)
    assert ask(fresh, {"type": "health", "id": 1})["ok"]
    fresh.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=256),
                 st.recursive(st.none() | st.booleans() | INT | st.text(max_size=20) | st.binary(max_size=20),
                              lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                              max_leaves=12).map(lambda v: msgpack.packb(v, use_bin_type=True)),
                 st.fixed_dictionaries({"type": st.sampled_from(["act", "reset", "health", "auth", "zzz"]),
                                        "id": INT, "n": INT, "slots": st.lists(INT),
                                        "observations": st.lists(st.dictionaries(st.text(max_size=5), INT))})
                 .map(lambda v: msgpack.packb(v, use_bin_type=True))))
def test_fuzzed_messages_never_take_the_server_down(server: int, payload: bytes) -> None:
    ws = raw(server)
    try:
        ws.send(payload)
        reply = unpack(ws.recv(timeout=5), 2**30)
        assert reply["type"] in ("error", "ok", "health", "actions")
    except websockets.exceptions.ConnectionClosed:
        pass
    finally:
        ws.close()
    check = raw(server)
    assert ask(check, {"type": "health", "id": 0})["ok"]
    check.close()


def test_client_reconnects_with_backoff() -> None:
    port, stop = serve_in_thread(lambda: make_policy("random"))
    client = make_policy("remote", url=f"ws://127.0.0.1:{port}", retries=6, backoff=0.1)
    client.reset(1, seeds=[1])
    assert len(client.act(OBS, GOAL, [None])) == 1
    stop()
    _, stop2 = serve_in_thread(lambda: make_policy("random"), port=port)  # the server comes back
    try:
        assert len(client.act(OBS, GOAL, [None])) == 1
    finally:
        client.close()
        stop2()


def test_token_is_checked_before_anything_else_is_read() -> None:
    """Before the token: no policy details, and a frame over 4 KiB is refused unread; after it, the full meta."""
    port, stop = serve_in_thread(lambda: make_policy("random"), token="s3cret")
    try:
        ws = connect(f"ws://127.0.0.1:{port}", max_size=None).__enter__()
        meta = unpack(ws.recv(timeout=5), 2**30)
        assert meta["type"] == "meta" and meta["auth"] is True and "policy" not in meta
        ws.send(b"\x00" * 100_000)  # an unauthenticated client's big frame
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big, never decoded
        ws = connect(f"ws://127.0.0.1:{port}", max_size=None).__enter__()
        unpack(ws.recv(timeout=5), 2**30)
        reply = ask(ws, {"type": "auth", "token": "s3cret", "id": 7})
        assert reply["type"] == "ok" and reply["id"] == 7 and reply["meta"]["policy"]["name"] == "random"
        big = ask(ws, {"type": "act", "id": 8, "observations": [{"rgb": np.zeros((64, 64, 3), np.uint8)}],
                       "goals": [{"image": np.zeros((64, 64, 3), np.uint8), "mask": np.ones((64, 64), bool)}]})
        assert big["type"] == "error" and "reset" in big["error"]  # a 24 KiB frame is read once authenticated
        ws.close()
        remote = make_policy("remote", url=f"ws://127.0.0.1:{port}", token="s3cret")
        assert remote.info.name == "remote:random"
        remote.close()
    finally:
        stop()


FACTS = PrivilegedFacts(pose=(0.0, 0.0, 0.7, 0.0, 0.0), target_pos=(2.0, 1.0, 0.5), waypoint=(1.0, 0.5),
                        distance=1.8, success_radius=0.6, target_centred=False)


def test_privileged_facts_travel_as_a_typed_message() -> None:
    port, stop = serve_in_thread(lambda: make_policy("oracle"))
    try:
        remote, local = make_policy("remote", url=f"ws://127.0.0.1:{port}"), make_policy("oracle")
        assert remote.info.privileged
        for p in (remote, local):
            p.reset(1, seeds=[3])
        assert remote.act(OBS, GOAL, [FACTS]) == local.act(OBS, GOAL, [FACTS])
        remote.close()
        ws = raw(port)
        assert ask(ws, {"type": "reset", "id": 1, "n": 1})["type"] == "ok"
        wire_obs, wire_goal = {"rgb": OBS[0].rgb}, {"image": GOAL[0].image, "mask": GOAL[0].mask, "interaction": 2}
        for bad in ({"pose": [0, 0, 0, 0, 0]}, {"type": "privileged", "pose": [1, 2]},
                    {"type": "privileged", **FACTS.to_dict(), "secret": 1}):
            reply = ask(ws, {"type": "act", "id": 2, "observations": [wire_obs], "goals": [wire_goal],
                             "privileged": [bad]})
            assert reply["type"] == "error" and "privileged" in reply["error"]
        ok = ask(ws, {"type": "act", "id": 3, "observations": [wire_obs], "goals": [wire_goal],
                      "privileged": [{"type": "privileged", **FACTS.to_dict()}]})
        assert ok["type"] == "actions"
        ws.close()
    finally:
        stop()
