"""Rooms throughput in one process, side by side with the raw MuJoCo render it is built on.

    python benchmarks/rooms_speed.py [--steps 1000] [--size 224]

Prints steps/s of the Rooms adapter (RGB + depth, and RGB only) and of the bare render call of the same scene,
with their ratio. Target (issue 2): >= 300 steps/s at 224x224 RGB + depth on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from adapters.rooms.adapter import RoomsAdapter
from harness.spec import Action, Interaction


def adapter_rate(depth: bool, size: int, steps: int) -> tuple[float, RoomsAdapter]:
    """Steps/s of the adapter under a fixed turning-and-walking action sequence (resets included)."""
    adapter = RoomsAdapter(image_size=(size, size), depth=depth)
    template = next(t for t in adapter.tasks("train") if t.interaction == Interaction.APPROACH)
    rng = np.random.default_rng(0)
    actions = [Action(forward=bool(rng.integers(2)), camera=(0.0, float(rng.uniform(-10, 10)))) for _ in range(64)]
    adapter.reset(dataclasses.replace(template, seed=0))
    start, episode = time.perf_counter(), 0
    for k in range(steps):
        if k and k % 200 == 0:
            episode += 1
            adapter.reset(dataclasses.replace(template, seed=episode))
        adapter.step(actions[k % len(actions)])
    return steps / (time.perf_counter() - start), adapter


def raw_rate(adapter: RoomsAdapter, steps: int) -> float:
    """Renders/s of the bare colour + depth render of the adapter's current scene (no game logic)."""
    world, renderer = adapter._world_pair
    start = time.perf_counter()
    for _ in range(steps):
        renderer.rgbd(world.data, world.eye_cam, depth=True)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    rgbd, adapter = adapter_rate(True, args.size, args.steps)
    raw = raw_rate(adapter, args.steps)
    adapter.close()
    rgb, adapter = adapter_rate(False, args.size, args.steps)
    adapter.close()
    print(f"Rooms {args.size}x{args.size}, one process, {args.steps} steps each")
    print(f"  raw MuJoCo render (RGB+depth):  {raw:8.1f} renders/s")
    print(f"  Rooms adapter RGB+depth:        {rgbd:8.1f} steps/s   ({rgbd / raw:.2f} of raw render)")
    print(f"  Rooms adapter RGB only:         {rgb:8.1f} steps/s   ({rgb / raw:.2f} of raw render)")
    print(f"  target >= 300 steps/s RGB+depth: {'met' if rgbd >= 300 else 'NOT met'}")


if __name__ == "__main__":
    main()
