"""Report figures (matplotlib, headless): success vs step, one heat map, interval estimates, profiles, goal gallery.

Each function writes one PNG atomically (harness/atomic.py) and returns its path, or None when the data has nothing
to show. Checkpoints are ordered by training step (numbers, not strings); worlds source first.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["text.parse_math"] = False  # labels are data: a '$' in a checkpoint's name is text, not TeX
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from harness.atomic import atomic_path  # noqa: E402
from reports import stats  # noqa: E402
from reports.stats import Interval  # noqa: E402

DPI = 110


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def success_vs_step(world: pd.DataFrame, out: Path) -> Path | None:
    """Success vs training step per world (Wilson bands), one panel per series, with the random and oracle rates
    of each world as dotted and dashed reference lines."""
    series = world[world["step"].notna() & (world["judged"] > 0)]
    if series.empty:
        return None
    names = sorted(series["series"].unique())
    base = world[world["kind"].isin(["random", "oracle"]) & (world["judged"] > 0)]
    fig, axes = plt.subplots(1, len(names), figsize=(5.8 * len(names), 3.9), squeeze=False)
    for ax, name in zip(axes[0], names):
        s = series[series["series"] == name]
        worlds = s.drop_duplicates(["adapter", "domain", "role"]).sort_values(
            ["role", "adapter", "domain"], key=lambda c: c.map({"source": 0}).fillna(1) if c.name == "role" else c)
        for _, w in worlds.iterrows():
            t = s[(s["adapter"] == w["adapter"]) & (s["domain"] == w["domain"])].sort_values("step")
            line, = ax.plot(t["step"], t["rate"], "-" if w["role"] == "source" else "--", marker="o",
                            label=f"{w['adapter']}/{w['domain']} ({w['role']})")
            ax.fill_between(t["step"], t["low"], t["high"], alpha=0.18, color=line.get_color())
            for kind, style in (("random", ":"), ("oracle", "-.")):
                b = base[(base["kind"] == kind) & (base["adapter"] == w["adapter"]) & (base["domain"] == w["domain"])]
                if len(b):
                    ax.axhline(b["successes"].sum() / b["judged"].sum(), color=line.get_color(), ls=style, lw=1,
                               alpha=0.8)
        ax.set(title=f"{name}: success vs training step", xlabel="training step", ylabel="success rate",
               ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.plot([], [], "k:", lw=1, label="random (reference)")
        ax.plot([], [], "k-.", lw=1, label="oracle (reference)")
        ax.legend(fontsize=7)
    return _save(fig, out)


def heatmap(matrix: pd.DataFrame, out: Path) -> Path | None:
    """One heat map of the transfer matrix: policy (rows, in order) × world × interaction, success with k/n."""
    m = matrix[matrix["judged"] > 0]
    if m.empty:
        return None
    role = m["role"].map({"source": " (source)", "zeroshot": " (zero-shot)"}).fillna("")
    m = m.assign(world=m["adapter"] + "/" + m["domain"] + role)
    m = m.assign(col=m["world"] + "\n" + m["interaction"])
    rows = list(dict.fromkeys(m.sort_values("policy_order")["policy"]))
    cols = list(dict.fromkeys(m.sort_values(["world_order", "interaction"])["col"]))
    k = m.pivot_table(index="policy", columns="col", values="successes", aggfunc="sum").reindex(rows)[cols]
    n = m.pivot_table(index="policy", columns="col", values="judged", aggfunc="sum").reindex(rows)[cols]
    rate = (k / n).to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(1.25 * len(cols) + 2.8, 0.42 * len(rows) + 2.2))
    im = ax.imshow(rate, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), [c.split("\n")[1] for c in cols], fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isfinite(rate[i, j]):
                ax.text(j, i, f"{rate[i, j]:.0%}\n{int(k.iat[i, j])}/{int(n.iat[i, j])}", ha="center",
                        va="center", color="white" if rate[i, j] < 0.6 else "black", fontsize=6.5)
    worlds = [c.split("\n")[0] for c in cols]
    start = 0
    for j in range(1, len(cols) + 1):
        if j == len(cols) or worlds[j] != worlds[j - 1]:  # the world's name over its columns, a rule between
            ax.text((start + j - 1) / 2, -0.6, textwrap.fill(worlds[start], 26), ha="center", va="bottom",
                    fontsize=7.5)
            if j < len(cols):
                ax.axvline(j - 0.5, color="white", lw=3)
            start = j
    ax.set_title("success by policy × world × interaction (k/n judged episodes)", fontsize=10, pad=30)
    fig.colorbar(im, ax=ax, fraction=0.03, label="success rate")
    return _save(fig, out)


def intervals(table: pd.DataFrame, columns: list[str], out: Path, xlabel: str, title: str) -> Path | None:
    """Point estimates with 95% intervals, one row per policy, one panel per column of Interval values."""
    if table.empty:
        return None
    fig, axes = plt.subplots(1, len(columns), figsize=(4.6 * len(columns), 0.36 * len(table) + 1.6), sharey=True,
                             squeeze=False)
    y = np.arange(len(table))
    for ax, key in zip(axes[0], columns):
        iv: list[Interval] = table[key].tolist()
        v = np.array([i.value for i in iv])
        err = np.array([[i.value - i.low for i in iv], [i.high - i.value for i in iv]])
        ax.errorbar(v, y, xerr=np.clip(np.nan_to_num(err), 0, None), fmt="o", capsize=3)
        ax.set(title=key, xlabel=xlabel)
        ax.grid(alpha=0.3)
    axes[0][0].set_yticks(y, table["policy"])
    axes[0][0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    return _save(fig, out)


def profiles(cells: pd.DataFrame, order: list[str], out: Path) -> Path | None:
    """Performance profiles over zero-shot tasks: fraction of tasks with success above τ, per policy, 95% bands."""
    t = cells[(cells["judged"] > 0) & (cells["role"] == "zeroshot")]
    if t.empty:
        return None
    taus = np.linspace(0, 1, 41)
    fig, ax = plt.subplots(figsize=(6.2, 4))
    for policy in [p for p in order if p in set(t["policy"])]:
        p = t[t["policy"] == policy]
        point, lo, hi = stats.profile_with_bands(p["successes"].to_numpy(), p["judged"].to_numpy(), taus, reps=500)
        line, = ax.plot(taus, point, label=policy)
        ax.fill_between(taus, lo, hi, alpha=0.12, color=line.get_color())
    ax.set(xlabel="success rate τ", ylabel="fraction of zero-shot tasks with success > τ",
           title="zero-shot performance profiles")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, out)


def _pick(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """Up to ``n`` rows, spread over the goal modalities present (each kind of goal is shown)."""
    if rows.empty:
        return rows
    goals = rows["goal"].fillna("cross_view") if "goal" in rows else pd.Series("cross_view", index=rows.index)
    kinds = sorted(goals.unique())
    parts = [rows[goals == g].sample(min(max(1, n // len(kinds)), int((goals == g).sum())), random_state=0)
             for g in kinds]
    return pd.concat(parts)[:n]


def gallery(rows: pd.DataFrame, thumbs: dict[str, Path], out: Path, per_side: int = 6) -> Path | None:
    """Agent's last frame beside the goal as given — goal image (target outlined), a strip of a video goal's frames,
    or a language goal's words under the frame — for some successes and failures of every goal modality."""
    have = rows[rows["episode_id"].isin(thumbs)]
    wins = _pick(have[have["win"]], per_side)
    losses = _pick(have[~have["win"] & have["judged"]], per_side)
    picked = [("success", r) for _, r in wins.iterrows()] + [("failure", r) for _, r in losses.iterrows()]
    if not picked:
        return None
    import textwrap

    import imageio.v3 as iio

    cols = 3
    rows_n = -(-len(picked) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 2.3 * rows_n + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, r) in zip(axes.flat, picked):
        ax.imshow(iio.imread(thumbs[r["episode_id"]]))
        goal = r.get("goal") or "cross_view"
        ax.set_title(f"{label}: {r['policy']} {r['domain']} {r['interaction']} [{goal.replace('_', '-')}]",
                     fontsize=8, color="green" if label == "success" else "red")
        if isinstance(r.get("instruction"), str) and goal == "language":
            ax.text(0.0, -0.04, textwrap.fill(f"“{r['instruction']}”", 60), transform=ax.transAxes, fontsize=7,
                    va="top")
    fig.suptitle("last agent frame | goal: image with target outlined, video frames, or the instruction below",
                 fontsize=9)
    return _save(fig, out)
