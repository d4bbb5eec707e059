"""An adapter run in a freshly started interpreter, for processes that must not touch the GL state they inherited.

A process forked after its parent opened an OpenGL context (Gymnasium's ``AsyncVectorEnv`` forks by default) shares
the parent's driver state but not its threads, and rendering there hangs. ``SpawnedAdapter`` starts a new Python
(never a fork) that owns the real adapter, and forwards ``reset``/``step``/``close`` to it over a private pipe.
Messages are pickled, which is safe here: both ends are this program, connected by an anonymous pipe.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

from harness.errors import CrossviewError
from harness.registry import child_env


class SpawnedAdapter:
    """Adapter ``name`` with ``options``, living in its own interpreter; same protocol as the adapter itself."""

    def __init__(self, name: str, options: dict[str, Any], timeout: float = 120.0) -> None:
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        self._proc = subprocess.Popen([sys.executable, "-m", "adapters.spawned", str(down_r), str(up_w)],
                                      pass_fds=(down_r, up_w), env=child_env(), stdin=subprocess.DEVNULL)
        os.close(down_r)
        os.close(up_w)
        self._send, self._recv = Connection(down_w, readable=False), Connection(up_r, writable=False)
        self.timeout, self.name = timeout, name
        self._send.send((name, options))
        self.info = self._answer()

    def _answer(self) -> Any:
        if not self._recv.poll(self.timeout):
            self.close()
            raise CrossviewError(f"adapter {self.name!r} in its own process did not answer within {self.timeout}s")
        try:
            ok, value = self._recv.recv()
        except EOFError:
            raise CrossviewError(f"adapter {self.name!r} in its own process died "
                                 f"(exit {self._proc.poll()})") from None
        if not ok:
            raise CrossviewError(value)
        return value

    def _call(self, method: str, *args: Any) -> Any:
        if self._proc is None:
            raise CrossviewError(f"adapter {self.name!r} is closed")
        self._send.send((method, args))
        return self._answer()

    def tasks(self, suite: str) -> Any:
        return self._call("tasks", suite)

    def reset(self, task: Any) -> Any:
        return self._call("reset", task)

    def step(self, action: Any) -> Any:
        return self._call("step", action)

    def close(self) -> None:
        """Close the adapter and end its process (idempotent)."""
        if self._proc is None:
            return
        with contextlib.suppress(OSError, EOFError, CrossviewError):
            self._send.send(("close", ()))
            if self._recv.poll(10):
                self._recv.recv()
        for conn in (self._send, self._recv):
            conn.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def _serve(down: int, up: int) -> None:
    from adapters.base import make_adapter

    recv, send = Connection(down, writable=False), Connection(up, readable=False)
    name, options = recv.recv()
    try:
        adapter = make_adapter(name, **options)
    except Exception as exc:
        send.send((False, str(exc)))
        return
    send.send((True, adapter.info))
    while True:
        try:
            method, args = recv.recv()
        except EOFError:  # the owner is gone
            adapter.close()
            return
        try:
            result = getattr(adapter, method)(*args) if method in ("tasks", "reset", "step", "close") else None
            send.send((True, result))
        except Exception as exc:
            send.send((False, f"{type(exc).__name__}: {exc}"))
        if method == "close":
            return


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
