"""Arrays through shared memory, control through msgpack: the shared-inference transport on one machine.

A worker owns one ``multiprocessing.shared_memory`` segment and writes each request's arrays into it, one after
another (the only copy of an image); the msgpack message carries ``{"__shm__": True, "offset", "dtype", "shape"}``
in their place. The policy process maps the same segment and reads the arrays in place, after checking dtype, shape
and bounds. Nothing is ever pickled: messages are msgpack, arrays raw bytes (``harness.wire``'s rules).
"""

from __future__ import annotations

import contextlib
from multiprocessing import shared_memory
from typing import Any

import msgpack
import numpy as np

from harness.wire import ALLOWED_DTYPES, MAX_DIMS, WireError

ALIGN = 64
MIN_SEGMENT = 1 << 20


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class ShmWriter:
    """The worker's segment; grows (a new segment, a new name) when a request does not fit."""

    def __init__(self) -> None:
        self.shm: shared_memory.SharedMemory | None = None
        self._used = 0

    @property
    def name(self) -> str:
        return self.shm.name if self.shm is not None else ""

    def pack(self, message: dict[str, Any]) -> bytes:
        """``message`` as msgpack, its numpy arrays written to the segment (``"shm"`` names the segment)."""
        arrays: list[np.ndarray] = []

        def collect(obj: Any) -> Any:
            if isinstance(obj, np.ndarray):
                arrays.append(np.ascontiguousarray(obj))
                return {"__shm__": True, "k": len(arrays) - 1}
            return _plain(obj)

        msgpack.packb(message, default=collect, use_bin_type=True)  # sizes first, so the segment fits at once
        self._reserve(sum(_aligned(a.nbytes) for a in arrays))
        offsets, at = [], 0
        for a in arrays:
            np.ndarray(a.shape, a.dtype, buffer=self.shm.buf, offset=at)[...] = a
            offsets.append(at)
            at += _aligned(a.nbytes)
        k = iter(range(len(arrays)))

        def place(obj: Any) -> Any:
            if isinstance(obj, np.ndarray):
                i = next(k)
                return {"__shm__": True, "offset": offsets[i], "dtype": str(arrays[i].dtype),
                        "shape": list(arrays[i].shape)}
            return _plain(obj)

        return msgpack.packb({**message, "shm": self.name}, default=place, use_bin_type=True)

    def _reserve(self, size: int) -> None:
        if self.shm is not None and self.shm.size >= size:
            return
        self.close()
        self.shm = shared_memory.SharedMemory(create=True, size=max(MIN_SEGMENT, 2 * size))

    def close(self) -> None:
        """Release and remove the segment."""
        if self.shm is not None:
            with contextlib.suppress(Exception):
                self.shm.close()
                self.shm.unlink()
            self.shm = None


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot send {type(obj).__name__} to the policy process")


class ShmReader:
    """The policy process's view of one worker's segment (re-mapped when the worker grows it)."""

    def __init__(self) -> None:
        self.shm: shared_memory.SharedMemory | None = None

    def unpack(self, data: bytes, max_bytes: int) -> dict[str, Any]:
        """A message whose arrays are read-only views into the worker's segment (valid until the next request)."""
        if len(data) > max_bytes:
            raise WireError(f"message of {len(data)} bytes exceeds the limit of {max_bytes}")
        try:
            head = msgpack.unpackb(data, raw=False, strict_map_key=True)
        except Exception as exc:  # msgpack raises several types for corrupt input
            raise WireError(f"not msgpack: {type(exc).__name__}") from None
        if not isinstance(head, dict) or not isinstance(head.get("type"), str):
            raise WireError("a message is a map with a string 'type'")
        name = head.get("shm")
        if isinstance(name, str) and name and (self.shm is None or self.shm.name != name):
            self._attach(name)
        return _walk(head, self._view)

    def _attach(self, name: str) -> None:
        self.close()
        try:
            self.shm = shared_memory.SharedMemory(name=name)
        except (OSError, ValueError) as exc:
            raise WireError(f"shared memory segment {name!r} cannot be opened: {exc}") from None
        # the worker owns the segment and unlinks it. Attaching registers the name again (CPython 3.11
        # Lib/multiprocessing/shared_memory.py:120), but spawned processes share the driver's tracker
        # (popen_spawn_posix.py:40, spawn.py:119), whose record is a set (resource_tracker.py:223,237): nothing to
        # undo here — unregistering would make the worker's unlink fail there (resource_tracker.py:239)

    def _view(self, d: dict) -> np.ndarray:
        dtype, shape, offset = d.get("dtype"), d.get("shape"), d.get("offset")
        if self.shm is None:
            raise WireError("an array refers to shared memory but no segment was named")
        if dtype not in ALLOWED_DTYPES:
            raise WireError(f"array dtype {dtype!r} is not allowed")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMS
                or not all(isinstance(s, int) and 0 <= s < 1 << 16 for s in shape)):
            raise WireError(f"array shape {shape!r} is not allowed")
        size = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if not isinstance(offset, int) or offset < 0 or offset + size > self.shm.size:
            raise WireError("array lies outside the shared memory segment")
        view = np.ndarray(shape, dtype, buffer=self.shm.buf, offset=offset)
        view.flags.writeable = False
        return view

    def close(self) -> None:
        """Unmap the segment (the worker removes it)."""
        if self.shm is not None:
            with contextlib.suppress(Exception):
                self.shm.close()
            self.shm = None


def _walk(obj: Any, view: Any) -> Any:
    if isinstance(obj, dict):
        if obj.get("__shm__") is True:
            return view(obj)
        return {k: _walk(v, view) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, view) for v in obj]
    return obj


def pack_plain(message: dict[str, Any]) -> bytes:
    """A message without arrays (replies, control) as msgpack."""
    return msgpack.packb(message, default=_plain, use_bin_type=True)


def unpack_plain(data: bytes, max_bytes: int) -> dict[str, Any]:
    """A reply or control message; WireError unless it is a map with a string ``type``."""
    if len(data) > max_bytes:
        raise WireError(f"message of {len(data)} bytes exceeds the limit of {max_bytes}")
    try:
        msg = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:
        raise WireError(f"not msgpack: {type(exc).__name__}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise WireError("a message is a map with a string 'type'")
    return msg
