"""Rooms throughput in one process, side by side with the raw MuJoCo render it is built on.

    python benchmarks/rooms_speed.py [--steps 1000] [--size 224] [--rounds 10]

Prints steps/s of the Rooms adapter (RGB + depth, and RGB only) and renders/s of the bare render call of the same
scene, with their ratio. Adapter steps and bare renders alternate in ``--rounds`` blocks, so a machine whose load
changes during the run slows both alike. Targets: >= 300 steps/s at 224x224 RGB + depth on 2 cores (issue 2);
RGB+depth >= 0.95 of the bare render (issue 18).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from adapters.rooms.adapter import RoomsAdapter
from harness.spec import Action, Interaction


class Bench:
    """One adapter driven by a fixed turning-and-walking action sequence, new episode every 200 steps."""

    def __init__(self, depth: bool, size: int) -> None:
        self.depth = depth
        self.adapter = RoomsAdapter(image_size=(size, size), depth=depth)
        self.template = next(t for t in self.adapter.tasks("train") if t.interaction == Interaction.APPROACH)
        rng = np.random.default_rng(0)
        self.actions = [Action(forward=bool(rng.integers(2)), camera=(0.0, float(rng.uniform(-10, 10))))
                        for _ in range(64)]
        self.k, self.episode = 0, 0
        self.adapter.reset(dataclasses.replace(self.template, seed=0))
        self.adapter_s = self.raw_s = 0.0
        self.steps = self.renders = 0

    def adapter_block(self, n: int) -> None:
        """``n`` adapter steps (resets included)."""
        start = time.perf_counter()
        for _ in range(n):
            self.k += 1
            if self.k % 200 == 0:
                self.episode += 1
                self.adapter.reset(dataclasses.replace(self.template, seed=self.episode))
            self.adapter.step(self.actions[self.k % len(self.actions)])
        self.adapter_s += time.perf_counter() - start
        self.steps += n

    def raw_block(self, n: int) -> None:
        """``n`` bare colour (+ depth) renders of the adapter's current scene (no game logic)."""
        world, renderer = self.adapter._world_pair
        start = time.perf_counter()
        for _ in range(n):
            renderer.rgbd(world.data, world.eye_cam, depth=self.depth)
        self.raw_s += time.perf_counter() - start
        self.renders += n

    def run(self, steps: int, rounds: int) -> tuple[float, float]:
        """(adapter steps/s, bare renders/s), alternating blocks."""
        self.adapter_block(20)  # warm-up
        self.raw_block(20)
        self.adapter_s = self.raw_s = 0.0
        self.steps = self.renders = 0
        block = max(1, steps // rounds)
        for _ in range(rounds):
            self.adapter_block(block)
            self.raw_block(block)
        self.adapter.close()
        return self.steps / self.adapter_s, self.renders / self.raw_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    rgbd, raw_d = Bench(True, args.size).run(args.steps, args.rounds)
    rgb, raw_c = Bench(False, args.size).run(args.steps, args.rounds)
    print(f"Rooms {args.size}x{args.size}, one process, {args.steps} steps each in {args.rounds} alternating blocks; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"  raw MuJoCo render (RGB+depth):  {raw_d:8.1f} renders/s")
    print(f"  Rooms adapter RGB+depth:        {rgbd:8.1f} steps/s   ({rgbd / raw_d:.2f} of raw render, target >= 0.95)")
    print(f"  raw MuJoCo render (RGB):        {raw_c:8.1f} renders/s")
    print(f"  Rooms adapter RGB only:         {rgb:8.1f} steps/s   ({rgb / raw_c:.2f} of raw render)")
    print(f"  target >= 300 steps/s RGB+depth: {'met' if rgbd >= 300 else 'NOT met'}")


if __name__ == "__main__":
    main()
