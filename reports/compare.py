"""Paired comparisons on identical episodes (same task, target, seed and index), rank agreement across worlds, and
the smallest differences the episodes run can detect: for ``crossview compare`` and the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.counts import MergedRuns
from harness.errors import CrossviewError
from harness.spec import Modality
from harness.store import split_label
from reports import paired
from reports.tables import BASELINES, WORLD, order_policies

ROLES = ("source", "zeroshot")


def _filter(frame: pd.DataFrame, world: str | None, role: str | None) -> pd.DataFrame:
    """Rows of one world (``adapter`` or ``adapter/domain``) and/or one role."""
    if role is not None:
        if role not in ROLES:
            raise CrossviewError(f"--role {role!r}: use one of {', '.join(ROLES)}")
        frame = frame[frame["role"] == role]
    if world is not None:
        adapter, _, domain = world.partition("/")
        frame = frame[(frame["adapter"] == adapter) & ((frame["domain"] == domain) if domain else True)]
    return frame


def paired_result(runs: MergedRuns, a: str, b: str, world: str | None = None, role: str | None = None,
                  reps: int = 2000) -> paired.Paired:
    """A and B on the episodes both met and both were judged on, optionally in one world or role."""
    counts = _filter(runs.pairs([(a, b)]), world, role)
    return paired.compare(counts[["n00", "n01", "n10", "n11"]].to_numpy(), reps=reps)


def compare_policies(runs: list[str | Path], a: str, b: str, world: str | None = None, role: str | None = None,
                     reps: int = 2000) -> str:
    """A few lines for the terminal: rates, difference with interval, exact McNemar p, probability of improvement."""
    with MergedRuns(runs) as merged:
        counts = merged.counts()
        names = sorted(counts.cells["policy"].unique())
        for p in (a, b):
            if p not in names:
                raise CrossviewError(f"policy {p!r} is not in these runs: known policies are {', '.join(names)}")
        known = counts.cells
        if (world is not None or role is not None) and _filter(known, world, role).empty:
            worlds = sorted({f"{x}/{y}" for x, y in known[WORLD].itertuples(index=False)})
            raise CrossviewError(f"no episodes in world {world or 'any'} with role {role or 'any'}: worlds are "
                                 f"{', '.join(worlds)}; roles are source, zeroshot")
        result = paired_result(merged, a, b, world, role, reps)
    scope = " ".join(x for x in (f"world {world}" if world else "", f"role {role}" if role else "") if x) or "all"
    if result.pairs == 0:
        raise CrossviewError(f"{a!r} and {b!r} share no judged episode (same task, target, seed and index) in "
                             f"these runs ({scope})")
    d, poi = result.difference, result.improvement
    return "\n".join([
        f"paired comparison ({scope}) on {result.pairs} shared judged episodes over {result.tasks} tasks",
        f"  success A ({a}): {result.rate_a:.1%}    success B ({b}): {result.rate_b:.1%}",
        f"  difference A - B: {d.value:+.1%} [{d.low:+.1%}, {d.high:+.1%}] (95%, Newcombe paired)",
        f"  only A succeeded: {result.discordant[0]}   only B succeeded: {result.discordant[1]}   "
        f"exact McNemar p = {result.p_value:.3g}",
        f"  P(A beats B):     {poi.value:.2f} [{poi.low:.2f}, {poi.high:.2f}]",
    ])


def consecutive_pairs(cells: pd.DataFrame, kinds: dict[str, str]) -> list[tuple[str, str]]:
    """(later, earlier) checkpoint of each series, in step order: "is it better than the previous one?"."""
    order = order_policies(cells, kinds)
    steps = cells.drop_duplicates("policy").set_index("policy")
    out = []
    for _, group in steps[steps["step"].notna()].groupby("series", sort=True):
        names = [p for p in order if p in group.index]
        out += [(names[i + 1], names[i]) for i in range(len(names) - 1)]
    return out


def modality_pairs(cells: pd.DataFrame, kinds: dict[str, str]) -> list[tuple[str, str]]:
    """(other modality, cross-view) pairs on the same episodes: one policy under two goal modalities
    ("agent[language]" vs "agent"), and checkpoints of two series given different modalities at the same training
    step ("xview-lang@700[language]" vs "xview@700") or both the last of their series; without a cross-view side,
    any two modalities.
    The random and oracle baselines never read their goal, so they are left out."""
    first = cells.drop_duplicates("policy")[["policy", "goal", "step"]]
    first = first[~first["policy"].map(lambda p: kinds.get(p, kinds.get(p.split("@")[0], ""))).isin(BASELINES)]
    base = first["policy"].map(lambda p: split_label(p)[0])
    series = base.str.split("@").str[0] + "|" + first["goal"]
    last = first["step"].notna() & (first["step"] == first.groupby(series)["step"].transform("max"))
    rows = list(zip(first["policy"], first["goal"], first["step"], base, last))
    rank = {m.value: i for i, m in enumerate(Modality)}
    out = []
    for i, (a, ga, sa, ba, la) in enumerate(rows):
        for b, gb, sb, bb, lb in rows[i + 1:]:
            same_step = pd.notna(sa) and pd.notna(sb) and sa == sb
            if ga != gb and (ba == bb or same_step or (la and lb)):
                out.append((a, b) if rank.get(ga, 9) > rank.get(gb, 9) else (b, a))
    return out


def comparison_table(runs: MergedRuns, cells: pd.DataFrame, kinds: dict[str, str], reps: int = 2000,
                     pairs: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Each checkpoint against the previous one (or the given ``pairs``), on source and on zero-shot tasks: paired
    difference, exact McNemar p, its Holm adjustment over every row, and the probability of improvement."""
    pairs = consecutive_pairs(cells, kinds) if pairs is None else pairs
    counts = runs.pairs(pairs)
    rows = []
    for a, b in pairs:
        for role in ROLES:
            c = counts[(counts["a"] == a) & (counts["b"] == b) & (counts["role"] == role)]
            if c.empty:
                continue
            r = paired.compare(c[["n00", "n01", "n10", "n11"]].to_numpy(), reps=reps)
            rows.append({"A": a, "B": b, "tasks": "zero-shot" if role == "zeroshot" else "source",
                         "pairs": r.pairs, "A − B": r.difference, "p (McNemar)": r.p_value,
                         "P(A > B)": r.improvement})
    out = pd.DataFrame(rows, columns=["A", "B", "tasks", "pairs", "A − B", "p (McNemar)", "P(A > B)"])
    out.insert(6, "p (Holm)", paired.holm(out["p (McNemar)"].to_numpy(np.float64)))
    return out


