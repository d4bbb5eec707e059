"""Report build time on a large synthetic run, beside the time to read the same episodes from the store.

    python benchmarks/report_speed.py [--episodes 100000]

Target (issue 4): a report from 100,000 episode rows in <= 15 s on 2 cores.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.spec import EpisodeRecord, Status  # noqa: E402
from harness.store import Store  # noqa: E402
from reports.render import build  # noqa: E402
from reports.tables import load_runs  # noqa: E402


def synthetic_run(run: Path, episodes: int, seed: int = 0) -> None:
    """A run of ``episodes`` rows: random, oracle and a 10-checkpoint series over 2 adapters × 3 domains × 3
    interactions × 2 difficulties × 2 splits, with some errors and unjudged episodes."""
    rng = np.random.default_rng(seed)
    policies = ["random", "oracle"] + [f"net@{s}" for s in range(1000, 11000, 1000)]
    worlds = [("rooms", d, "source" if d == "apartment" else "zeroshot") for d in ("apartment", "warehouse", "attic")]
    worlds += [("dmlab", "explore_object_locations_small", "zeroshot")]
    cells = [(p, w, i, d, s) for p in policies for w in worlds for i in ("approach", "mine", "interact")
             for d in ("easy", "hard") for s in ("train", "heldout")]
    with Store(run) as store:
        store.set_meta({"config": {"policies": [{"name": "random", "kind": "random"},
                                                {"name": "oracle", "kind": "oracle"}]}})
        rows = []
        for k in range(episodes):
            p, (adapter, domain, role), inter, diff, split = cells[k % len(cells)]
            base = {"random": 0.05, "oracle": 0.95}.get(p, 0.1 + 0.06 * (policies.index(p) - 2))
            rate = base * (1.0 if role == "source" else 0.6) * (1.0 if diff == "easy" else 0.7)
            r = rng.random()
            status = Status.ENV_ERROR if r < 0.005 else (Status.SUCCESS if rng.random() < rate else Status.TIMEOUT)
            success = None if status == Status.ENV_ERROR or r > 0.995 else status == Status.SUCCESS
            step = int(p.split("@")[1]) if "@" in p else None
            rows.append(EpisodeRecord(f"e{k}", p, "", step, adapter, domain, inter, "t", diff, split, role,
                                      k, k // len(cells), status, success, 50, float(bool(success)), 0.5, 0.2))
        db = sqlite3.connect(run / "results.sqlite")  # bulk insert: the benchmark is about the report
        fields = list(rows[0].to_row())
        db.executemany(f"INSERT INTO episodes ({', '.join(repr(f) for f in fields)}, finished_at) VALUES "
                       f"({', '.join('?' * (len(fields) + 1))})",
                       [[r.to_row()[f] for f in fields] + [time.time()] for r in rows])
        db.commit()
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "big"
        synthetic_run(run, args.episodes)
        t0 = time.perf_counter()
        load_runs([run])
        read = time.perf_counter() - t0
        t0 = time.perf_counter()
        build([run])
        total = time.perf_counter() - t0
    print(f"report from {args.episodes:,} synthetic episodes (12 policies, 288 tasks)")
    print(f"  read the store into a table:  {read:6.2f} s")
    print(f"  whole report (stats, figures, HTML, CSV): {total:6.2f} s   ({total / read:.1f}x the read)")
    print(f"  target <= 15 s: {'met' if total <= 15 else 'NOT met'}")


if __name__ == "__main__":
    main()
