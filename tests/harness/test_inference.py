"""Shared inference (``inference: shared``): same episodes as per-worker copies, and a lost policy process recovered."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from harness.config import parse_config
from harness.errors import CrossviewError
from harness.inference.shm import ShmReader, ShmWriter
from harness.runner import run_sweep
from harness.store import Store
from harness.wire import WireError
from tests.harness.sweeps import REPO, small_config

SERIES = REPO / "checkpoints" / "xview"  # three checkpoints: more policies than a policy process keeps loaded


def outcomes(run: Path) -> dict:
    with Store(run, create=False) as store:
        return {(r["policy"], r["domain"], r["seed"], r["index"]): (r["status"], r["steps"], r["final_distance"],
                                                                   r["success"]) for r in store.rows()}


def needs_torch(what: str) -> None:
    """Skip unless torch is installed (``what`` needs it)."""
    pytest.importorskip("torch", reason=f"{what} needs torch (pip install 'crossview-harness[torch]')")


def _policies() -> list[dict]:
    needs_torch("the xview series")
    return [{"name": "oracle", "kind": "oracle"},
            {"name": "xview", "kind": "torch", "checkpoints": str(SERIES)}]


def test_shared_inference_gives_the_same_episodes_as_per_worker_copies(tmp_path) -> None:
    base = small_config(policies=_policies(), workers=2, envs_per_worker=2)
    per = run_sweep(parse_config({**base, "name": "per"}), tmp_path)
    shared = run_sweep(parse_config({**base, "name": "shared", "inference": "shared",
                                     "batching": {"max_batch": 3, "max_wait_ms": 2}}), tmp_path)
    assert per.exit_code == shared.exit_code == 0 and per.finished == shared.finished == per.planned >= 24
    a, b = outcomes(tmp_path / "per"), outcomes(tmp_path / "shared")
    assert a == b
    assert {s for s, *_ in a.values()} <= {"success", "failure", "timeout"}
    assert any(s == "success" for s, *_ in a.values())


@pytest.mark.parametrize("fault", ["die", "hang"])
def test_a_lost_policy_process_is_restarted_and_its_episodes_retried(tmp_path, fault) -> None:
    oracle = [{"name": "oracle", "kind": "tests.harness.faulty:FailingOnceOracle",
               "options": {"marker": str(tmp_path / "marker"), "fault": fault, "at_call": 6}}]
    cfg = small_config(policies=oracle, inference="shared", timeouts={"reset": 20, "step": 3})
    outcome = run_sweep(parse_config({**cfg, "name": "shared"}), tmp_path)
    assert (tmp_path / "marker").exists(), "the policy process never failed"
    assert int((tmp_path / "marker").read_text()) != os.getpid()  # it ran in the policy process
    with Store(tmp_path / "shared", create=False) as store:
        rows = store.rows()
    assert outcome.exit_code == 0 and len(rows) == 6
    assert {r["status"] for r in rows} <= {"success", "failure", "timeout"}
    assert max(r["attempts"] for r in rows) == 2  # the episodes in flight ran again from their start
    clean = run_sweep(parse_config({**small_config(policies=[{"name": "oracle", "kind": "oracle"}]),
                                    "name": "clean"}), tmp_path)
    assert clean.exit_code == 0 and outcomes(tmp_path / "shared") == outcomes(tmp_path / "clean")


def test_shared_memory_arrays_are_checked_and_read_in_place() -> None:
    writer, reader = ShmWriter(), ShmReader()
    try:
        rgb = np.arange(48 * 48 * 3, dtype=np.uint8).reshape(48, 48, 3)
        msg = reader.unpack(writer.pack({"type": "act", "obs": [{"rgb": rgb, "t": 0.5}]}), 1 << 20)
        got = msg["obs"][0]["rgb"]
        assert np.array_equal(got, rgb) and not got.flags.writeable and got.base is not None
        bad = writer.pack({"type": "act", "x": rgb}).replace(b"uint8", b"objec")
        with pytest.raises(WireError, match="dtype"):
            reader.unpack(bad, 1 << 20)
        import msgpack

        outside = msgpack.packb({"type": "act", "shm": writer.name,
                                 "x": {"__shm__": True, "offset": writer.shm.size - 8, "dtype": "uint8",
                                       "shape": [64]}})
        with pytest.raises(WireError, match="outside"):
            reader.unpack(outside, 1 << 20)
    finally:
        reader.close()
        writer.close()


def test_a_gpu_per_simulator_actor_is_refused_with_shared_inference_in_one_line() -> None:
    with pytest.raises(CrossviewError, match="ray.gpus_per_worker: with inference: shared") as err:
        parse_config(small_config(inference="shared", executor="ray", ray={"gpus_per_worker": 0.25}))
    assert len(str(err.value).splitlines()) == 1


def language_sweep(**overrides) -> dict:
    """The language-conditioned torch checkpoint on language goals, the oracle on video goals."""
    needs_torch("the xview-lang checkpoint")
    policies = [{"name": "lang", "kind": "torch", "goals": ["language"],
                 "checkpoints": str(REPO / "checkpoints" / "xview-lang" / "xview-lang-step12000.safetensors")},
                {"name": "oracle", "kind": "oracle", "goals": ["video"]}]
    return small_config(policies=policies, goals=["language", "video"], **overrides)


def test_language_and_video_goals_through_shared_inference_match_per_worker(tmp_path) -> None:
    base = language_sweep()
    per = run_sweep(parse_config({**base, "name": "per"}), tmp_path)
    shared = run_sweep(parse_config({**base, "name": "shared", "inference": "shared"}), tmp_path)
    assert per.exit_code == shared.exit_code == 0 and per.finished == shared.finished == per.planned == 12
    a, b = outcomes(tmp_path / "per"), outcomes(tmp_path / "shared")
    assert a == b and {s for s, *_ in a.values()} <= {"success", "failure", "timeout"}


def test_a_worker_gives_back_queued_episodes_when_asked(tmp_path) -> None:
    """The tail of a sweep: the driver asks a busy worker for episodes it has not started (work stealing)."""
    import multiprocessing as mp

    from harness.plan import build_plan
    from harness.worker import Worker, WorkerSettings

    episodes = build_plan(parse_config(small_config())).episodes[:6]
    ours, theirs = mp.Pipe()
    worker = Worker(0, WorkerSettings(slots=2, reset_timeout=20, step_timeout=5, run_dir=str(tmp_path)), theirs,
                    mp.RawValue("d", 0.0), mp.RawArray("c", 64), parent=0)
    ours.send(("run", [e.to_wire() for e in episodes]))
    ours.send(("steal", 4))
    worker._receive(block=False)
    kind, wid, given = ours.recv()
    assert (kind, wid) == ("returned", 0)
    assert given == [e.episode_id for e in reversed(episodes[2:])]
    assert [e.episode_id for e in worker.queue] == [e.episode_id for e in episodes[:2]]
    worker.close()


def test_inference_from_the_command_line_and_bad_batching_in_one_line(tmp_path) -> None:
    from tests.harness.sweeps import crossview, write

    cfg = small_config(policies=[{"name": "oracle", "kind": "oracle"}], name="cli")
    done = crossview("sweep", str(write(tmp_path, cfg)), "--out", str(tmp_path / "runs"), "--inference", "shared",
                     "--quiet")
    assert done.returncode == 0, done.stderr
    with Store(tmp_path / "runs" / "cli", create=False) as store:
        assert len(store.rows()) == 6
    bad = crossview("sweep", str(write(tmp_path, {**cfg, "inference": "shared", "batching": {"max_batch": 0}},
                                       "bad.yaml")), "--out", str(tmp_path / "runs"))
    assert bad.returncode == 2 and "batching.max_batch" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_the_core_batches_when_every_worker_waits_and_answers_errors_in_one_line() -> None:
    """The request logic both transports share: seats per (worker, slot), the batching rule, error answers."""
    from harness.inference.core import BatchSettings, InferenceCore
    from harness.spec import Goal, Interaction, LanguageGoal, Observation, TargetAttributes, VideoGoal
    from harness.wire import full_goal_to_wire, observation_to_wire

    armed: list[float] = []
    core = InferenceCore(BatchSettings(capacity=4, max_batch=8, max_wait=60.0), armed.append)
    assert core.handle("a", {"type": "load"})["message"].endswith("say hello first")
    core.join("a", 0)
    core.join("b", 1)
    assert "unknown request type" in core.handle("a", {"type": "nope"})["message"]
    load = {"key": "o", "kind": "random", "options": {}}
    assert core.handle("a", {"type": "load", **load})["type"] == "info"
    for peer in ("a", "b"):
        assert core.handle(peer, {"type": "reset", **load, "slots": [0], "seeds": [3]}) == {"type": "ok"}
    words = LanguageGoal("find the red box", Interaction.APPROACH, TargetAttributes("red box", Interaction.APPROACH))
    clip = VideoGoal(np.zeros((2, 8, 8, 3), np.uint8), Interaction.APPROACH, np.zeros((2, 8, 8), bool))
    writer, reader = ShmWriter(), ShmReader()
    try:  # a goal of every modality through shared memory, copied out of the segment
        sent = Goal(language=words, video=clip)
        msg = reader.unpack(writer.pack({"type": "act", "key": "o", "slots": [0], "privileged": [None],
                                         "obs": [observation_to_wire(Observation(np.zeros((8, 8, 3), np.uint8)))],
                                         "goals": [full_goal_to_wire(sent)]}), 1 << 20)
        assert core.handle("a", msg) is None  # queued: worker b has not asked yet
        kept = core.policies["o"].goals[core.seats[(0, 0)]]
        assert kept.language == words and np.array_equal(kept.video.frames, clip.frames)
        assert kept.video.frames.flags.writeable  # a copy, not a view into the worker's segment
        assert core.due() > 1.0
        bad = {**msg, "goals": [None], "slots": [0]}
        assert core.handle("b", bad)["message"].endswith("a slot's first act must carry its goal")
        assert core.handle("b", {**msg, "goals": [full_goal_to_wire(sent)]}) is None
        assert core.due() == 0.0  # every connected worker waits: the batch runs at once
        replies = core.run_queue()
    finally:
        reader.close()
        writer.close()
    assert [p for p, _ in replies] == ["a", "b"] and all(r["type"] == "actions" for _, r in replies), replies
    assert armed[-1] == 0.0 and armed[-2] > 0  # the deadline was armed for the call and cleared after it
    core.leave("b")
    assert (1, 0) not in core.seats and core.due() is None
