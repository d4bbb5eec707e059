"""Shared types of crossview: what adapters, policies, the runner and the store exchange.

All are frozen dataclasses over numpy arrays, so a value can be handed between components without defensive copies.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import CrossviewError


class Interaction(enum.IntEnum):
    """What the agent must do with the target; values are ROCKET's interaction ids."""

    NONE = -1
    HUNT = 0
    MINE = 2
    INTERACT = 3
    CRAFT = 4
    SWITCH = 5
    APPROACH = 6

    @classmethod
    def parse(cls, value: str | int | Interaction) -> Interaction:
        """Accept a name (any case) or a ROCKET id; raise a one-line error naming the allowed values."""
        if isinstance(value, Interaction):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        elif isinstance(value, (int, np.integer)):
            try:
                return cls(int(value))
            except ValueError:
                pass
        allowed = ", ".join(m.name.lower() for m in cls if m is not cls.NONE)
        raise CrossviewError(f"unknown interaction {value!r}: use one of {allowed}")


class Status(str, enum.Enum):
    """How an episode ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    ENV_ERROR = "env_error"
    POLICY_ERROR = "policy_error"
    ABORTED = "aborted"  # cut short (an emergency stop, an interrupted sweep): re-run when the sweep resumes
    UNJUDGED = "unjudged"  # ran to its end, but nobody could judge it (success None): counted, never scored


SPLITS = ("train", "heldout")
DIFFICULTIES = ("easy", "hard")


@dataclass(frozen=True)
class Observation:
    """What a policy sees at one step: first-person colour, optional metric depth, time since reset."""

    rgb: np.ndarray  # uint8 H x W x 3
    depth: np.ndarray | None = None  # float32 H x W, metres
    t: float = 0.0


@dataclass(frozen=True)
class CrossViewGoal:
    """The task as ROCKET receives it: a view of the scene from elsewhere, the target's mask in it, the interaction."""

    image: np.ndarray  # uint8 H x W x 3
    mask: np.ndarray  # bool H x W
    interaction: Interaction

    @classmethod
    def null(cls, height: int, width: int) -> CrossViewGoal:
        """The null goal used for classifier-free guidance: zero image, empty mask, interaction NONE."""
        return cls(np.zeros((height, width, 3), np.uint8), np.zeros((height, width), bool), Interaction.NONE)


