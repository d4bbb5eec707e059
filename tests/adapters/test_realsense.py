"""The rig without a camera: recordings made by the real SDK's software_device, played through the adapter and
whole sweeps (driver none and the TCP line driver against the reference robot); robot mapping, Ctrl-C, operator,
honest records (unjudged status, intrinsics as delivered), a refusing or silent robot named in one line, goal
capture. The line protocol itself: tests/adapters/test_robot.py; every stop path under signals: test_robot_soak.py."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness import safety
from harness.errors import CrossviewError
from harness.goals import load_goal
from harness.spec import Action, Modality
from tests.harness.sweeps import REPO, crossview
from tests.servers.robot_peer import RobotPeer

rs = pytest.importorskip("pyrealsense2", reason="pyrealsense2 (and Debian's libusb-1.0-0) is not installed",
                         exc_type=ImportError)

from adapters.realsense.camera import RealSenseCamera  # noqa: E402
from adapters.realsense.robot import car_commands, make_base  # noqa: E402
from tests.servers.realsense_recording import record, scene  # noqa: E402

GOALS = Path(__file__).resolve().parents[1] / "fixtures" / "dmlab_goals"


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    colour, depth = scene()
    return record(tmp_path_factory.mktemp("rs") / "scene.db3", 6, colour, depth, skip_colour=(3,))


@pytest.fixture
def peer():
    p = RobotPeer()
    yield p
    p.close()


@pytest.fixture(autouse=True)
def fresh_safety():
    safety.reset()
    yield
    safety.reset()


def test_playback_depth_scale_alignment_pairing_and_end(recording: Path) -> None:
    import time

    cam = RealSenseCamera(file=str(recording), size=(48, 64))
    frames = []
    while (f := cam.read()) is not None:
        frames.append(f)
        began_end = time.monotonic()
    ended_in = time.monotonic() - began_end
    cam.stop()
    assert ended_in < 1.0, f"the end of the recording took {ended_in:.2f} s to notice: no fixed wait"
    stamps = [t for _, _, t in frames]
    assert stamps == [0.0, 33.0, 66.0, 132.0, 165.0]  # frameset 3 had no colour: skipped, never mispaired
    for rgb, depth, t in frames:
        i = int(round(t / 33.0))
        assert rgb.shape == (48, 64, 3) and depth.shape == (48, 64) and depth.dtype == np.float32
        assert rgb[0, 0, 0] == 90 + 10 * i  # colour frame i
        assert depth[0, 0] == pytest.approx((1500 + i) * 0.001, abs=1e-6)  # depth frame i, in metres
        # the half-resolution depth was aligned (upsampled) to colour: the box at 0.8 m covers the centre
        assert depth[24, 32] == pytest.approx(0.8, abs=1e-6) and depth[2, 2] > 1.4
    assert cam.intrinsics["fx"] == 50.0 and cam.intrinsics["depth_scale"] == pytest.approx(0.001)


def test_pairs_within_half_a_frame_like_a_real_camera_and_bgr_recordings(tmp_path: Path) -> None:
    """A real camera's depth and colour sensors stamp one moment a few ms apart (paired by librealsense's syncer
    within half a frame period, IntelRealSense/librealsense src/sync.cpp:735-740); equal timestamps must not be
    required, or a live camera (and any real recording) yields no frame at all. A bgr8 recording is read as RGB."""
    colour, depth = scene()
    path = record(tmp_path / "offset.db3", 5, colour, depth, colour_offset_ms=4.0, colour_format="bgr8")
    cam = RealSenseCamera(file=str(path), size=(48, 64))
    frames = []
    while (f := cam.read()) is not None:
        frames.append(f)
    cam.stop()
    assert [t for _, _, t in frames] == [4.0, 37.0, 70.0, 103.0, 136.0]
    for i, (rgb, d, _) in enumerate(frames):
        assert rgb[0, 0, 0] == 90 + 10 * i and d[0, 0] == pytest.approx((1500 + i) * 0.001, abs=1e-6)
        assert tuple(rgb[24, 32]) == (200, 30, 30)  # the red box is red: channels in RGB order


def test_intrinsics_are_those_of_the_delivered_image(recording: Path) -> None:
    cam = RealSenseCamera(file=str(recording), size=(24, 48))  # half the height, three quarters of the width
    cam.start()
    cam.stop()
    intr = cam.intrinsics
    assert (intr["width"], intr["height"]) == (48, 24) and intr["native"]["width"] == 64
    assert intr["fx"] == pytest.approx(50.0 * 48 / 64) and intr["fy"] == pytest.approx(25.0)
    assert intr["ppx"] == pytest.approx(24.0) and intr["ppy"] == pytest.approx(12.0)


def test_resize_and_replay_from_start(recording: Path) -> None:
    cam = RealSenseCamera(file=str(recording), size=(24, 32))
    first = cam.read()
    cam.start()  # a new episode replays from the beginning
    again = cam.read()
    cam.stop()
    assert first[0].shape == (24, 32, 3) and np.array_equal(first[0], again[0]) and first[2] == again[2] == 0.0


def test_bad_sources_give_one_line(tmp_path: Path) -> None:
    legacy = tmp_path / "old.bag"  # SDK 2.59 plays ROS1 .bag files from older SDKs through the same path
    legacy.write_bytes(b"#ROSBAG V2.0\nnot really")
    with pytest.raises(CrossviewError, match="unreadable"):
        RealSenseCamera(file=str(legacy)).start()
    with pytest.raises(CrossviewError, match="does not exist"):
        RealSenseCamera(file=str(tmp_path / "missing.db3"))
    with pytest.raises(CrossviewError, match=r"\.db3 .* or \.bag"):
        (tmp_path / "x.mp4").write_bytes(b"")
        RealSenseCamera(file=str(tmp_path / "x.mp4"))
    if not len(rs.context().query_devices()):
        with pytest.raises(CrossviewError, match="no RealSense camera is connected"):
            RealSenseCamera(serial="123").start()


def test_car_mapping_by_hand() -> None:
    a = Action(forward=True, right=True, attack=True, camera=(5.0, -90.0))
    assert car_commands(a) == ["TURN -45.00", "MOVE 0.100 0.000", "MOVE 0.000 0.100", "PITCH 5.00", "BEEP"]
    assert car_commands(a, masked=frozenset({"pitch"})) == ["TURN -45.00", "MOVE 0.100 0.000", "MOVE 0.000 0.100",
                                                            "BEEP"]
    assert car_commands(Action(back=True, left=True), step_m=1.0) == ["MOVE -0.300 0.000", "MOVE 0.000 -0.300"]
    assert car_commands(Action(forward=True, back=True)) == []
    with pytest.raises(CrossviewError, match="unknown robot driver"):
        make_base("warp")


def test_ctrl_c_stops_the_base_first(peer: RobotPeer, tmp_path: Path) -> None:
    script = tmp_path / "drive.py"
    script.write_text(f"""
