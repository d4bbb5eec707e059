"""Resident memory of a process tree, read from /proc (Linux): the benchmarks' summed RSS and PSS."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def rss_pss(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in bytes; (0, 0) when it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in text.splitlines()[1:] if line.split()}
    return fields.get("Rss", 0), fields.get("Pss", 0)


class TreeMemory:
    """Samples the summed RSS and PSS of this process and its descendants in a thread; keeps the peaks."""

    def __init__(self, every: float = 0.5) -> None:
        self.every, self.peak_rss, self.peak_pss, self.peak_procs = every, 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            pids = descendants(os.getpid())
            sums = [rss_pss(p) for p in pids]
            rss, pss = sum(s[0] for s in sums), sum(s[1] for s in sums)
            if pss > self.peak_pss:
                self.peak_rss, self.peak_pss, self.peak_procs = rss, pss, len(pids)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
