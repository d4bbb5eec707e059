"""The policy server's wire format: msgpack, with numpy arrays as raw bytes + dtype + shape — never pickle.

An array travels as ``{"__nd__": True, "dtype": "uint8", "shape": [224, 224, 3], "data": <bin>}``; only plain
numeric and boolean dtypes are accepted, and the byte count must match the shape exactly.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import msgpack
import numpy as np

from harness.errors import CrossviewError
from harness.spec import (
    Action,
    CrossViewGoal,
    Goal,
    Interaction,
    LanguageGoal,
    Observation,
    PrivilegedFacts,
    TargetAttributes,
    VideoGoal,
)

ALLOWED_DTYPES = {"uint8", "uint16", "int32", "int64", "float16", "float32", "float64", "bool"}
MAX_DIMS = 4


class WireError(ValueError):
    """A message that does not follow the protocol."""


def _encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {"__nd__": True, "dtype": str(obj.dtype), "shape": list(obj.shape),
                "data": np.ascontiguousarray(obj).tobytes()}
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot send {type(obj).__name__} over the wire")


def _decode(obj: dict) -> Any:
    if obj.get("__nd__") is not True:
        return obj
    dtype, shape, data = obj.get("dtype"), obj.get("shape"), obj.get("data")
    if dtype not in ALLOWED_DTYPES:
        raise WireError(f"array dtype {dtype!r} is not allowed")
    if (not isinstance(shape, list) or len(shape) > MAX_DIMS
            or not all(isinstance(s, int) and 0 <= s < 1 << 16 for s in shape)):
        raise WireError(f"array shape {shape!r} is not allowed")
    if not isinstance(data, bytes) or len(data) != int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize:
        raise WireError("array data does not match its dtype and shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def pack(message: dict[str, Any]) -> bytes:
    """A message as msgpack bytes."""
    return msgpack.packb(message, default=_encode, use_bin_type=True)


def unpack(data: bytes, max_bytes: int) -> dict[str, Any]:
    """Bytes as a message; WireError for anything that is not a well-formed mapping with a string ``type``."""
    if not isinstance(data, (bytes, bytearray)):
        raise WireError("messages are binary msgpack frames")
    if len(data) > max_bytes:
        raise WireError(f"message of {len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        message = msgpack.unpackb(data, object_hook=_decode, raw=False, strict_map_key=True)
    except WireError:
        raise
    except Exception as exc:  # msgpack raises several types for corrupt input
        raise WireError(f"not msgpack: {type(exc).__name__}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise WireError("a message is a map with a string 'type'")
    return message


def observation_to_wire(o: Observation) -> dict[str, Any]:
    return {"rgb": o.rgb, "depth": o.depth, "t": float(o.t)}


def observation_from_wire(d: Any) -> Observation:
    if not isinstance(d, dict) or not isinstance(d.get("rgb"), np.ndarray):
        raise WireError("an observation needs an 'rgb' array")
    rgb = d["rgb"]
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise WireError(f"observation rgb must be uint8 HxWx3, got {rgb.dtype} {rgb.shape}")
    depth = d.get("depth")
    if depth is not None and (not isinstance(depth, np.ndarray) or depth.shape != rgb.shape[:2]):
        raise WireError("observation depth must be None or an HxW array")
    return Observation(rgb, depth, float(d.get("t", 0.0)))


def goal_to_wire(g: CrossViewGoal) -> dict[str, Any]:
    return {"image": g.image, "mask": g.mask, "interaction": int(g.interaction)}


def goal_from_wire(d: Any) -> CrossViewGoal:
    if not isinstance(d, dict) or not isinstance(d.get("image"), np.ndarray) or not isinstance(d.get("mask"),
                                                                                               np.ndarray):
        raise WireError("a goal needs 'image' and 'mask' arrays")
    image, mask = d["image"], d["mask"]
    if image.dtype != np.uint8 or image.ndim != 3 or mask.shape != image.shape[:2]:
        raise WireError("goal image must be uint8 HxWx3 and its mask HxW")
    try:
        kind = Interaction(int(d.get("interaction", -1)))
    except (ValueError, TypeError):
        raise WireError(f"unknown interaction id {d.get('interaction')!r}") from None
    return CrossViewGoal(image, mask.astype(bool), kind)


def full_goal_to_wire(g: CrossViewGoal | Goal) -> dict[str, Any]:
    """Any goal (a plain ``CrossViewGoal`` or a ``Goal`` of any modalities) as a typed message of its parts."""
    g = Goal.of(g)
    lang, video = g.language, g.video
    return {"type": "goal", "cross_view": None if g.cross_view is None else goal_to_wire(g.cross_view),
            "language": None if lang is None else {
                "instruction": lang.instruction, "interaction": int(lang.interaction), "phrasing": lang.phrasing,
                "target": None if lang.target is None else {**asdict(lang.target),
                                                            "interaction": int(lang.target.interaction)}},
            "video": None if video is None else {"frames": video.frames, "masks": video.masks,
                                                 "interaction": int(video.interaction), "fps": float(video.fps)}}


def full_goal_from_wire(d: Any, copy: bool = False) -> Goal:
    """The inverse of ``full_goal_to_wire``; ``copy`` takes the arrays out of the buffer they arrived in (shared
    memory, Ray's object store). WireError for anything malformed."""
    if not isinstance(d, dict) or d.get("type") != "goal":
        raise WireError("a goal is a map with type 'goal'")
    own = (lambda a: a.copy()) if copy else (lambda a: a)
    try:
        cv = None if d.get("cross_view") is None else goal_from_wire(d["cross_view"])
        if cv is not None:
            cv = CrossViewGoal(own(cv.image), own(cv.mask), cv.interaction)
        lang = d.get("language")
        if lang is not None:
            target = lang.get("target")
            lang = LanguageGoal(str(lang["instruction"]), Interaction(int(lang["interaction"])),
                                None if target is None else TargetAttributes(
                                    **{**target, "interaction": Interaction(int(target["interaction"]))}),
                                str(lang.get("phrasing", "")))
        video = d.get("video")
        if video is not None:
            frames, masks = video["frames"], video.get("masks")
            if not isinstance(frames, np.ndarray) or not (masks is None or isinstance(masks, np.ndarray)):
                raise WireError("a video goal's frames and masks must be arrays")
            video = VideoGoal(own(frames), Interaction(int(video["interaction"])),
                              None if masks is None else own(masks), float(video.get("fps", 10.0)))
    except WireError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, CrossviewError) as exc:
        raise WireError(f"malformed goal: {exc}") from None
    return Goal(cv, lang, video)


