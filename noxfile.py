"""Test sessions for dependencies that cannot share the project's environment (scripts/test.sh runs them).

``airsim``: the archived ``airsim`` 1.8.1 client ships the same module names as the ``cosysairsim`` the main
environment uses (both need a ``msgpackrpc``), and its sdist fails a plain install, so it gets its own
environment, installed the way the README documents, and drives the AirSim route against the local server.
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["airsim"]


@nox.session(name="airsim")
def airsim(session: nox.Session) -> None:
    """The AirSim route through the archived ``airsim`` client against the local msgpack-rpc server."""
    session.install("numpy", "rpc-msgpack", "wheel")
    session.install("--no-deps", "--no-build-isolation", "airsim==1.8.1")  # its sdist needs numpy at build time
    session.install("-e", ".[dev]")
    session.run("python", "-c", "import airsim, importlib.util as u; assert u.find_spec('cosysairsim') is None")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/adapters/test_unreal_clients.py",
                *session.posargs, env={"CROSSVIEW_AIRSIM_CLIENT": "airsim"})
