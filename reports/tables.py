"""From the store's tallies to the tables a report shows: cells, the transfer matrix, zero-shot aggregates, gaps.

A *cell* is one policy (checkpoint) on one task: adapter × domain × interaction × difficulty × split. A *world* is
an adapter/domain; its role (``source`` or ``zeroshot``) comes from the sweep config. Every table here is built from
counts (harness/counts.py), so none grows with the number of episodes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.counts import TASK, Counts
from reports import stats

WORLD = ["adapter", "domain"]
BASELINES = ("random", "oracle")


def order_policies(cells: pd.DataFrame, kinds: dict[str, str]) -> list[str]:
    """Checkpoint series first (by name, then training step, numerically), other policies next, baselines last."""
    first = cells.drop_duplicates("policy")[["policy", "series", "step"]]
    kind = first["policy"].map(lambda p: kinds.get(p, kinds.get(p.split("@")[0], "")))
    rank = np.where(kind.isin(BASELINES), 2, np.where(first["step"].notna(), 0, 1))
    first = first.assign(rank=rank, k=kind.map(lambda k: BASELINES.index(k) if k in BASELINES else -1))
    return first.sort_values(["rank", "k", "series", "step", "policy"], kind="stable")["policy"].tolist()


def order_worlds(cells: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(adapter, domain, role) with source worlds first, then zero-shot worlds, each alphabetically."""
    w = cells.drop_duplicates([*WORLD, "role"])[[*WORLD, "role"]]
    w = w.assign(r=(w["role"] != "source").astype(int)).sort_values(["r", *WORLD], kind="stable")
    return [tuple(x) for x in w[[*WORLD, "role"]].itertuples(index=False)]


