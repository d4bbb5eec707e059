"""The MuJoCo side of Rooms: one model per domain with fixed pools of wall and object geoms, re-posed per layout.

Building one model per domain and moving its geoms in place keeps a reset free of model compilation and, above
all, of creating a new GL context (~80 ms each).
"""

from __future__ import annotations

import math

import numpy as np

from adapters.rooms.domains import DomainStyle
from adapters.rooms.layout import Layout
from adapters.rooms.render import import_mujoco

MAX_WALLS = 8  # 4 outer + 2 partitions split by a doorway
MAX_THINGS = 8
HIDDEN_Z = -50.0


def _rgb(c: tuple[float, float, float]) -> str:
    return " ".join(f"{v:.3f}" for v in c)


def domain_xml(style: DomainStyle, height: int, width: int) -> str:
    """MJCF of a domain: floor, lighting, sky, the geom pools, and the agent and goal cameras on mocap bodies."""
    a, b = style.floor_rgb
    walls = "\n".join(f'<geom name="wall{i}" type="box" size=".1 .1 .1" pos="0 0 {HIDDEN_Z}" material="wall"/>'
                      for i in range(MAX_WALLS))
    things = "\n".join(f'<geom name="thing{i}" type="sphere" size=".2" pos="0 0 {HIDDEN_Z}" rgba="1 1 1 1"/>'
                       for i in range(MAX_THINGS))
    camera = f'xyaxes="0 -1 0 0 0 1" fovy="{style.fovy}"'
    return f"""<mujoco model="rooms-{style.name}">
  <statistic extent="10" center="0 0 1"/>
  <visual>
    <global offwidth="{max(width, 64)}" offheight="{max(height, 64)}"/>
    <quality shadowsize="0"/>
    <headlight ambient="{style.ambient} {style.ambient} {style.ambient}" diffuse=".3 .3 .3" specular="0 0 0"/>
  </visual>
  <asset>
    <texture name="sky" type="skybox" builtin="flat" rgb1="{_rgb(style.sky_rgb)}" rgb2="{_rgb(style.sky_rgb)}"
             width="32" height="32"/>
    <texture name="floor" type="2d" builtin="{style.floor_builtin}" rgb1="{_rgb(a)}" rgb2="{_rgb(b)}"
             width="256" height="256"/>
    <material name="floor" texture="floor" texrepeat="{style.floor_repeat} {style.floor_repeat}"/>
    <material name="wall" rgba="{_rgb(style.wall_rgb)} 1"/>
  </asset>
  <worldbody>
    <light directional="true" pos="0 0 6" dir="0.3 0.2 -1" diffuse="{_rgb(style.light_rgb)}" castshadow="false"/>
    <geom name="floor" type="plane" size="{style.room_size} {style.room_size} 2" material="floor"/>
    {walls}
    {things}
    <body name="eye" mocap="true"><camera name="eye" {camera}/></body>
    <body name="goal" mocap="true" pos="0 0 -10"><camera name="goal" {camera}/></body>
  </worldbody>
</mujoco>"""


def yaw_pitch_quat(theta: float, pitch: float) -> np.ndarray:
    """Quaternion (w, x, y, z) of heading ``theta`` (radians, counter-clockwise from +x) then ``pitch`` down."""
    cz, sz = math.cos(theta / 2), math.sin(theta / 2)
    cy, sy = math.cos(pitch / 2), math.sin(pitch / 2)
    # q = qz(theta) * qy(pitch)
    return np.array([cz * cy, -sz * sy, cz * sy, sz * cy])


_GEOM_TYPES = {"box": "mjGEOM_BOX", "sphere": "mjGEOM_SPHERE", "cylinder": "mjGEOM_CYLINDER",
               "capsule": "mjGEOM_CAPSULE", "ellipsoid": "mjGEOM_ELLIPSOID"}


def _bounds(shape: str, size: tuple[float, float, float]) -> tuple[float, tuple[float, float, float]]:
    """Bounding-sphere radius and box half-extents of a primitive, which ray casting and culling rely on."""
    a, b, c = size
    half = {"box": (a, b, c), "sphere": (a, a, a), "cylinder": (a, a, b), "capsule": (a, a, a + b),
            "ellipsoid": (a, b, c)}[shape]
    return float(np.linalg.norm(half)), half