import time
from harness import safety
from adapters.realsense.robot import LineBase
from harness.spec import Action
safety.install(interrupt=True)
base = LineBase({peer.url!r}, deadline_s=60)
base.apply(Action(forward=True))
try:
    print("moving", flush=True)
    time.sleep(60)
except KeyboardInterrupt:
    print("interrupted", flush=True)
""")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "moving"
    sent = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    assert proc.stdout.readline().strip() == "interrupted"
    proc.wait(10)
    assert peer.wait_for("STOP", timeout=2.0) and peer.commands() == ["MOVE 0.100 0.000", "STOP"]
    stop = next(e.t for e in peer.entries() if e.text == "STOP")
    assert stop - sent < 0.1


def test_operator_flow_judges_and_skips(recording: Path) -> None:
    from adapters.realsense.adapter import RigAdapter

    answers = iter(["", "y", "", "n", "", "maybe", "s"])
    asked = []
    rig = RigAdapter(goals=str(GOALS), file=str(recording), image_size=(48, 64), max_steps=3,
                     ask=lambda prompt: (asked.append(prompt), next(answers))[1])
    try:
        task = rig.tasks("train")[0]
        results = []
        for _ in range(3):
            obs, goal, info = rig.reset(task)
            assert "intrinsics" in info.provenance
            done = False
            while not done:
                obs, done, success, _ = rig.step(Action(forward=True))
            results.append(success)
        assert results == [True, False, None]
        assert "set the scene" in asked[0] and "[y/n/s(kip)]" in asked[1]
    finally:
        rig.close()


def test_after_an_emergency_stop_the_operator_must_confirm(recording: Path, peer: RobotPeer) -> None:
    from adapters.realsense.adapter import RigAdapter

    answers = iter(["", "y", "", "yes", "go", "", "n"])
    asked = []
    rig = RigAdapter(goals=str(GOALS), file=str(recording), image_size=(24, 32), max_steps=2,
                     robot={"driver": "line", "url": peer.url, "heartbeat_s": 0},
                     ask=lambda prompt: (asked.append(prompt), next(answers))[1])
    try:
        task = rig.tasks("train")[0]
        rig.reset(task)
        rig.step(Action(forward=True))
        safety.emergency_stop("a test stop")  # e.g. the policy failed: the episode is over
        assert peer.commands()[-1] == "STOP"
        with pytest.raises(safety.EmergencyStop):  # latched for the rest of the episode
            rig.step(Action(forward=True))
        rig.reset(task)  # asks until the operator types 'go', then to set the scene
        assert "emergency-stopped: a test stop" in asked[-3] and asked[-3] == asked[-2]
        assert "set the scene" in asked[-1] and safety.unconfirmed() is None
        n = len(peer.commands())
        rig.step(Action(forward=True))
        assert peer.commands()[n:] == ["MOVE 0.100 0.000"]  # moving again, after the confirmation
    finally:
        rig.close()


def test_a_camera_failing_mid_episode_stops_the_robot_first(tmp_path: Path, peer: RobotPeer) -> None:
    from adapters.realsense.adapter import RigAdapter

    colour, depth = scene()
    lost = record(tmp_path / "lost.db3", 6, colour, depth)
    rig = RigAdapter(goals=str(GOALS), file=str(lost), image_size=(24, 32), operator="none",
                     robot={"driver": "line", "url": peer.url, "heartbeat_s": 0})
    try:
        rig.reset(rig.tasks("train")[0])
        rig.step(Action(forward=True))
        lost.unlink()
        rig.camera.stop()  # the camera goes away (a cable pulled): it cannot be opened again
        with pytest.raises(CrossviewError, match="unreadable"):
            rig.step(Action(camera=(0.0, 10.0)))
        assert peer.commands() == ["STOP", "MOVE 0.100 0.000", "TURN 10.00", "STOP"]
        assert "the rig failed during a step" in (safety.unconfirmed() or "")
        with pytest.raises(safety.EmergencyStop):  # latched: the next episode needs the operator first
            rig.reset(rig.tasks("train")[0])
        assert peer.commands()[-1] == "STOP"
    finally:
        rig.close()


def test_soak_camera_failures_at_random_steps(tmp_path: Path, recording: Path) -> None:
    """20 episodes, each losing its camera at a random step (the recording's copy deleted and the camera closed just
    before it); the reference robot, busy 20 ms a command, must see STOP within 100 ms and no motion after it."""
    import random
    import shutil

    from adapters.realsense.adapter import RigAdapter
    from tests.servers.robot_peer import MOTION

    robot = RobotPeer(busy_s=0.02)
    latencies = []
    try:
        for k in range(20):
            safety.reset()
            copy = Path(shutil.copy(recording, tmp_path / f"copy{k}.db3"))
            rig = RigAdapter(goals=str(GOALS), file=str(copy), image_size=(24, 32), operator="none",
                             robot={"driver": "line", "url": robot.url, "heartbeat_s": 0})
            try:
                rig.reset(rig.tasks("train")[0])
                for _ in range(random.randrange(4)):
                    rig.step(Action(forward=True))
                copy.unlink()
                rig.camera.stop()
                moment = time.monotonic()
                with pytest.raises(CrossviewError, match="unreadable"):
                    rig.step(Action(forward=True, camera=(0.0, 5.0)))
            finally:
                rig.close()
            after = [e for e in robot.entries() if e.t >= moment]
            stop = next(i for i, e in enumerate(after) if e.text == "STOP")
            # the step's own commands run first (lockstep: they are finished when the camera is read)
            done = max([e.t for e in robot.entries("reply") if e.t <= after[stop].t] + [moment])
            latencies.append(after[stop].t - done)
            assert not [e for e in after[stop + 1:] if e.text.split(" ")[0] in MOTION]
    finally:
        robot.close()
    print(f"\ncamera failure: worst STOP latency {1000 * max(latencies):.1f} ms over {len(latencies)} moments")
    assert max(latencies) < 0.1


def _rig_config(recording: Path, robot: dict, name: str, policy: str = "random") -> dict:
    return {"name": name, "policies": [{"name": policy, "kind": policy}],
            "environments": [{"adapter": "realsense", "role": "zeroshot", "suite": "train", "episodes": 2,
                              "max_steps": 4, "options": {"goals": str(GOALS), "file": str(recording),
                                                          "operator": "none", "image_size": [24, 32],
                                                          "robot": robot}}],
            "workers": 1, "envs_per_worker": 1}


@pytest.mark.parametrize("driver", ["none", "line"])
def test_whole_sweep_on_a_recording(recording: Path, peer: RobotPeer, tmp_path: Path, driver: str) -> None:
    import yaml

    robot = {"driver": "none"} if driver == "none" else {"driver": "line", "url": peer.url}
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(_rig_config(recording, robot, "rig")))
    result = crossview("sweep", str(path), "--out", str(tmp_path / "runs"), "--quiet")
    assert result.returncode == 0, result.stderr
    from harness.store import Store

    with Store(tmp_path / "runs" / "rig", create=False) as store:
        records = store.records()
    assert len(records) == 2 and all(r.success is None for r in records)  # nobody judged: counted, not scored
    assert {r.status.value for r in records} == {"unjudged"}
    assert all(json.loads(r.provenance)["intrinsics"]["fx"] == 25.0 for r in records)  # of the 24×32 frames
    if driver == "line":
        assert any(c.startswith(("MOVE", "TURN", "BEEP")) for c in peer.commands())
        assert "STOP" in peer.commands()
    report = crossview("report", str(tmp_path / "runs" / "rig"))
    assert report.returncode == 0 and "could not be judged" in (tmp_path / "runs" / "rig" / "report" /
                                                                 "summary.md").read_text()


@pytest.mark.parametrize("fault", ["refuse", "silent"])
def test_a_refusing_or_silent_robot_is_named_in_one_line_and_stopped(recording: Path, tmp_path: Path,
                                                                     fault: str) -> None:
    import yaml

    from harness.store import Store
    from tests.servers.robot_peer import MOTION

    robot_peer = RobotPeer(refuse=MOTION) if fault == "refuse" else RobotPeer(silent=MOTION)
    try:
        robot = {"driver": "line", "url": robot_peer.url, "timeout_s": 0.5, "heartbeat_s": 0}
        path = tmp_path / "rig.yaml"
        path.write_text(yaml.safe_dump(_rig_config(recording, robot, "rig")))
        result = crossview("sweep", str(path), "--out", str(tmp_path / "runs"), "--quiet")
        commands = robot_peer.commands()
        first = next(i for i, c in enumerate(commands) if c.split(" ")[0] in MOTION)
        named = [line for line in result.stderr.splitlines() if repr(commands[first]) in line]
        assert len(named) == 1, result.stderr  # one line, naming the command
        assert ("answered 'ERR refused" if fault == "refuse" else "within 0.5 s") in named[0]
        assert "Traceback" not in result.stderr and result.returncode == 1
        assert commands[first + 1] == "STOP", commands  # the robot is stopped at once ...
        assert not [c for c in commands[first + 1:] if c.split(" ")[0] in MOTION]  # ... and stays stopped
        with Store(tmp_path / "runs" / "rig", create=False) as store:
            records = store.records()
        assert [r.status.value for r in records] == ["aborted", "aborted"]  # the second: nobody could confirm
        assert sum(repr(commands[first]) in (r.error or "") for r in records) == 1
    finally:
        robot_peer.close()


def test_goal_capture_and_show(recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "goals"
    result = crossview("goal", "capture", "--file", str(recording), "--box", "18,12,46,36", "--name", "red_box",
                       "--out", str(out), "--size", "48,64", "--interaction", "approach")
    assert result.returncode == 0, result.stderr
    goal = load_goal(out, "red_box")
    truth = np.zeros((48, 64), bool)
    truth[16:32, 21:42] = True  # the red box of the scene
    iou = (goal.goal.mask & truth).sum() / (goal.goal.mask | truth).sum()
    assert iou >= 0.8 and "intrinsics" in goal.meta
    assert (out / "red_box.preview.png").is_file()
    shown = crossview("goal", "show", str(out / "red_box"), "--out", str(tmp_path / "p.png"))
    assert shown.returncode == 0 and (tmp_path / "p.png").stat().st_size > 100
    bad = crossview("goal", "capture", "--file", str(recording), "--box", "50,50,10,10", "--name", "x", "--out",
                    str(out), "--size", "48,64")
    assert bad.returncode == 2 and "--box" in bad.stderr


def test_goal_capture_attaches_an_instruction(recording: Path, tmp_path: Path) -> None:
    from adapters.realsense.adapter import RigAdapter

    out = tmp_path / "goals"
    result = crossview("goal", "capture", "--file", str(recording), "--box", "18,12,46,36", "--name", "red_box",
                       "--out", str(out), "--size", "48,64", "--instruction", "go to the red box")
    assert result.returncode == 0, result.stderr
    assert load_goal(out, "red_box").instruction == "go to the red box"
    rig = RigAdapter(goals=str(out), file=str(recording), image_size=(48, 64), max_steps=2, operator="none")
    try:
        assert Modality.LANGUAGE in rig.info.goals
        task = rig.tasks("train")[0]
        _, goal, _ = rig.reset(dataclasses.replace(task, goal="language"))
        assert goal.language.instruction == "go to the red box" and goal.language.phrasing == "capture"
        _, plain, _ = rig.reset(task)
        assert np.array_equal(plain.mask, goal.cross_view.mask)
    finally:
        rig.close()
