"""The example plugin (examples/vizdoom), installed as a package: registered, conformant, metric, in our frame."""

from __future__ import annotations

import dataclasses
import math

import pytest

pytest.importorskip("vizdoom", reason="vizdoom is not installed (pip install vizdoom)")
pytest.importorskip("crossview_vizdoom", reason="the example plugin is not installed (pip install ./examples/vizdoom)")

from crossview_vizdoom.mapgen import UNIT_M  # noqa: E402

from adapters.base import make_adapter, registry  # noqa: E402
from harness.conformance import check_adapter  # noqa: E402
from harness.spec import Action  # noqa: E402


@pytest.fixture
def doom():
    adapter = make_adapter("vizdoom", image_size=[120, 160])
    yield adapter
    adapter.close()


def test_registered_by_its_distribution_and_conformant() -> None:
    entry = registry()["vizdoom"]
    assert entry.dist == "crossview-vizdoom" and entry.source.startswith("crossview-vizdoom ")
    report = check_adapter("vizdoom", {"image_size": [96, 128]})
    assert report.ok, report.text()


def _wall_distance(x: float, y: float, yaw: float, width: float, depth: float) -> float:
    """Metres along the view direction from (x, y) to the room's walls (yaw positive turning right)."""
    theta = -math.radians(yaw)
    dx, dy = math.cos(theta), math.sin(theta)
    ts = [t for t in ((width - x) / dx if dx > 1e-9 else math.inf, -x / dx if dx < -1e-9 else math.inf,
                      (depth - y) / dy if dy > 1e-9 else math.inf, -y / dy if dy < -1e-9 else math.inf)]
    return min(ts)


def test_depth_is_metric_against_the_walls(doom) -> None:
    """Where the centre pixel sees a wall, depth there equals the ray's length to that wall (the calibration)."""
    checked = 0
    for seed in range(1, 6):
        _, _, info = doom.reset(dataclasses.replace(doom.tasks("train")[0], seed=seed))
        layout = doom._layout
        for _ in range(12):
            obs, _, _, info = doom.step(Action(camera=(0.0, 30.0)))
            h, w = doom.info.obs_size
            if doom._state.labels_buffer[120, 160] != 0:  # an object, not a wall, at the centre
                continue
            x, y, _, yaw, _ = info.privileged.pose
            truth = _wall_distance(x, y, yaw, layout.width * UNIT_M, layout.depth * UNIT_M)
            if truth > 25:  # beyond the buffer's range
                continue
            assert obs.depth[h // 2, w // 2] == pytest.approx(truth, rel=0.1, abs=0.3), (seed, yaw)
            checked += 1
    assert checked >= 10


def test_pose_follows_crossviews_frame(doom) -> None:
    obs, _, info = doom.reset(dataclasses.replace(doom.tasks("train")[0], seed=3))
    yaw0 = info.privileged.pose[3]
    obs2, _, _, info2 = doom.step(Action(camera=(10.0, 30.0)))
    x, y, _, yaw, pitch = info2.privileged.pose
    assert yaw == pytest.approx(((yaw0 + 30 + 180) % 360) - 180, abs=0.5) and pitch == pytest.approx(10, abs=0.5)
    assert obs2.depth[-1].mean() < obs.depth[-1].mean() + 1e-6  # looking down: the bottom row sees nearer floor
    _, _, _, info3 = doom.step(Action(forward=True))
    theta = -math.radians(yaw)
    moved = (info3.privileged.pose[0] - x, info3.privileged.pose[1] - y)
    assert moved[0] * math.cos(theta) + moved[1] * math.sin(theta) > 0.05  # forward is along yaw
