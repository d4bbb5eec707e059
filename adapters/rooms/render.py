"""Headless MuJoCo rendering for Rooms: GL backend selection, one pass for colour + metric depth, segmentation.

MuJoCo reads ``MUJOCO_GL`` when it is first imported, so ``import_mujoco()`` picks the backend before that: EGL
when Mesa's EGL is installed, else OSMesa, else a one-line error naming the Debian packages to install.
"""

from __future__ import annotations

import ctypes.util
import os
from collections.abc import Hashable
from typing import Any

import numpy as np

from harness.errors import BackendUnavailable, CrossviewError

EGL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri"
OSMESA_PACKAGES = "libosmesa6"
_mujoco: Any = None
_current: Any = None  # the SceneRenderer whose GL context is current in this process
_gl_pid: int | None = None  # the process that opened a GL context (inherited by forked children)


def gl_inherited() -> bool:
    """Whether this process was forked from one that had opened a GL context (rendering here would hang)."""
    return _gl_pid is not None and _gl_pid != os.getpid()


def _opened_gl() -> None:
    global _gl_pid
    if _gl_pid is None or gl_inherited():
        _gl_pid = os.getpid()


def pick_gl_backend() -> str:
    """The MuJoCo GL backend to use here: the user's MUJOCO_GL if set, else egl, else osmesa."""
    chosen = os.environ.get("MUJOCO_GL", "").strip().lower()
    if chosen:
        return chosen
    if ctypes.util.find_library("EGL"):
        return "egl"
    if ctypes.util.find_library("OSMesa"):
        return "osmesa"
    raise BackendUnavailable(
        f"no headless OpenGL found for MuJoCo: install Debian packages {EGL_PACKAGES} (or {OSMESA_PACKAGES})")


def import_mujoco() -> Any:
    """Import mujoco with a working headless GL backend selected; one-line error when none is usable."""
    global _mujoco
    if _mujoco is None:
        if "MUJOCO_GL" not in os.environ:
            os.environ["MUJOCO_GL"] = pick_gl_backend()
        try:
            import mujoco
        except ImportError as exc:
            raise BackendUnavailable(f"mujoco is not installed ({exc}): pip install mujoco") from None
        except Exception as exc:  # PyOpenGL fails at import when the chosen GL library is missing
            raise BackendUnavailable(_gl_failure(exc)) from None
        _mujoco = mujoco
    return _mujoco


def probe_context() -> None:
    """Open and free a tiny GL context: BackendUnavailable (one line, naming packages) if that fails."""
    mj = import_mujoco()
    try:
        ctx = mj.GLContext(16, 16)
        ctx.make_current()
        ctx.free()
        _opened_gl()
    except Exception as exc:  # the GL stack raises many types; all mean the same to the user
        raise BackendUnavailable(_gl_failure(exc)) from None


def _gl_failure(exc: Exception) -> str:
    backend = os.environ.get("MUJOCO_GL", "")
    fix = (f"install Debian package {OSMESA_PACKAGES}, or unset MUJOCO_GL to use EGL ({EGL_PACKAGES})"
           if backend == "osmesa" else
           f"install Debian packages {EGL_PACKAGES}, or {OSMESA_PACKAGES} and set MUJOCO_GL=osmesa")
    return f"MuJoCo could not open a headless {backend or 'GL'} context ({type(exc).__name__}: {exc}); {fix}"


