"""The example plugin (examples/vizdoom), installed as a package: registered, conformant, metric, in our frame."""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import pytest

# The venv holds a non-editable copy (scripts/setup.sh:43); test this tree's plugin, not whichever was installed.
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "vizdoom"
sys.path.insert(0, str(EXAMPLE))
pytest.importorskip("vizdoom", reason="vizdoom is not installed (pip install vizdoom)")
pytest.importorskip("crossview_vizdoom", reason="the example plugin is not installed (pip install ./examples/vizdoom)")

import crossview_vizdoom  # noqa: E402
from crossview_vizdoom.mapgen import UNIT_M  # noqa: E402

from adapters.base import make_adapter, registry  # noqa: E402
from harness.conformance import check_adapter  # noqa: E402
from harness.spec import Action  # noqa: E402


@pytest.fixture
def doom():
    adapter = make_adapter("vizdoom", image_size=[120, 160])
    yield adapter
    adapter.close()


def test_runs_this_trees_plugin(doom) -> None:
    assert Path(crossview_vizdoom.__file__).resolve().is_relative_to(EXAMPLE), crossview_vizdoom.__file__
    assert Path(sys.modules[type(doom).__module__].__file__).resolve().is_relative_to(EXAMPLE)


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
    """Where the centre pixel sees a wall, depth there equals the ray's length to that wall, near and far.

    Upstream's wall depth is linear with an offset (Farama-Foundation/ViZDoom:src/vizdoom/src/r_segs.cpp:1177-1181);
    a purely proportional scale is 0.3 m short everywhere and a third short at 1 m, so the tolerance is tight.
    """
    checked, near = 0, 0
    for seed in range(1, 6):
        _, _, info = doom.reset(dataclasses.replace(doom.tasks("train")[0], seed=seed))
        layout = doom._layout
        for k in range(36):  # turn around, then walk at whatever wall is ahead until stopped by it
            obs, _, _, info = doom.step(Action(camera=(0.0, 30.0)) if k < 12 else Action(forward=True))
            h, w = doom.info.obs_size
            if doom._state.labels_buffer[120, 160] != 0:  # an object, not a wall, at the centre
                continue
            x, y, _, yaw, _ = info.privileged.pose
            truth = _wall_distance(x, y, yaw, layout.width * UNIT_M, layout.depth * UNIT_M)
            if truth > 25:  # beyond the buffer's range
                continue
            assert obs.depth[h // 2, w // 2] == pytest.approx(truth, rel=0.03, abs=0.15), (seed, yaw, truth)
            checked += 1
            near += truth < 2.5
    assert checked >= 20 and near >= 3, (checked, near)


def test_depth_on_the_target_matches_the_engines_position(doom) -> None:
    """Sprites use their own depth mapping (r_draw.cpp:207-211): depth on the target's labelled pixels equals the
    planar distance to the position the engine reports for it in ``state.labels`` (labels_buffer.py), not ours."""
    checked = 0
    for seed in range(1, 9):
        obs, _, info = doom.reset(dataclasses.replace(doom.tasks("train")[0], seed=seed))
        name = doom._layout.target.name
        labels = [lab for lab in doom._state.labels if lab.object_name == name]
        if not labels:
            continue
        lab = labels[0]
        x, y, _, yaw, _ = info.privileged.pose
        theta = -math.radians(yaw)
        planar = ((lab.object_position_x * UNIT_M - x) * math.cos(theta)
                  + (lab.object_position_y * UNIT_M - y) * math.sin(theta))
        pixels = doom._state.labels_buffer == lab.value
        levels = doom._fit(pixels)
        assert levels.any()
        assert float(np.median(obs.depth[levels])) == pytest.approx(planar, rel=0.03, abs=0.15), seed
        # and the target the facts name is the one the engine placed
        assert info.privileged.target_pos[:2] == pytest.approx(
            (lab.object_position_x * UNIT_M, lab.object_position_y * UNIT_M), abs=0.05)
        checked += 1
    assert checked >= 4


def _label_centre_x(doom, name: str) -> float | None:
    """The column of the centre of ``name``'s label box in the 320x240 engine frame, None when not in view."""
    labs = [lab for lab in doom._state.labels if lab.object_name == name]
    return labs[0].x + labs[0].width / 2 if labs else None


def test_yaw_sense_matches_the_rendered_image(doom) -> None:
    """Positive yaw turns right without trusting ANGLE: the target's label box (engine pixels) sits on the side
    its bearing says, and moves left when the agent turns right (G_AddViewAngle subtracts, g_game.cpp:844-860)."""
    checked = 0
    for seed in range(1, 9):
        _, _, info = doom.reset(dataclasses.replace(doom.tasks("train")[0], seed=seed))
        t = doom._layout.target

        before = _label_centre_x(doom, t.name)
        if before is None:
            continue
        x, y, _, yaw, _ = info.privileged.pose
        bearing = ((-math.degrees(math.atan2(t.y * UNIT_M - y, t.x * UNIT_M - x)) - yaw + 180) % 360) - 180
        # 90-degree horizontal field of view at 4:3: column = centre + centre * tan(bearing)
        assert before == pytest.approx(160 + 160 * math.tan(math.radians(bearing)), abs=12), (seed, bearing)
        doom.step(Action(camera=(0.0, 8.0)))
        after = _label_centre_x(doom, t.name)
        if after is not None:
            assert after < before - 10, (seed, before, after)
            checked += 1
    assert checked >= 4


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