def privileged_to_wire(p: PrivilegedFacts | None) -> dict[str, Any] | None:
    """A slot's privileged facts as a typed message (``{"type": "privileged", ...fields}``), or None."""
    return None if p is None else {"type": "privileged", **p.to_dict()}


def privileged_from_wire(d: Any) -> PrivilegedFacts | None:
    """The inverse of ``privileged_to_wire``; WireError for anything but None or a well-formed facts message."""
    if d is None:
        return None
    if not isinstance(d, dict) or d.get("type") != "privileged":
        raise WireError("privileged facts must be None or a map with type 'privileged'")
    fields = {k: v for k, v in d.items() if k != "type"}
    try:
        return PrivilegedFacts.from_dict(fields)
    except CrossviewError as exc:
        raise WireError(str(exc)) from None


def action_from_wire(d: Any) -> Action:
    if not isinstance(d, dict):
        raise WireError("an action is a map")
    try:
        return Action.from_dict(d)
    except Exception as exc:
        raise WireError(f"bad action: {exc}") from None


def policy_info_to_wire(info: Any) -> dict[str, Any]:
    """A ``PolicyInfo`` as plain msgpack values (the policy server's metadata, the policy process's ``info``)."""
    from dataclasses import asdict

    d = asdict(info)
    d["interactions"] = [int(i) for i in d["interactions"]]
    d["input_size"] = list(d["input_size"]) if d["input_size"] else None
    d["goals"] = [str(getattr(m, "value", m)) for m in d.get("goals", ())]
    return d


def policy_info_from_wire(p: dict[str, Any], prefix: str = "", device: str = "cpu") -> Any:
    """The inverse of ``policy_info_to_wire``: ``prefix`` before the name, ``device`` when none is given."""
    from policies.base import PolicyInfo

    return PolicyInfo(name=f"{prefix}{p.get('name', '?')}",
                      input_size=tuple(p["input_size"]) if p.get("input_size") else None,
                      interactions=tuple(Interaction(i) for i in p.get("interactions", [])),
                      batchable=bool(p.get("batchable", True)), device=str(p.get("device", device)),
                      privileged=bool(p.get("privileged", False)),
                      checkpoint_sha256=str(p.get("checkpoint_sha256", "")), checkpoint_step=p.get("checkpoint_step"),
                      goals=tuple(p.get("goals") or ("cross_view",)))
