"""Frames for probes, sampled from adapters through the Adapter protocol, deterministically from seeds.

A frame is one observation (colour + metric depth) with what the generators may use about it: the camera's
intrinsics and, where the adapter can say, the objects in view (a mask each, and their privileged world
centres for checking). Frame ``i`` of (adapter, domain) always comes from the same task seed and the same camera
moves: ``reset`` with a seed derived from (probe seed, adapter, domain, i), then a few ``step`` calls with actions
drawn from a generator seeded the same way.

Two facts the protocol does not carry are read adapter-specifically, in ``_SCENES`` only: Rooms' intrinsics (its
domain's field of view) and instance masks (its renderer's segmentation pass), and RealSense's intrinsics (the
``provenance`` its reset reports, in the recording's resolution).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adapters.base import masked_step, step_info
from harness.errors import CrossviewError
from harness.probe.geometry import Intrinsics
from harness.spec import Action, Observation, StepInfo, TaskSpec


@dataclass(frozen=True)
class SceneObject:
    """One object in view: its name, its visible pixels, its centre in the world frame (privileged, for checks)."""

    name: str
    mask: np.ndarray  # bool H x W
    centre: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Frame:
    """One RGB-D observation to generate probes from, with its provenance."""

    adapter: str
    domain: str
    role: str  # "source" or "zeroshot", as in sweeps
    index: int
    seed: int
    rgb: np.ndarray  # uint8 H x W x 3
    depth: np.ndarray | None  # float32 H x W metres (planar); None: only the RGB tasks apply
    intrinsics: Intrinsics | None
    objects: tuple[SceneObject, ...] = ()
    pose: tuple[float, float, float, float, float] | None = None  # camera (x, y, z, yaw, pitch), privileged
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def world(self) -> str:
        return f"{self.adapter}/{self.domain}"


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from any parts (stable across processes and machines)."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:4], "big") >> 1


def read_info(info: StepInfo) -> tuple[tuple[float, ...] | None, Mapping[str, Any]]:
    """(camera pose from the privileged facts, provenance) of an adapter's StepInfo."""
    pose = tuple(info.privileged.pose) if info.privileged is not None else None
    return pose, dict(info.provenance or {})


# ------------------------------------------------------------------ adapter-specific facts
def _rooms_scene(adapter: Any, task: TaskSpec, obs: Observation, provenance: Mapping[str, Any]
                 ) -> tuple[Intrinsics, tuple[SceneObject, ...]]:
    # Rooms exposes no intrinsics or segmentation through the protocol; its renderer has both (render.py segment).
    from adapters.rooms.domains import get_domain

    h, w = obs.rgb.shape[:2]
    world, renderer = adapter._world_pair
    seg = renderer.segment(world.data, world.eye_cam)
    objects = tuple(SceneObject(t.name, seg == world.thing_ids[i], (t.x, t.y, t.centre_z))
                    for i, t in enumerate(adapter._layout.things))
    return Intrinsics.from_fovy(get_domain(task.domain).fovy, h, w), objects


def _realsense_scene(adapter: Any, task: TaskSpec, obs: Observation, provenance: Mapping[str, Any]
                     ) -> tuple[Intrinsics | None, tuple[SceneObject, ...]]:
    k = provenance.get("intrinsics") or {}
    if not {"fx", "fy", "ppx", "ppy", "width", "height"} <= set(k):
        return None, ()
    full = Intrinsics(float(k["fx"]), float(k["fy"]), float(k["ppx"]), float(k["ppy"]))
    return full.scaled((int(k["height"]), int(k["width"])), obs.rgb.shape[:2]), ()


def _generic_scene(adapter: Any, task: TaskSpec, obs: Observation, provenance: Mapping[str, Any]
                   ) -> tuple[Intrinsics | None, tuple[SceneObject, ...]]:
    k = provenance.get("intrinsics") or {}
    if {"fx", "fy", "ppx", "ppy"} <= set(k):
        return Intrinsics(float(k["fx"]), float(k["fy"]), float(k["ppx"]), float(k["ppy"])), ()
    return None, ()


SceneReader = Callable[[Any, TaskSpec, Observation, Mapping[str, Any]], tuple[Intrinsics | None,
                                                                               tuple[SceneObject, ...]]]
_SCENES: dict[str, SceneReader] = {"rooms": _rooms_scene, "realsense": _realsense_scene}


# ------------------------------------------------------------------ sampling
@dataclass(frozen=True)
class Look:
    """Camera moves after reset: up to ``steps`` steps, each turning by up to ±``yaw``° and ±``pitch``°."""

    steps: int = 1
    yaw: float = 30.0
    pitch: float = 15.0


def _pick_task(adapter: Any, domain: str, suite: str, rng: np.random.Generator, seed: int) -> TaskSpec:
    tasks = [t for t in adapter.tasks(suite) if t.domain == domain]
    if not tasks:
        raise CrossviewError(f"adapter {adapter.info.name!r} has no {suite} task in domain {domain!r}: "
                             f"its domains are {', '.join(adapter.info.domains) or 'none'}")
    return dataclasses.replace(tasks[int(rng.integers(len(tasks)))], seed=seed)


def sample_frame(adapter: Any, domain: str, role: str, index: int, probe_seed: int, look: Look,
                 suite: str = "train") -> Frame:
    """Frame ``index`` of ``adapter`` in ``domain``: the same pixels for the same arguments (seedable adapters)."""
    name = adapter.info.name
    seed = derive_seed(probe_seed, name, domain, index)
    rng = np.random.default_rng(seed)
    task = _pick_task(adapter, domain, suite, rng, seed)
    obs, _goal, info = adapter.reset(task)
    pose, provenance = read_info(step_info(info, name))
    for _ in range(int(rng.integers(0, look.steps + 1))):
        action = Action(camera=(float(rng.uniform(-look.pitch, look.pitch)), float(rng.uniform(-look.yaw, look.yaw))))
        obs, done, _success, info = masked_step(adapter, action)
        pose = read_info(info)[0] or pose
        if done:
            break
    intrinsics, objects = _SCENES.get(name, _generic_scene)(adapter, task, obs, provenance)
    return Frame(name, domain, role, index, seed, obs.rgb, obs.depth, intrinsics, objects, pose,
                 {"task": task.to_dict(), **({"intrinsics": provenance["intrinsics"]}
                                            if "intrinsics" in provenance else {})})

