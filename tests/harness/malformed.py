"""Running ``crossview`` in-process on a malformed input and checking the error policy's promise.

The promise (harness/cli.py): a non-zero exit code, exactly one line on stderr naming what is wrong, no traceback,
and nothing written — the folder the input lives in is byte-for-byte the same afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

from harness.cli import main

SQLITE_COMPANIONS = ("-wal", "-shm")  # SQLite's own index files, made beside a WAL store by any reader


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a digest of its bytes (folders as 'dir'; SQLite's companion files aside)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.name.endswith(SQLITE_COMPANIONS):
            continue
        if p.is_dir():
            out[rel] = "dir"
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.stat().st_size < 1 << 22 else \
                f"size {p.stat().st_size}"
    return out


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``crossview ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def assert_refused(root: Path, *argv: str, expect: str = "", code: int | None = None) -> str:
    """Run ARGV; check the promise (non-zero, one stderr line, no traceback, nothing under ``root`` changed).

    Returns the stderr line.
    """
    before = snapshot(root)
    rc, out, err = run_cli(*argv)
    lines = err.strip().splitlines()
    assert rc != 0, f"{argv}: exit 0 for a malformed input; stdout: {out[-300:]}"
    assert code is None or rc == code, f"{argv}: exit {rc}, expected {code}: {err}"
    assert len(lines) == 1, f"{argv}: {len(lines)} lines on stderr:\n{err}"
    assert "Traceback" not in err + out, err
    assert expect.lower() in lines[0].lower(), f"{argv}: expected {expect!r} in {lines[0]!r}"
    assert snapshot(root) == before, f"{argv}: something was written or changed under {root}"
    return lines[0]
