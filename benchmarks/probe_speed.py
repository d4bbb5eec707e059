"""Probe throughput: items generated per second (per world and overall) and items answered per second by the
depth oracle (end to end: load, answer, parse, one store transaction each) and by the bare oracle function, on
the shipped example (Rooms apartment + warehouse, the tests' RealSense recording).

    python benchmarks/probe_speed.py [--config examples/probe.yaml] [--frames N]

The recording is made first if missing (python -m tests.servers.realsense_recording runs/probe-scene.db3). A
fresh temporary run is used, so nothing is resumed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.probe.answerers import oracle_choice  # noqa: E402
from harness.probe.config import load_probe_config  # noqa: E402
from harness.probe.dataset import load_item  # noqa: E402
from harness.probe.runner import run_probe  # noqa: E402
from harness.probe.store import ProbeStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "examples" / "probe.yaml"))
    parser.add_argument("--frames", type=int, default=None, help="frames per source (default: the config's)")
    args = parser.parse_args()
    config = load_probe_config(args.config)
    for source in config.sources:
        file = source.options.get("file")
        if source.adapter == "realsense" and file and not Path(file).exists():
            subprocess.run([sys.executable, "-m", "tests.servers.realsense_recording", file], cwd=REPO, check=True)
    if args.frames:
        config = config.model_copy(update={"sources": [s.model_copy(update={"frames": args.frames})
                                                       for s in config.sources]})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        outcome = run_probe(config, tmp)
        total = time.perf_counter() - t0
        with ProbeStore(outcome.run_dir, create=False) as store:
            frames, rows = store.frames(), store.items()
        per_world: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])
        for f in frames:
            w = per_world[f"{f['adapter']}/{f['domain']}"]
            w[0] += f["items"] or 0
            w[1] += f["wall_s"] or 0.0
            w[2] += 1
        items = [load_item(r, outcome.run_dir) for r in rows]
        t1 = time.perf_counter()
        for _ in range(20):
            for item in items:
                oracle_choice(item)
        bare = 20 * len(items) / (time.perf_counter() - t1)
    print(f"probe throughput ({args.config}; {len(frames)} frames, {outcome.items_total} items; 2-core machine "
          "shared with other work: expect noise)")
    for world, (n, seconds, k) in sorted(per_world.items()):
        print(f"  generate {world:<18} {n:4d} items from {k:3d} frames in {seconds:6.2f} s: "
              f"{n / seconds:7.1f} items/s ({seconds / k * 1000:.0f} ms/frame incl. reset and camera moves)")
    print(f"  generate all             {outcome.items_new:4d} items in {outcome.generate_s:6.2f} s: "
          f"{outcome.items_new / outcome.generate_s:7.1f} items/s (adapter construction included)")
    for name, seconds in outcome.answer_s.items():
        n = sum(v for (a, _), v in outcome.answers.items() if a == name)
        print(f"  answer   {name:<17} {n:4d} items in {seconds:6.3f} s: {n / seconds:7.0f} items/s "
              "(end to end: parse + one store transaction each)")
    print(f"  answer   oracle function   {bare:7.0f} items/s (oracle_choice alone, items in memory)")
    print(f"  whole run (generate, answer, export) {total:.1f} s")


if __name__ == "__main__":
    main()
