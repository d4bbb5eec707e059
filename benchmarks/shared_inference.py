"""Shared inference vs a policy copy per worker, side by side in one run, with a large torch policy on Rooms.

    python benchmarks/shared_inference.py [--workers 2,4] [--envs 4] [--episodes 48] [--embed 4096]
    python benchmarks/shared_inference.py --executor ray            # the same comparison on a local Ray

The policy is the xview network widened to tens of millions of parameters (random weights, saved as a checkpoint
like a trained one), or with ``--model rocket`` a ROCKET-2-sized network (about 150M parameters, random weights:
``rocket_sized.py``). For each worker count, the same sweep runs twice: ``inference: per_worker`` (every worker
loads its copy) and ``inference: shared`` (one batching policy copy: a process, or a Ray actor with ``--executor
ray``). Printed: env-steps/s over the whole run, the peak summed RSS and PSS of every process of the sweep (driver,
workers, policy copy; on Ray also Ray's own processes, the same in both modes), and the summed peak GPU memory
(``torch.cuda.max_memory_allocated`` in each process that runs a policy copy).

The GPU run of issue 18 (ROCKET-sized model, 2, 8 and 16 workers; on a machine with one CUDA GPU and 16+ cores):

    python benchmarks/shared_inference.py --model rocket --device cuda --workers 2,8,16 --envs 4 \
        --episodes 128 --max-steps 40 [--executor ray]

and its CPU smoke test (seconds):

    python benchmarks/shared_inference.py --model rocket --size tiny --workers 2 --envs 2 --episodes 4 \
        --max-steps 5 [--executor ray]

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


def policy(args: argparse.Namespace, ckpt: str, report: Path) -> dict:
    """The benchmark's policy entry: the widened xview checkpoint or the ROCKET-sized net, reporting GPU memory."""
    inner = ({"inner": "torch", "checkpoint": ckpt, "sample": False} if args.model == "xview" else
             {"inner": "rocket_sized:RocketSizedPolicy", "size": args.size})
    return {"name": "big", "kind": "rocket_sized:MemoryReport",
            "options": {**inner, "device": args.device, "report": str(report)}}


def run(entry: dict, mode: str, workers: int, args: argparse.Namespace, out: Path) -> tuple:
    """(env-steps/s over the whole sweep, peak summed RSS, peak summed PSS, processes at the peak, summed peak GPU
    memory of the policy copies)."""
    from rocket_sized import gpu_peaks

    from harness.config import parse_config
    from harness.runner import run_sweep
    from harness.store import Store

    name = f"{mode}-{workers}"
    report = Path(entry["options"]["report"]) / name
    report.mkdir(parents=True)
    envs, episodes, max_steps = args.envs, args.episodes, args.max_steps
    ray_gpus = 1 / workers if args.device.startswith("cuda") and mode == "per_worker" else 0
    cfg = parse_config({
        "name": name, "workers": workers, "envs_per_worker": envs, "inference": mode, "executor": args.executor,
        "batching": {"max_batch": workers * envs, "max_wait_ms": 5, "cpus_per_copy": os.cpu_count() or 1,  # its
                     # torch threads, as the local policy process takes every core (runner.make_pool)
                     "gpus_per_copy": 1 if args.device.startswith("cuda") else 0},
        "ray": {"cpus_per_worker": 1, "gpus_per_worker": ray_gpus},  # per-worker copies share the GPU (as MineStudio)
        "policies": [{**entry, "options": {**entry["options"], "report": str(report)}}],
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
    return steps / wall, mem.peak_rss, mem.peak_pss, mem.peak_procs, sum(gpu_peaks(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="2,4", help="comma-separated worker counts")
    parser.add_argument("--envs", type=int, default=4, help="env slots per worker")
    parser.add_argument("--episodes", type=int, default=32, help="episodes per sweep")
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--embed", type=int, default=4096, help="hidden size (4096: about 42M parameters)")
    parser.add_argument("--device", default="cpu", help="the policy's device (cuda: every copy on GPU 0)")
    parser.add_argument("--model", choices=("xview", "rocket"), default="xview",
                        help="the widened xview network, or the ROCKET-2-sized one (rocket_sized.py)")
    parser.add_argument("--size", choices=("full", "tiny"), default="full", help="--model rocket: full or tiny")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="ray: a local Ray instance (all cores; GPUs Ray finds), workers and copies as actors")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    ray = start_ray(max(counts)) if args.executor == "ray" else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ckpt, params = checkpoint(Path(tmp), args.width, args.embed) if args.model == "xview" else ("", 0)
            size = os.path.getsize(ckpt) if ckpt else 0
            entry = policy(args, ckpt, Path(tmp) / "gpu")
            if args.model == "rocket":
                from rocket_sized import SIZES, RocketSizedNet

                params = sum(p.numel() for p in RocketSizedNet(**SIZES[args.size]).parameters())
                size = 4 * params  # float32 weights
            rows = []
            for n in counts:
                for mode in ("per_worker", "shared"):
                    rows.append((n, mode, *run(entry, mode, n, args, Path(tmp) / "runs")))
    finally:
        if ray is not None:
            ray.shutdown()
    load = os.getloadavg()
    model = "xview widened" if args.model == "xview" else f"ROCKET-sized ({args.size})"
    print(f"{model}: {params / 1e6:.1f}M parameters ({size / MiB:.0f} MiB), {args.device}, executor {args.executor}, "
          f"Rooms 64x64 RGB, {args.envs} envs per worker, {args.episodes} episodes x <= {args.max_steps} steps; "
          f"{os.cpu_count()} cores, load average {load[0]:.1f}")
    head = ("workers", "inference", "env-steps/s", "peak RSS MiB", "peak PSS MiB", "procs", "GPU peak MiB")
    print("  " + " ".join(f"{h:>{w}}" for h, w in zip(head, (7, 10, 12, 13, 13, 5, 13))))
    for n, mode, rate, rss, pss, procs, gpu in rows:
        print(f"  {n:>7} {mode:>10} {rate:>12.1f} {rss / MiB:>13.0f} {pss / MiB:>13.0f} {procs:>5} "
              f"{gpu / MiB:>13.0f}")
    for n in counts:
        per, shared = (next(r for r in rows if r[0] == n and r[1] == m) for m in ("per_worker", "shared"))
        target = "1.50 on a GPU" if args.device.startswith("cuda") else "0.90 on CPU"
        print(f"  {n} workers: shared / per-worker throughput {shared[2] / per[2]:.2f} (target >= {target}); "
              f"PSS saved {(per[4] - shared[4]) / MiB:.0f} MiB ({(per[4] - shared[4]) / size:.1f} checkpoint sizes)")
    if len(counts) > 1:
        def growth(mode: str) -> float:
            lo, hi = (next(r for r in rows if r[0] == n and r[1] == mode) for n in (counts[0], counts[-1]))
            return (hi[4] - lo[4]) / MiB

        print(f"  PSS growth {counts[0]} -> {counts[-1]} workers: per-worker {growth('per_worker'):.0f} MiB, shared "
              f"{growth('shared'):.0f} MiB (one checkpoint: {size / MiB:.0f} MiB)")


def start_ray(workers: int) -> object:
    """A local Ray for the benchmark: logical CPUs for every worker and the policy actor (which asks for every core,
    as its threads); workers import this folder (the policies live in ``rocket_sized``)."""
    import ray

    ray.init(num_cpus=(os.cpu_count() or 1) + workers, include_dashboard=False, log_to_driver=False,
             configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}})
    return ray


if __name__ == "__main__":
    main()
