"""Report figures (matplotlib, headless): learning curves, heat maps, interval estimates, profiles, goal gallery.

Each function writes one PNG and returns its path, or None when the data has nothing to show.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["text.parse_math"] = False  # labels are data: a '$' in a checkpoint's name is text, not TeX
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from harness.atomic import atomic_path  # noqa: E402
from reports import stats  # noqa: E402

DPI = 110


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:  # never a half-written PNG under the final name
            fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def success_vs_step(world: pd.DataFrame, out: Path) -> Path | None:
    """Success rate vs training step, one line per (adapter, domain), Wilson bands; one panel per series."""
    series = world[world["step"].notna()]
    if series.empty:
        return None
    names = sorted(series["series"].unique())
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        for (adapter, domain, role), t in series[series["series"] == name].groupby(["adapter", "domain", "role"]):
            t = t.sort_values("step")
            style = "-" if role == "source" else "--"
            line, = ax.plot(t["step"], t["rate"], style, marker="o", label=f"{adapter}/{domain} ({role})")
            ax.fill_between(t["step"], t["low"], t["high"], alpha=0.2, color=line.get_color())
        ax.set(title=f"{name}: success vs training step", xlabel="training step", ylabel="success rate",
               ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, out)


def heatmap(table: pd.DataFrame, policy: str, out: Path) -> Path | None:
    """Success rate per (adapter/domain) × interaction for one policy."""
    t = table[(table["policy"] == policy) & (table["judged"] > 0)]
    if t.empty:
        return None
    t = t.assign(world=t["adapter"] + "/" + t["domain"])
    k = t.pivot_table(index="world", columns="interaction", values="successes", aggfunc="sum")
    n = t.pivot_table(index="world", columns="interaction", values="judged", aggfunc="sum")
    rate = k / n
    fig, ax = plt.subplots(figsize=(1.6 * rate.shape[1] + 2.5, 0.7 * rate.shape[0] + 1.6))
    im = ax.imshow(rate.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(rate.shape[1]), rate.columns)
    ax.set_yticks(range(rate.shape[0]), rate.index)
    for i in range(rate.shape[0]):
        for j in range(rate.shape[1]):
            if np.isfinite(rate.iat[i, j]):
                ax.text(j, i, f"{rate.iat[i, j]:.0%}\n{int(k.iat[i, j])}/{int(n.iat[i, j])}", ha="center",
                        va="center", color="white" if rate.iat[i, j] < 0.6 else "black", fontsize=8)
    ax.set_title(f"{policy}: success by world × interaction")
    fig.colorbar(im, ax=ax, fraction=0.04)
    return _save(fig, out)


def intervals(summary: pd.DataFrame, out: Path, normalized: bool = False) -> Path | None:
    """Mean and IQM across tasks with bootstrap intervals, one row per policy."""
    if summary.empty:
        return None
    keys = ("norm_mean", "norm_iqm") if normalized else ("mean", "iqm")
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.38 * len(summary) + 1.5), sharey=True)
    y = np.arange(len(summary))
    for ax, key in zip(axes, keys):
        iv = summary[key].tolist()
        v = np.array([i.value for i in iv])
        err = np.array([[i.value - i.low for i in iv], [i.high - i.value for i in iv]])
        ax.errorbar(v, y, xerr=np.nan_to_num(err), fmt="o", capsize=3)
        ax.set(title=key.replace("norm_", "normalized ").upper() if key.endswith("iqm") else key.replace("_", " "),
               xlabel="normalized score" if normalized else "success rate")
        ax.grid(alpha=0.3)
    axes[0].set_yticks(y, summary["policy"])
    axes[0].invert_yaxis()
    return _save(fig, out)


def profiles(table: pd.DataFrame, out: Path) -> Path | None:
    """Performance profiles: fraction of tasks with success above τ, per policy, with bootstrap bands."""
    t = table[table["judged"] > 0]
    if t.empty:
        return None
    taus = np.linspace(0, 1, 41)
    fig, ax = plt.subplots(figsize=(6, 4))
    for policy, p in t.groupby("policy", sort=False):
        point, lo, hi = stats.profile_with_bands(p["successes"].to_numpy(), p["judged"].to_numpy(), taus, reps=500)
        line, = ax.plot(taus, point, label=policy)
        ax.fill_between(taus, lo, hi, alpha=0.15, color=line.get_color())
    ax.set(xlabel="success rate τ", ylabel="fraction of tasks with success > τ", title="performance profiles")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, out)


def gallery(rows: pd.DataFrame, thumbs: dict[str, Path], out: Path, per_side: int = 6) -> Path | None:
    """Agent's last frame beside the goal with its mask, for a sample of successes and failures."""
    have = rows[rows["episode_id"].isin(thumbs)]
    wins = have[have["win"]].sample(min(per_side, int(have["win"].sum())), random_state=0)
    losses = have[~have["win"] & have["judged"]]
    losses = losses.sample(min(per_side, len(losses)), random_state=0)
    picked = [("success", r) for _, r in wins.iterrows()] + [("failure", r) for _, r in losses.iterrows()]
    if not picked:
        return None
    import imageio.v3 as iio

    cols = 3
    rows_n = -(-len(picked) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 1.9 * rows_n + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, r) in zip(axes.flat, picked):
        ax.imshow(iio.imread(thumbs[r["episode_id"]]))
        ax.set_title(f"{label}: {r['policy']} {r['domain']} {r['interaction']}", fontsize=8,
                     color="green" if label == "success" else "red")
    fig.suptitle("last agent frame | goal with target mask", fontsize=9)
    return _save(fig, out)
