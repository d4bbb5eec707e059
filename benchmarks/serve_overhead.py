"""Policy server round-trip overhead over loopback, beyond inference time, for 224x224 observations.

    python benchmarks/serve_overhead.py [--calls 200] [--batch 1]

Measured side by side in one run with the shipped xview checkpoint: the same act() called in-process and through
``crossview serve`` (msgpack over a websocket on 127.0.0.1); the overhead is their difference. Target (issue 6):
<= 5 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.serve import serve_in_thread  # noqa: E402
from harness.spec import CrossViewGoal, Interaction, Observation  # noqa: E402
from policies.base import make_policy  # noqa: E402
from policies.series import expand_series  # noqa: E402


def timed(policy, obs, goals, calls: int) -> list[float]:
    policy.reset(len(obs), seeds=list(range(len(obs))))
    for _ in range(10):  # warm-up
        policy.act(obs, goals, [None] * len(obs))
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        policy.act(obs, goals, [None] * len(obs))
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    ckpt = expand_series(str(Path(__file__).resolve().parents[1] / "checkpoints" / "xview"))[-1].path
    rng = np.random.default_rng(0)
    obs = [Observation(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8),
                       rng.random((224, 224)).astype(np.float32)) for _ in range(args.batch)]
    goals = [CrossViewGoal(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8), rng.random((224, 224)) < 0.1,
                           Interaction.APPROACH) for _ in range(args.batch)]
    local = make_policy("torch", checkpoint=ckpt)
    port, stop = serve_in_thread(lambda: make_policy("torch", checkpoint=ckpt))
    remote = make_policy("remote", url=f"ws://127.0.0.1:{port}")
    try:
        t_local = timed(local, obs, goals, args.calls)
        t_remote = timed(remote, obs, goals, args.calls)
    finally:
        remote.close()
        stop()
    ml, mr = statistics.median(t_local) * 1e3, statistics.median(t_remote) * 1e3
    print(f"batch {args.batch} of 224x224 RGB + depth + goal image + mask, {args.calls} calls each, median")
    print(f"  in-process act:           {ml:7.2f} ms")
    print(f"  through crossview serve:  {mr:7.2f} ms")
    print(f"  round-trip overhead:      {mr - ml:7.2f} ms   (target <= 5 ms)")


if __name__ == "__main__":
    main()