def with_baselines(counts: Counts, min_span: float = stats.MIN_SPAN) -> pd.DataFrame:
    """Cells with Wilson bounds, the random and oracle counts on the same task, and the normalized score (NaN
    where a baseline is missing or the oracle − random span is below ``min_span``)."""
    cells = counts.cells.copy()
    cells["rate"], cells["low"], cells["high"] = stats.wilson(cells["successes"], cells["judged"])
    for kind, col in (("random", "floor"), ("oracle", "ceiling")):
        names = [n for n, k in counts.kinds.items() if k == kind] or [kind]
        base = cells[cells["policy"].isin(names)].groupby(list(TASK))[["successes", "judged"]].sum()
        base.columns = [f"{col}_k", f"{col}_n"]
        cells = cells.join(base, on=list(TASK))
        cells[[f"{col}_k", f"{col}_n"]] = cells[[f"{col}_k", f"{col}_n"]].fillna(0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        floor = cells["floor_k"] / cells["floor_n"].where(cells["floor_n"] > 0)
        ceiling = cells["ceiling_k"] / cells["ceiling_n"].where(cells["ceiling_n"] > 0)
    cells["normalized"] = stats.normalized(cells["rate"], floor, ceiling, min_span)
    return cells


def transfer_matrix(cells: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Long form of the headline matrix: policy × world × interaction, pooled over difficulty and split, with
    successes/judged and Wilson bounds; ``order`` columns give the display order."""
    g = cells.groupby(["policy", *WORLD, "role", "interaction"], sort=False)
    out = g[["episodes", "judged", "successes", "errors", "unjudged"]].sum().reset_index()
    out["rate"], out["low"], out["high"] = stats.wilson(out["successes"], out["judged"])
    policies = {p: i for i, p in enumerate(order_policies(cells, kinds))}
    worlds = {w: i for i, w in enumerate(order_worlds(cells))}
    out["policy_order"] = out["policy"].map(policies)
    out["world_order"] = [worlds[(a, d, r)] for a, d, r in zip(out["adapter"], out["domain"], out["role"])]
    return out.sort_values(["policy_order", "world_order", "interaction"], kind="stable").reset_index(drop=True)


def _baselines(t: pd.DataFrame) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    return (t["floor_k"].to_numpy(), t["floor_n"].to_numpy()), (t["ceiling_k"].to_numpy(), t["ceiling_n"].to_numpy())


def zero_shot_summary(cells: pd.DataFrame, kinds: dict[str, str], reps: int = 2000,
                      min_span: float = stats.MIN_SPAN) -> pd.DataFrame:
    """Per policy, over its zero-shot tasks only: mean and IQM success, mean and IQM normalized score; over its
    source tasks: mean success; and the gap source − zero-shot (Newcombe). A policy without a zero-shot cell keeps
    its row, with a reason."""
    rows = []
    judged = cells[cells["judged"] > 0]
    for policy in order_policies(cells, kinds):
        t = judged[judged["policy"] == policy]
        z, s = t[t["role"] == "zeroshot"], t[t["role"] == "source"]
        row = {"policy": policy, "zero-shot tasks": len(z), "zero-shot episodes": int(z["judged"].sum()),
               "note": "" if len(z) else "no judged zero-shot episode"}
        k, n = z["successes"].to_numpy(), z["judged"].to_numpy()
        row |= stats.aggregates(k, n, reps=reps)
        floor, ceiling = _baselines(z)
        row |= {f"normalized {h}": v for h, v in stats.aggregates(k, n, ("mean", "iqm"), floor, ceiling, reps=reps,
                                                                 min_span=min_span).items()}
        row["source mean"] = stats.aggregate(s["successes"], s["judged"], "mean", reps=reps)
        row["gap (source − zero-shot)"] = stats.gap(s["successes"], s["judged"], k, n, reps=reps)
        rows.append(row)
    return pd.DataFrame(rows)


def world_gaps(cells: pd.DataFrame, kinds: dict[str, str], reps: int = 2000) -> pd.DataFrame:
    """Per policy and zero-shot world: mean success on source tasks minus on that world's tasks (Newcombe), and the
    train − heldout split gap."""
    rows = []
    judged = cells[cells["judged"] > 0]
    for policy in order_policies(cells, kinds):
        t = judged[judged["policy"] == policy]
        src = t[t["role"] == "source"]
        for (adapter, domain), z in t[t["role"] == "zeroshot"].groupby(WORLD, sort=True):
            rows.append({"policy": policy, "kind": "source − zero-shot", "versus": f"{adapter}/{domain}",
                         "gap": stats.gap(src["successes"], src["judged"], z["successes"], z["judged"], reps)})
        train, held = t[t["split"] == "train"], t[t["split"] == "heldout"]
        if len(train) and len(held):
            rows.append({"policy": policy, "kind": "train − heldout", "versus": "heldout split",
                         "gap": stats.gap(train["successes"], train["judged"], held["successes"], held["judged"],
                                          reps)})
    return pd.DataFrame(rows, columns=["policy", "kind", "versus", "gap"])


def summary(cells: pd.DataFrame, kinds: dict[str, str], reps: int = 2000) -> pd.DataFrame:
    """Per policy over all its tasks (source and zero-shot pooled, labelled so): mean and IQM success, for
    reference; normalized scores are reported over zero-shot tasks only (``zero_shot_summary``)."""
    rows = []
    judged = cells[cells["judged"] > 0]
    for policy in order_policies(cells, kinds):
        t = judged[judged["policy"] == policy]
        if t.empty:
            continue
        k, n = t["successes"].to_numpy(), t["judged"].to_numpy()
        rows.append({"policy": policy, "series": t["series"].iloc[0], "step": t["step"].iloc[0], "tasks": len(t),
                     "episodes": int(n.sum()), **stats.aggregates(k, n, reps=reps)})
    return pd.DataFrame(rows)


def by_world(cells: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Per policy × world: pooled successes/judged with Wilson bounds (for success-vs-step curves)."""
    g = cells.groupby(["policy", "series", "step", *WORLD, "role"], dropna=False, sort=False)
    out = g[["episodes", "judged", "successes", "errors", "unjudged"]].sum().reset_index()
    out["rate"], out["low"], out["high"] = stats.wilson(out["successes"], out["judged"])
    out["kind"] = out["policy"].map(lambda p: kinds.get(p, kinds.get(p.split("@")[0], "")))
    return out


def incomplete(counts: Counts, cells: pd.DataFrame) -> list[str]:
    """Notes on data a reader must not take as final: runs still going or stopped short, partial cells, policies
    measured on different task sets."""
    notes = []
    for state in counts.runs:
        if state.planned and state.stored < state.planned:
            what = "still running" if state.running else "incomplete (stopped or still to resume)"
            notes.append(f"Sweep {state.run} is {what}: {state.stored:,} of {state.planned:,} planned episodes "
                         "stored; every number here is partial.")
    full = cells.groupby(list(TASK))["episodes"].transform("max")
    partial = cells[cells["episodes"] < full]
    if len(partial):
        notes.append(f"{len(partial)} cell(s) have fewer episodes than other policies on the same task "
                     f"(e.g. {partial['policy'].iloc[0]} on {'/'.join(partial[list(TASK)].iloc[0])}): partial.")
    judged = cells[cells["judged"] > 0]
    keys = pd.Series(list(zip(*(judged[c] for c in TASK))), index=judged.index)
    tasks = keys.groupby(judged["policy"]).agg(frozenset)
    if tasks.nunique() > 1:
        every = frozenset.intersection(*tasks)
        fewer = sorted(p for p, t in tasks.items() if t != frozenset.union(*tasks))
        notes.append(f"Policies were measured on different task sets ({len(every)} tasks shared by all; fewer "
                     f"for {', '.join(fewer[:6])}{' …' if len(fewer) > 6 else ''}): compare aggregates with care; "
                     "paired comparisons use shared episodes only.")
    return notes
