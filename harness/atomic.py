"""Publishing files atomically: a reader sees the old file or the whole new one, never a half-written one.

Every file crossview publishes (figures, pages, tables, videos, thumbnails, exports, goal files) is written to a
temporary name in the same folder and renamed over its final name; temporary names share one prefix so that a
sweep or a report can clear the ones a killed process left behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_PREFIX = ".crossview-tmp-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success rename it to ``path``, else remove it.

    The temporary name keeps ``path``'s suffix, so writers that choose a format by extension (matplotlib, imageio)
    behave as with the final name.
    """
    final = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=final.suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as exc:
        if exc.errno is not None and exc.filename in (None, str(tmp)):  # name the file the user knows
            raise OSError(exc.errno, exc.strerror or str(exc), str(final)) from None
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Publish ``data`` at ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Publish ``text`` (UTF-8) at ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def clear_stale(folder: str | os.PathLike[str]) -> int:
    """Remove temporary files a killed process left in ``folder`` and below; return how many were removed."""
    root = Path(folder)
    if not root.is_dir():
        return 0
    removed = 0
    for stale in root.rglob(f"{TMP_PREFIX}*"):
        with contextlib.suppress(OSError):
            stale.unlink()
            removed += 1
    return removed