def rank_agreement(world: pd.DataFrame) -> pd.DataFrame:
    """Per checkpoint series and zero-shot world: does the source world rank checkpoints as that world does?
    Kendall τ-b and SimplerEnv's MMRV of the source rates (proxy) against the world's rates."""
    rows = []
    ckpt = world[world["step"].notna() & (world["judged"] > 0)]
    for series, s in ckpt.groupby("series", sort=True):
        src = s[s["role"] == "source"].groupby("step")[["successes", "judged"]].sum()
        for (adapter, domain), z in s[s["role"] == "zeroshot"].groupby(WORLD, sort=True):
            zr = z.groupby("step")[["successes", "judged"]].sum()
            both = src.index.intersection(zr.index)
            if len(both) < 2:
                continue
            proxy = (src.loc[both, "successes"] / src.loc[both, "judged"]).to_numpy()
            real = (zr.loc[both, "successes"] / zr.loc[both, "judged"]).to_numpy()
            rows.append({"series": series, "zero-shot world": f"{adapter}/{domain}", "checkpoints": len(both),
                         "Kendall τ": paired.kendall_tau(proxy, real), "MMRV": paired.mmrv(proxy, real),
                         "best in source": f"@{int(both[np.argmax(proxy)])}",
                         "best there": f"@{int(both[np.argmax(real)])}"})
    return pd.DataFrame(rows)


def detectable(world: pd.DataFrame) -> pd.DataFrame:
    """Per world: judged episodes per policy (median), the minimum detectable difference between two policies at
    the world's mean rate, and the episodes per policy a 10-point difference would need."""
    rows = []
    for (adapter, domain, role), w in world[world["judged"] > 0].groupby([*WORLD, "role"], sort=False):
        n = float(np.median(w["judged"]))
        p = float(w["successes"].sum() / w["judged"].sum())
        rows.append({"world": f"{adapter}/{domain}", "role": role, "episodes per policy": int(n),
                     "mean rate": p, "detectable difference": float(paired.mde(p, n)),
                     "episodes for 10 points": int(paired.episodes_needed(p, 0.10))})
    out = pd.DataFrame(rows)
    return out.sort_values(["role", "world"], key=lambda c: c.map({"source": 0, "zeroshot": 1}) if c.name == "role"
                           else c, kind="stable") if len(out) else out
