"""From stored episodes to the tables a report shows: per-cell counts, intervals, normalized scores, gaps.

A *cell* is one policy (checkpoint) on one task: adapter × domain × interaction × difficulty × split. Episodes
nobody could judge (``success`` None) and errored episodes are counted, never scored.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import CrossviewError
from reports import stats

TASK = ["adapter", "domain", "interaction", "difficulty", "split"]
CELL = ["policy", "series", "step", "role", *TASK]
ERRORS = ("env_error", "policy_error")


def load_runs(runs: Iterable[str | Path]) -> tuple[pd.DataFrame, dict[str, str], list[dict[str, Any]]]:
    """Episodes of one or more runs (merged; later runs win on equal ids), policy kinds, and each run's meta."""
    from harness.store import Store

    frames, kinds, metas = [], {}, []
    for run in runs:
        with Store(run, create=False) as store:
            rows = store.rows()
            meta = {k: store.get_meta(k) for k in ("config", "versions", "git", "machine", "plan_ids")}
        meta["run"] = str(run)
        metas.append(meta)
        for p in (meta.get("config") or {}).get("policies", []):
            kinds[p["name"]] = p["kind"]
        if rows:
            frames.append(pd.DataFrame(rows))
    if not frames:
        raise CrossviewError(f"no episodes stored yet in {', '.join(str(r) for r in runs)}: run the sweep first")
    df = pd.concat(frames, ignore_index=True).drop_duplicates("episode_id", keep="last")
    return prepare(df), kinds, metas


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Add the columns reports group by: ``series`` (policy name before '@'), ``step``, ``judged``, ``errored``."""
    df = df.copy()
    df["series"] = df["policy"].str.split("@").str[0]
    df["step"] = pd.to_numeric(df["checkpoint_step"], errors="coerce")
    df["errored"] = df["status"].isin(ERRORS)
    df["judged"] = ~df["errored"] & df["success"].notna()
    df["win"] = (df["success"].fillna(0).astype(float) > 0) & df["judged"]
    return df


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: episodes, judged, successes, unjudged, errors, rate with Wilson bounds."""
    g = df.groupby(CELL, dropna=False, sort=True)
    out = g.agg(episodes=("episode_id", "size"), judged=("judged", "sum"), successes=("win", "sum"),
                errors=("errored", "sum"), mean_steps=("steps", "mean")).reset_index()
    out["unjudged"] = out["episodes"] - out["judged"] - out["errors"]
    out["rate"], out["low"], out["high"] = stats.wilson(out["successes"], out["judged"])
    return out


def with_normalized(table: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Add ``normalized``: the cell's rate between the random (0) and oracle (1) rates on the same task."""
    def rate_of(kind: str) -> pd.Series:
        names = [n for n, k in kinds.items() if k == kind] or [kind]
        base = table[table["policy"].isin(names) & (table["judged"] > 0)]
        return base.groupby(TASK)["successes"].sum() / base.groupby(TASK)["judged"].sum()

    floor, ceiling = rate_of("random").rename("floor"), rate_of("oracle").rename("ceiling")
    out = table.join(floor, on=TASK).join(ceiling, on=TASK)
    out["normalized"] = stats.normalized(out["rate"], out["floor"], out["ceiling"])
    return out


def policy_summary(table: pd.DataFrame, reps: int = 2000) -> pd.DataFrame:
    """Per policy: mean and IQM success across its tasks (and normalized, where baselines exist), with CIs."""
    rows = []
    for (policy, series, step), t in table.groupby(["policy", "series", "step"], dropna=False, sort=False):
        t = t[t["judged"] > 0]
        if t.empty:
            continue
        row = {"policy": policy, "series": series, "step": step, "tasks": len(t), "episodes": int(t["judged"].sum())}
        for how in ("mean", "iqm"):
            row[how] = stats.aggregate(t["successes"], t["judged"], how, reps=reps)
            has = t["floor"].notna() & t["ceiling"].notna()
            row[f"norm_{how}"] = (stats.aggregate(t["successes"][has], t["judged"][has], how, t["floor"][has],
                                                  t["ceiling"][has], reps=reps)
                                  if has.any() else stats.Interval(np.nan, np.nan, np.nan))
        rows.append(row)
    out = pd.DataFrame(rows)
    if not out.empty:
        out = out.sort_values(["series", "step"], na_position="first", kind="stable").reset_index(drop=True)
    return out


def gaps(table: pd.DataFrame, reps: int = 2000) -> pd.DataFrame:
    """Generalization gaps per policy: source world − each zero-shot (adapter, domain), and train − heldout."""
    rows = []
    ordered = table[table["judged"] > 0].sort_values(["series", "step"], na_position="first", kind="stable")
    for policy, t in ordered.groupby("policy", sort=False):
        src = t[t["role"] == "source"]
        for (adapter, domain), z in t[t["role"] == "zeroshot"].groupby(["adapter", "domain"]):
            if not src.empty:
                rows.append({"policy": policy, "kind": "source − zero-shot",
                             "versus": f"{adapter}/{domain}",
                             "gap": stats.gap(src["successes"], src["judged"], z["successes"], z["judged"], reps)})
        train, held = t[t["split"] == "train"], t[t["split"] == "heldout"]
        if not train.empty and not held.empty:
            rows.append({"policy": policy, "kind": "train − heldout", "versus": "heldout split",
                         "gap": stats.gap(train["successes"], train["judged"], held["successes"], held["judged"],
                                          reps)})
    return pd.DataFrame(rows, columns=["policy", "kind", "versus", "gap"])


def by_world(table: pd.DataFrame) -> pd.DataFrame:
    """Per policy × adapter × domain (role): pooled successes/n with Wilson bounds and mean normalized score."""
    g = table.groupby(["policy", "series", "step", "adapter", "domain", "role"], dropna=False, sort=False)
    out = g.agg(episodes=("episodes", "sum"), judged=("judged", "sum"), successes=("successes", "sum"),
                errors=("errors", "sum"), unjudged=("unjudged", "sum"),
                normalized=("normalized", "mean")).reset_index()
    out["rate"], out["low"], out["high"] = stats.wilson(out["successes"], out["judged"])
    return out.sort_values(["series", "step", "adapter", "domain"], na_position="first", kind="stable")