@dataclass(frozen=True)
class PrivilegedFacts:
    """Simulator facts a scripted expert (the oracle) needs; never shown to a learning policy.

    Units and frame, whatever the backend's own: metres, one right-handed world frame with x and y on the ground
    and z up. ``yaw`` is in degrees, 0 facing +x, positive turning right (clockwise seen from above, so a point at
    bearing ``-degrees(atan2(dy, dx))`` is straight ahead); ``pitch`` is in degrees, positive looking down — the
    same senses as ``Action.camera``. An adapter that publishes these declares ``AdapterInfo.privileged_facts``.
    """

    pose: tuple[float, float, float, float, float]  # agent eye x, y, z (m), yaw, pitch (deg)
    target_pos: tuple[float, float, float]  # the point to reach or act on (m)
    waypoint: tuple[float, float]  # next ground point (x, y) of a walkable path to the target (m)
    distance: float  # from the agent to the target's surface (m); success is judged against it
    success_radius: float  # metres
    target_centred: bool  # the target is in the middle of the view and unoccluded (acting on it would hit it)
    target_visible: bool = True

    def __post_init__(self) -> None:
        for name, size in (("pose", 5), ("target_pos", 3), ("waypoint", 2)):
            value = getattr(self, name)
            if len(value) != size or not all(np.isfinite(float(v)) for v in value):
                raise CrossviewError(f"privileged facts: {name} must be {size} finite numbers, got {value!r}")
            object.__setattr__(self, name, tuple(float(v) for v in value))
        for name in ("distance", "success_radius"):
            value = float(getattr(self, name))
            if not np.isfinite(value) or value < 0:
                raise CrossviewError(f"privileged facts: {name} must be a finite number >= 0 metres, got {value!r}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "target_centred", bool(self.target_centred))
        object.__setattr__(self, "target_visible", bool(self.target_visible))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/msgpack-able values (tuples as lists)."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrivilegedFacts:
        """The inverse of ``to_dict``; one-line CrossviewError for missing, unknown or malformed fields."""
        if not isinstance(data, Mapping):
            raise CrossviewError("privileged facts must be a map")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise CrossviewError(f"privileged facts: unknown field(s) {sorted(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise CrossviewError(f"privileged facts: {exc}") from None


@dataclass(frozen=True)
class StepInfo:
    """What an adapter reports beside each observation, as named fields the harness reads.

    ``distance`` (metres to the target, stored as the episode's final distance), ``target`` (the target's name),
    ``episode_return`` (the backend's own reward sum, where it has one), ``score`` (partial credit in [0, 1] where a
    task defines it, e.g. UnrealZoo's rescue: 0.5 for picking up plus 0.5 for delivering) and ``provenance``
    (JSON-serialisable facts about the episode, such as camera intrinsics or level versions, stored with it) go to
    the store. ``privileged`` goes only to privileged policies. ``extra`` is free-form and read by nobody in the
    harness (debugging, plugin-specific facts).
    """

    target: str = ""
    distance: float | None = None
    episode_return: float | None = None
    score: float | None = None
    privileged: PrivilegedFacts | None = None
    provenance: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.privileged is not None and not isinstance(self.privileged, PrivilegedFacts):
            raise CrossviewError(f"StepInfo.privileged must be PrivilegedFacts or None, got "
                                 f"{type(self.privileged).__name__}")
        for name in ("distance", "episode_return", "score"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise CrossviewError(f"StepInfo.score must lie in [0, 1], got {self.score}")


BUTTONS = ("forward", "back", "left", "right", "jump", "sneak", "sprint", "attack", "use")
CAMERA_FIELDS = ("pitch", "yaw")
ACTION_FIELDS = BUTTONS + CAMERA_FIELDS


@dataclass(frozen=True)
class Action:
    """The common action space, Minecraft's: nine buttons and a camera turn in degrees.

    ``camera = (pitch, yaw)``; positive pitch looks down and positive yaw turns right, as in Minecraft.
    """

    forward: bool = False
    back: bool = False
    left: bool = False
    right: bool = False
    jump: bool = False
    sneak: bool = False
    sprint: bool = False
    attack: bool = False
    use: bool = False
    camera: tuple[float, float] = (0.0, 0.0)

    @property
    def pitch(self) -> float:
        return float(self.camera[0])

    @property
    def yaw(self) -> float:
        return float(self.camera[1])

    def without(self, fields: tuple[str, ...] | frozenset[str]) -> Action:
        """This action with the named fields (buttons, ``pitch`` or ``yaw``) set to their neutral value."""
        if not fields or not any(getattr(self, f, False) for f in fields):  # nothing to neutralise (common case)
            return self
        changes: dict[str, Any] = {f: False for f in fields if f in BUTTONS}
        if "pitch" in fields or "yaw" in fields:
            changes["camera"] = (0.0 if "pitch" in fields else self.pitch, 0.0 if "yaw" in fields else self.yaw)
        return dataclasses.replace(self, **changes)

    def buttons_array(self) -> np.ndarray:
        """The buttons as uint8[9] in ``BUTTONS`` order."""
        return np.array([getattr(self, b) for b in BUTTONS], np.uint8)

    @classmethod
    def from_arrays(cls, buttons: Any, camera: Any) -> Action:
        """Build from a 9-vector of buttons (``BUTTONS`` order) and a (pitch, yaw) pair."""
        b = np.asarray(buttons).reshape(-1)
        c = np.asarray(camera, np.float64).reshape(-1)
        if b.shape != (len(BUTTONS),) or c.shape != (2,):
            raise CrossviewError(
                f"action arrays must be buttons[{len(BUTTONS)}] and camera[2], got {b.shape}, {c.shape}")
        return cls(*(bool(x) for x in b), camera=(float(c[0]), float(c[1])))

    def to_dict(self) -> dict[str, Any]:
        return {**{b: bool(getattr(self, b)) for b in BUTTONS}, "camera": [self.pitch, self.yaw]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Action:
        unknown = set(data) - set(BUTTONS) - {"camera"}
        if unknown:
            raise CrossviewError(f"unknown action field(s) {sorted(unknown)}: allowed are {', '.join(ACTION_FIELDS)}")
        cam = data.get("camera", (0.0, 0.0))
        return cls(**{b: bool(data.get(b, False)) for b in BUTTONS}, camera=(float(cam[0]), float(cam[1])))


NOOP = Action()


@dataclass(frozen=True)
class TaskSpec:
    """Everything needed to replay one episode exactly (with the adapter's options)."""

    adapter: str
    domain: str
    seed: int
    interaction: Interaction
    target: str = ""
    difficulty: str = "easy"
    split: str = "train"
    max_steps: int = 200
    success_radius: float = 1.0
    params: Mapping[str, Any] = field(default_factory=dict)  # adapter-specific, JSON-serializable

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise CrossviewError(f"task split {self.split!r} is not one of {', '.join(SPLITS)}")
        if self.max_steps < 1:
            raise CrossviewError(f"task max_steps must be >= 1, got {self.max_steps}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["interaction"] = self.interaction.name.lower()
        d["params"] = dict(self.params)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSpec:
        d = dict(data)
        d["interaction"] = Interaction.parse(d["interaction"])
        return cls(**d)


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished episode, as the store keeps it."""

    episode_id: str
    policy: str
    checkpoint_sha256: str
    checkpoint_step: int | None
    adapter: str
    domain: str
    interaction: str
    target: str
    difficulty: str
    split: str
    role: str  # "source" or "zeroshot": whether the policy was trained in this world
    seed: int
    index: int
    status: Status
    success: bool | None
    steps: int
    episode_return: float
    final_distance: float | None
    wall_s: float
    video: str | None = None
    error: str | None = None
    attempts: int = 1
    provenance: str | None = None  # JSON the adapter gives per episode (camera intrinsics, level version, ...)
    score: float | None = None  # partial credit in [0, 1] where the task defines it (StepInfo.score)

    def to_row(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)
        row["status"] = self.status.value
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EpisodeRecord:
        d = {f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in row}  # older runs lack new columns
        d["status"] = Status(d["status"])
        if d["success"] is not None:
            d["success"] = bool(d["success"])
        return cls(**d)
