"""Shared inference vs a policy copy per worker, side by side in one run, with a large torch policy on Rooms.

    python benchmarks/shared_inference.py [--workers 2,4] [--envs 4] [--episodes 48] [--embed 4096]

The policy is the xview network widened to tens of millions of parameters (random weights, saved as a checkpoint
like a trained one). For each worker count, the same sweep runs twice: ``inference: per_worker`` (every worker
loads its copy) and ``inference: shared`` (one batching policy process). Printed: env-steps/s over the whole run
and the peak summed RSS and PSS of every process of the sweep (driver, workers, policy process).

Targets (issue 18): shared memory grows by one policy copy regardless of workers; shared >= 0.9x per-worker
env-steps/s at the same worker count on a CPU-only machine (>= 1.5x on a GPU).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from memory import TreeMemory  # noqa: E402

MiB = 2**20


def checkpoint(tmp: Path, width: int, embed: int) -> tuple[str, int]:
    """A widened xview network with random weights, saved as a checkpoint; (path, parameter count)."""
    from policies.torch.train_xview import random_checkpoint

    path, params = random_checkpoint(tmp, width, embed)
    return str(path), params


def run(ckpt: str, mode: str, workers: int, envs: int, episodes: int, max_steps: int, out: Path,
        device: str) -> tuple[float, int, int, int]:
    """(env-steps/s over the whole sweep, peak summed RSS, peak summed PSS, processes at the peak)."""
    from harness.config import parse_config
    from harness.runner import run_sweep
    from harness.store import Store

    name = f"{mode}-{workers}"
    cfg = parse_config({
        "name": name, "workers": workers, "envs_per_worker": envs, "inference": mode,
        "batching": {"max_batch": workers * envs, "max_wait_ms": 5},
        "policies": [{"name": "big", "kind": "torch", "checkpoints": ckpt,
                      "options": {"device": device, "sample": False}}],
        "environments": [{"adapter": "rooms", "domains": ["apartment"], "interactions": ["approach"],
                          "difficulties": ["hard"], "episodes": episodes, "max_steps": max_steps,
                          "options": {"image_size": [64, 64], "depth": False}}],
        "video": {"thumbnails": False}})
    t0 = time.time()
    with TreeMemory() as mem:
        outcome = run_sweep(cfg, out)
    wall = time.time() - t0
    if outcome.exit_code:
        raise SystemExit(f"{name}: the sweep failed: {dict(outcome.counts)}")
    with Store(out / name, create=False) as store:
        steps = sum(r["steps"] for r in store.rows())
    return steps / wall, mem.peak_rss, mem.peak_pss, mem.peak_procs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="2,4", help="comma-separated worker counts")
    parser.add_argument("--envs", type=int, default=4, help="env slots per worker")
    parser.add_argument("--episodes", type=int, default=32, help="episodes per sweep")
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--embed", type=int, default=4096, help="hidden size (4096: about 42M parameters)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, params = checkpoint(Path(tmp), args.width, args.embed)
        size = os.path.getsize(ckpt)
        rows = []
        for n in counts:
            for mode in ("per_worker", "shared"):
                rows.append((n, mode, *run(ckpt, mode, n, args.envs, args.episodes, args.max_steps,
                                           Path(tmp) / "runs", args.device)))
    load = os.getloadavg()
    print(f"xview widened: {params / 1e6:.1f}M parameters ({size / MiB:.0f} MiB), {args.device}, Rooms 64x64 RGB, "
          f"{args.envs} envs per worker, {args.episodes} episodes x <= {args.max_steps} steps; "
          f"{os.cpu_count()} cores, load average {load[0]:.1f}")
    head = ("workers", "inference", "env-steps/s", "peak RSS MiB", "peak PSS MiB", "procs")
    print("  " + " ".join(f"{h:>{w}}" for h, w in zip(head, (7, 10, 12, 13, 13, 5))))
    for n, mode, rate, rss, pss, procs in rows:
        print(f"  {n:>7} {mode:>10} {rate:>12.1f} {rss / MiB:>13.0f} {pss / MiB:>13.0f} {procs:>5}")
    for n in counts:
        per, shared = (next(r for r in rows if r[0] == n and r[1] == m) for m in ("per_worker", "shared"))
        print(f"  {n} workers: shared / per-worker throughput {shared[2] / per[2]:.2f} (target >= 0.90); "
              f"PSS saved {(per[4] - shared[4]) / MiB:.0f} MiB ({(per[4] - shared[4]) / size:.1f} checkpoint sizes)")
    if len(counts) > 1:
        def growth(mode: str) -> float:
            lo, hi = (next(r for r in rows if r[0] == n and r[1] == mode) for n in (counts[0], counts[-1]))
            return (hi[4] - lo[4]) / MiB

        print(f"  PSS growth {counts[0]} -> {counts[-1]} workers: per-worker {growth('per_worker'):.0f} MiB, shared "
              f"{growth('shared'):.0f} MiB (one checkpoint: {size / MiB:.0f} MiB)")


if __name__ == "__main__":
    main()
