"""Ray executor vs local executor throughput on this machine, side by side, same sweep (Rooms, torch policy).

    python benchmarks/ray_vs_local.py [--workers 2] [--envs 4] [--episodes 64]

Target (issue 9): Ray >= 85% of local. Ray is started locally with as many CPUs as the machine has; its start-up
is timed apart from the sweep.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweep_throughput import _checkpoint, sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--episodes", type=int, default=64)
    args = parser.parse_args()
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = _checkpoint(None, Path(tmp))
        local = sweep(ckpt, args.workers, args.envs, args.episodes, Path(tmp), "local", "local")
        t0 = time.time()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False)
        startup = time.time() - t0
        on_ray = sweep(ckpt, args.workers, args.envs, args.episodes, Path(tmp), "ray", "ray")
        ray.shutdown()
    print(f"{args.workers} workers x {args.envs} envs, {args.episodes} episodes, Rooms + torch policy, "
          f"{os.cpu_count()} cores")
    print(f"  local executor: {local.whole:8.1f} env-steps/s whole run, {local.steady:8.1f} steady")
    print(f"  ray executor:   {on_ray.whole:8.1f} env-steps/s whole run, {on_ray.steady:8.1f} steady "
          f"(ray start-up {startup:.1f}s not included)")
    print(f"  ray / local:    {on_ray.whole / local.whole:.2f} whole run, {on_ray.steady / local.steady:.2f} steady "
          "(target >= 0.85)")


if __name__ == "__main__":
    main()
