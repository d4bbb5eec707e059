"""Registered plugins (adapters and policy kinds) and a truthful probe of whether each can run here.

A probe imports the backend's real client modules (reporting their versions), checks that the requirements of the
distribution declaring a plugin are installed, imports the plugin's class and runs its ``check_available()``
(which raises ``harness.errors.BackendUnavailable`` with one line saying what to install). It never raises: a
broken plugin becomes a row that says what is wrong and which distribution declared it. ``probe_isolated`` runs
it in a fresh interpreter, so a plugin that crashes or hangs on import cannot take ``crossview envs`` down.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from harness.errors import BackendUnavailable
from harness.plugins import import_target

PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class PluginEntry:
    """A registered adapter or policy kind: where its class lives and what its backend needs."""

    name: str
    target: str  # "module:Class"
    install: str = ""  # what to install when the backend is missing
    source: str = "builtin"  # "builtin", "import path", or the distribution that declared it
    requires: tuple[str, ...] = ()  # client modules to import; "a|b" means either
    dist: str | None = None  # the declaring distribution's name (plugins)
    _loader: Callable[[], Any] | None = field(default=None, compare=False, repr=False)

    def load(self) -> Any:
        """Import the class or factory."""
        return self._loader() if self._loader is not None else import_target(self.target)


def import_path_entry(target: str) -> PluginEntry:
    """An unpackaged plugin named by its ``module:Class`` path; the current folder is searched too."""
    def load() -> Any:
        try:
            return import_target(target)
        except ModuleNotFoundError as exc:
            here = os.getcwd()
            if exc.name != target.partition(":")[0].split(".")[0] or here in sys.path:
                raise
            sys.path.append(here)  # console scripts do not search the current folder; spawned workers inherit this
            try:
                return import_target(target)
            except ModuleNotFoundError:
                raise ModuleNotFoundError(f"no module {exc.name!r} here or on sys.path: run from its folder or "
                                          "add that folder to PYTHONPATH") from None

    return PluginEntry(target, target, source="import path", _loader=load)


def from_entry_points(group: str) -> dict[str, PluginEntry]:
    """Every entry point of ``group``, as entries naming their distribution and its version."""
    out: dict[str, PluginEntry] = {}
    for ep in metadata.entry_points(group=group):
        dist = ep.dist.name if ep.dist else None
        source = f"{dist} {ep.dist.version}" if ep.dist else "plugin"
        out.setdefault(ep.name, PluginEntry(ep.name, ep.value, source=source, dist=dist, _loader=ep.load))
    return out


@dataclass(frozen=True)
class Availability:
    """Whether a plugin can run here, why not (one line), and the versions of what it uses."""

    ok: bool
    detail: str
    versions: str = ""


def module_version(module: Any) -> str:
    """A module's version: its ``__version__``, else its distribution's."""
    version = getattr(module, "__version__", None)
    if version is None:
        for dist in metadata.packages_distributions().get(module.__name__.split(".")[0], []):
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
    return str(version or "?")


def _find_first(alternatives: str) -> str | None:
    """The first of ``"a|b"`` that is installed (found without importing it), or None."""
    for name in alternatives.split("|"):
        try:
            if importlib.util.find_spec(name) is not None:
                return name
        except (ImportError, ValueError):
            continue
    return None


def _missing_requirements(dist: str) -> list[str]:
    """The (non-extra) requirements of installed distribution ``dist`` that are not installed."""
    missing = []
    for req in metadata.requires(dist) or []:
        if "extra ==" in req.replace('"', "").replace("'", ""):
            continue
        name = re.split(r"[\s;<>=!~\[(@]", req.strip(), maxsplit=1)[0]
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(req.split(";")[0].strip())
    return missing


def probe(entry: PluginEntry) -> Availability:
    """Whether ``entry`` can run here; never raises.

    Order matters: client modules are first only located (some, like mujoco, must not be imported before the
    adapter has configured them), then the class is loaded and its ``check_available()`` run, and only then are
    the clients really imported, for their versions.
    """
    install = entry.install or (f"reinstall {entry.dist}" if entry.dist else "see the plugin's documentation")

    def locate(requires: tuple[str, ...]) -> tuple[list[str], Availability | None]:
        found = []
        for alternatives in requires:
            name = _find_first(alternatives)
            if name is None:
                return found, Availability(False, f"{alternatives.replace('|', ' or ')} is not installed; "
                                                  f"install: {install}")
            found.append(name)
        return found, None

    modules, bad = locate(entry.requires)
    if bad is not None:
        return bad
    if entry.dist:
        try:
            missing = _missing_requirements(entry.dist)
        except metadata.PackageNotFoundError:
            missing = []
        if missing:
            return Availability(False, f"{entry.dist} needs {', '.join(missing)}, which are not installed: "
                                       f"pip install {' '.join(repr(m) for m in missing)}")
    try:
        cls = entry.load()
    except Exception as exc:
        hint = " (an import-path plugin: is its folder on PYTHONPATH?)" if entry.source == "import path" else ""
        return Availability(False, f"cannot load {entry.target}: {type(exc).__name__}: {exc}{hint}")
    more, bad = locate(tuple(getattr(cls, "requires", ()) or ()))
    if bad is not None:
        return bad
    check = getattr(cls, "check_available", None)
    if check is not None:
        try:
            check()
        except BackendUnavailable as exc:
            return Availability(False, str(exc))
        except Exception as exc:
            return Availability(False, f"check_available() failed: {type(exc).__name__}: {exc}")
    versions = []
    for name in dict.fromkeys(modules + more):
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # native libraries fail with OSError and others, not only ImportError
            return Availability(False, f"{name} cannot be imported ({type(exc).__name__}: {exc}); install: {install}",
                                ", ".join(versions))
        versions.append(f"{name} {module_version(module)}")
    return Availability(True, "available", ", ".join(versions))


def _requirement_versions(dist: str) -> dict[str, str]:
    """Installed versions of the (non-extra) requirements of distribution ``dist``."""
    out = {}
    for req in metadata.requires(dist) or []:
        if "extra ==" in req.replace('"', "").replace("'", ""):
            continue
        name = re.split(r"[\s;<>=!~\[(@]", req.strip(), maxsplit=1)[0]
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def plugin_provenance(entries: dict[str, PluginEntry]) -> dict[str, dict[str, Any]]:
    """For each plugin used (by name): where it came from, its distribution's version and what that brings."""
    out: dict[str, dict[str, Any]] = {}
    for name, entry in entries.items():
        facts: dict[str, Any] = {"target": entry.target, "source": entry.source}
        if entry.dist:
            try:
                facts["distribution"] = {"name": entry.dist, "version": metadata.version(entry.dist),
                                         "requires": _requirement_versions(entry.dist)}
            except metadata.PackageNotFoundError:
                facts["distribution"] = {"name": entry.dist, "version": "missing"}
        out[name] = facts
    return out


def child_env() -> dict[str, str]:
    """The environment for a child interpreter that sees the same modules as this one."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)}


def probe_isolated(kind: str, name: str, timeout: float = PROBE_TIMEOUT_S) -> Availability:
    """``probe`` of adapter or policy ``name`` in a fresh interpreter (a crash or hang becomes a row)."""
    try:
        out = subprocess.run([sys.executable, "-m", "harness.registry", kind, name], capture_output=True, text=True,
                             timeout=timeout, env=child_env())
    except subprocess.TimeoutExpired:
        return Availability(False, f"probing took longer than {timeout:.0f}s (the backend hangs on import)")
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return Availability(False, f"probing crashed (exit {out.returncode}): {tail}")
    return Availability(**json.loads(lines[-1]))


def _main(kind: str, name: str) -> None:
    if kind == "adapter":
        from adapters.base import get_entry
    else:
        from policies.base import get_entry
    try:
        result = probe(get_entry(name))
    except Exception as exc:
        result = Availability(False, f"{type(exc).__name__}: {exc}")
    print(json.dumps(result.__dict__), flush=True)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