class SceneRenderer:
    """Offscreen renderer bound to one model: colour + metric depth in one pass, and target masks."""

    def __init__(self, model: Any, height: int, width: int) -> None:
        mj = import_mujoco()
        self._mj, self._model = mj, model
        self.height, self.width = height, width
        if gl_inherited():
            raise CrossviewError("this process was forked after its parent rendered: build Rooms through "
                                 "RoomsAdapter (it runs in a fresh process then), or use the spawn start method")
        try:
            self._gl = mj.GLContext(width, height)
            self._gl.make_current()
        except Exception as exc:  # the GL stack raises many types; all mean the same to the user
            raise BackendUnavailable(_gl_failure(exc)) from None
        _opened_gl()
        self._pid = os.getpid()
        global _current
        _current = self
        self._con = mj.MjrContext(model, mj.mjtFontScale.mjFONTSCALE_100.value)
        mj.mjr_setBuffer(mj.mjtFramebuffer.mjFB_OFFSCREEN.value, self._con)
        self._con.readDepthMap = mj.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scene = mj.MjvScene(model, maxgeom=256)
        self._option = mj.MjvOption()
        self._perturb = mj.MjvPerturb()
        self._camera = mj.MjvCamera()
        self._camera.type = mj.mjtCamera.mjCAMERA_FIXED
        self._rect = mj.MjrRect(0, 0, width, height)
        self._rgb = np.empty((height, width, 3), np.uint8)
        self._zbuf = np.empty((height, width), np.float32)
        # Reverse-Z perspective constants (as MuJoCo's own Renderer uses) to turn the depth buffer into metres.
        near = np.float32(model.vis.map.znear * model.stat.extent)
        far = np.float32(model.vis.map.zfar * model.stat.extent)
        c = -(far + near) / (far - near)
        d = -(np.float32(2) * far * near) / (far - near)
        self._c, self._d = np.float64(-0.5 * c - 0.5), np.float64(-0.5 * d)

    def _draw(self, data: Any, camera_id: int, model: Any = None) -> None:
        global _current
        if self._pid != os.getpid():
            raise CrossviewError("a Rooms renderer cannot be used in a process forked from the one that made it: "
                                 "create the adapter in the process that steps it")
        if _current is not self:  # several renderers share a process (slots, domains): switch contexts
            self._gl.make_current()
            _current = self
        mj = self._mj
        self._camera.fixedcamid = camera_id
        mj.mjv_updateScene(self._model if model is None else model, data, self._option, self._perturb, self._camera,
                           mj.mjtCatBit.mjCAT_ALL.value, self._scene)
        mj.mjr_render(self._rect, self._scene, self._con)

    def rgbd(self, data: Any, camera_id: int, depth: bool = True,
             model: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Colour (uint8 H×W×3) and metric depth (float32 H×W, or None) from one render of ``camera_id``
        (of ``model``, a copy with this renderer's assets, when given)."""
        self._draw(data, camera_id, model)
        self._mj.mjr_readPixels(self._rgb, self._zbuf if depth else None, self._rect, self._con)
        rgb = np.flipud(self._rgb).copy()
        if not depth:
            return rgb, None
        metres = (self._d / (np.flipud(self._zbuf).astype(np.float64) + self._c)).astype(np.float32)
        return rgb, metres

    def segment(self, data: Any, camera_id: int, model: Any = None) -> np.ndarray:
        """Geom id of the nearest surface at each pixel (int32 H×W, -1 where nothing is drawn)."""
        mj, scene = self._mj, self._scene
        flags = scene.flags.copy()
        scene.flags[mj.mjtRndFlag.mjRND_SEGMENT] = True
        scene.flags[mj.mjtRndFlag.mjRND_IDCOLOR] = True
        try:
            self._draw(data, camera_id, model)
            self._mj.mjr_readPixels(self._rgb, None, self._rect, self._con)
        finally:
            np.copyto(scene.flags, flags)
        img = np.flipud(self._rgb).astype(np.int64)
        seg = img[..., 0] | (img[..., 1] << 8) | (img[..., 2] << 16)  # segid + 1; 0 is background
        lookup = np.full(scene.ngeom + 1, -1, np.int32)
        geom_type = int(mj.mjtObj.mjOBJ_GEOM)
        for g in scene.geoms[: scene.ngeom]:
            if g.objtype == geom_type and 0 <= g.segid < scene.ngeom:
                lookup[g.segid + 1] = g.objid
        return lookup[np.clip(seg, 0, scene.ngeom)]

    def geom_mask(self, data: Any, camera_id: int, geom_id: int, model: Any = None) -> np.ndarray:
        """Exact bool H×W mask of the pixels where geom ``geom_id`` is the nearest surface."""
        return self.segment(data, camera_id, model) == geom_id

    def close(self) -> None:
        """Free the GL resources; safe to call twice."""
        global _current
        if getattr(self, "_con", None) is not None:
            if self._pid != os.getpid():  # inherited through fork: the parent's driver state is not ours to free
                self._con = None
                return
            self._gl.make_current()
            _current = None
            self._con.free()
            self._con = None
            self._gl.free()


class BoundRenderer:
    """A process's shared ``SceneRenderer`` drawing one model copy: every Rooms slot of one look and image size in a
    process renders through one GL context (opening one costs ~0.2 s of CPU; slots differ only in their model's
    poses and colours, which each draw reads from the model it is given)."""

    def __init__(self, renderer: SceneRenderer, model: Any, key: Hashable) -> None:
        self.renderer, self.model, self._key = renderer, model, key

    def rgbd(self, data: Any, camera_id: int, depth: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        return self.renderer.rgbd(data, camera_id, depth, self.model)

    def segment(self, data: Any, camera_id: int) -> np.ndarray:
        return self.renderer.segment(data, camera_id, self.model)

    def geom_mask(self, data: Any, camera_id: int, geom_id: int) -> np.ndarray:
        return self.renderer.geom_mask(data, camera_id, geom_id, self.model)

    def close(self) -> None:
        """Let go of the shared renderer; the last user frees its GL context. Safe to call twice."""
        if self.model is None:
            return
        self.model = None
        held = _shared.get(self._key)
        if held is not None and held[0] is self.renderer:
            held[1] -= 1
            if held[1] <= 0:
                del _shared[self._key]
                self.renderer.close()


_shared: dict[Hashable, list] = {}  # key -> [renderer, users]


def shared_renderer(key: Hashable, model: Any, height: int, width: int) -> BoundRenderer:
    """The renderer of ``key`` (models with the same assets and image size) in this process, made for ``model`` if
    there is none yet, bound to ``model``."""
    held = _shared.get(key)
    if held is None or held[0]._pid != os.getpid():
        held = _shared[key] = [SceneRenderer(model, height, width), 0]
    held[1] += 1
    return BoundRenderer(held[0], model, key)