class World:
    """A domain's compiled model, its data and ids; ``apply`` poses the geom pools for a layout."""

    def __init__(self, style: DomainStyle, height: int, width: int) -> None:
        mj = import_mujoco()
        self.mj, self.style = mj, style
        self.model = mj.MjModel.from_xml_string(domain_xml(style, height, width))
        self.data = mj.MjData(self.model)
        name = lambda kind, n: mj.mj_name2id(self.model, kind, n)  # noqa: E731
        self.wall_ids = [name(mj.mjtObj.mjOBJ_GEOM, f"wall{i}") for i in range(MAX_WALLS)]
        self.thing_ids = [name(mj.mjtObj.mjOBJ_GEOM, f"thing{i}") for i in range(MAX_THINGS)]
        self.eye_cam = name(mj.mjtObj.mjOBJ_CAMERA, "eye")
        self.goal_cam = name(mj.mjtObj.mjOBJ_CAMERA, "goal")
        self.eye_mocap = self.model.body_mocapid[name(mj.mjtObj.mjOBJ_BODY, "eye")]
        self.goal_mocap = self.model.body_mocapid[name(mj.mjtObj.mjOBJ_BODY, "goal")]
        self._geomid = np.zeros(1, np.int32)

    def _place(self, gid: int, shape: str, size: tuple[float, float, float], pos: tuple[float, float, float],
               quat: np.ndarray | None = None) -> None:
        m = self.model
        m.geom_type[gid] = getattr(self.mj.mjtGeom, _GEOM_TYPES[shape])
        m.geom_size[gid] = size
        m.geom_pos[gid] = pos
        m.geom_quat[gid] = (1, 0, 0, 0) if quat is None else quat
        rbound, half = _bounds(shape, size)
        m.geom_rbound[gid] = rbound
        m.geom_aabb[gid] = (0, 0, 0, *half)

    def apply(self, layout: Layout, spin: np.ndarray) -> None:
        """Pose the walls and objects of ``layout`` (``spin``: one yaw angle per object); hide unused geoms."""
        wh = self.style.wall_height
        for k, gid in enumerate(self.wall_ids):
            if k < len(layout.walls):
                w = layout.walls[k]
                self._place(gid, "box", ((w.x1 - w.x0) / 2, (w.y1 - w.y0) / 2, wh / 2),
                            ((w.x0 + w.x1) / 2, (w.y0 + w.y1) / 2, wh / 2))
            else:
                self._place(gid, "box", (0.1, 0.1, 0.1), (0, 0, HIDDEN_Z))
        for k, gid in enumerate(self.thing_ids):
            if k < len(layout.things):
                t = layout.things[k]
                size, z = t.geom()
                self._place(gid, t.shape, size, (t.x, t.y, z), yaw_pitch_quat(float(spin[k]), 0.0))
                self.model.geom_rgba[gid] = (*t.rgb, 1.0)
            else:
                self._place(gid, "sphere", (0.1, 0.1, 0.1), (0, 0, HIDDEN_Z))
        self._update()

    def _update(self) -> None:
        self.mj.mj_kinematics(self.model, self.data)
        self.mj.mj_camlight(self.model, self.data)  # camera poses are not part of kinematics

    def set_camera(self, which: str, pos: tuple[float, float, float], theta: float, pitch: float) -> None:
        """Move the ``eye`` or ``goal`` camera body to ``pos`` with heading ``theta`` and ``pitch`` (radians)."""
        idx = self.eye_mocap if which == "eye" else self.goal_mocap
        self.data.mocap_pos[idx] = pos
        self.data.mocap_quat[idx] = yaw_pitch_quat(theta, pitch)
        self._update()

    def first_hit(self, start: tuple[float, float, float], end: tuple[float, float, float]) -> int:
        """Geom id of the first surface on the segment start→end (-1 if none)."""
        vec = np.subtract(end, start, dtype=np.float64)
        dist = self.mj.mj_ray(self.model, self.data, np.asarray(start, np.float64), vec, None, 1, -1,
                              self._geomid)
        return int(self._geomid[0]) if 0 <= dist <= 1.0 + 1e-9 else -1
