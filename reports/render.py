"""The generalization report of one or more runs: ``index.html`` with figures and tables, ``summary.md``, CSVs.

Works on a sweep still in progress (it reads what is stored). Episodes nobody could judge and errored episodes are
counted in the provenance section, never scored; normalized scores are left out, with a note, where the random or
oracle baseline is missing for a task.
"""

from __future__ import annotations

import html
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports import plots, tables
from reports.stats import Interval

CSS = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.25rem .5rem}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:.3rem 0}.note{color:#8a5a00}
pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:.75rem}code{font-size:.85rem}"""


def _fmt(v: Any) -> str:
    if isinstance(v, Interval):
        return v.fmt(pct=True)
    if isinstance(v, (float, np.floating)):
        return "-" if not np.isfinite(v) else f"{v:.3g}"
    return str(v)


def _display(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Format intervals: success rates as percentages, normalized scores as fractions of the oracle's."""
    if df.empty:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame({c: df[c].map(lambda v, c=c: v.fmt(pct=not c.startswith("norm_"))
                                      if isinstance(v, Interval) else _fmt(v)) for c in cols})


def _rate(row: pd.Series) -> str:
    if row["judged"] == 0:
        return "no judged episodes"
    return f"{int(row['successes'])}/{int(row['judged'])} = {row['rate']:.0%} [{row['low']:.0%}, {row['high']:.0%}]"


def world_table(world: pd.DataFrame) -> pd.DataFrame:
    """The headline table: per policy × world, successes/n with Wilson interval and normalized score."""
    out = world.copy()
    out["success (95% Wilson)"] = out.apply(_rate, axis=1)
    out["normalized"] = out["normalized"].map(lambda v: "-" if not np.isfinite(v) else f"{v:.2f}")
    return out[["policy", "adapter", "domain", "role", "success (95% Wilson)", "normalized", "unjudged", "errors"]]


def build(runs: list[str | Path], out: str | Path | None = None, reps: int = 2000) -> Path:
    """Write the report; returns the path of ``index.html``."""
    df, kinds, metas = tables.load_runs(runs)
    out_dir = Path(out) if out else Path(runs[0]) / "report"
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    cell = tables.with_normalized(tables.cells(df), kinds)
    world = tables.by_world(cell)
    summary = tables.policy_summary(cell, reps=reps)
    gap = tables.gaps(cell, reps=reps)

    figures: list[tuple[str, Path]] = []
    for title, path in [("Success vs checkpoint step", plots.success_vs_step(world, fig_dir / "success_vs_step.png")),
                        ("Mean and IQM across tasks (95% stratified bootstrap)",
                         plots.intervals(summary, fig_dir / "intervals.png")),
                        ("Normalized score (random = 0, oracle = 1)",
                         plots.intervals(summary, fig_dir / "intervals_normalized.png", normalized=True)
                         if not summary.empty and summary["norm_mean"].map(lambda i: np.isfinite(i.value)).any()
                         else None),
                        ("Performance profiles", plots.profiles(cell, fig_dir / "profiles.png"))]:
        if path is not None:
            figures.append((title, path))
    for policy in cell["policy"].unique():
        path = plots.heatmap(cell, policy, fig_dir / f"heatmap_{_slug(policy)}.png")
        if path is not None:
            figures.append((f"{policy}: world × interaction", path))
    thumbs = {p.stem: p for m in metas for p in (Path(m["run"]) / "thumbs").glob("*.png")}
    path = plots.gallery(df, thumbs, fig_dir / "gallery.png")
    if path is not None:
        figures.append(("Goal gallery: successes and failures", path))

    _write_csv(cell, out_dir / "cells.csv")
    _write_csv(world, out_dir / "worlds.csv")
    _write_csv(_display(summary, list(summary.columns)), out_dir / "policies.csv")
    _write_csv(_display(gap, list(gap.columns)), out_dir / "gaps.csv")
    notes = _notes(df, cell)
    _atomic_text(out_dir / "summary.md", _markdown(world, summary, gap, notes, runs))
    index = out_dir / "index.html"
    _atomic_text(index, _html(world, summary, gap, figures, notes, metas, df, out_dir))
    return index


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _notes(df: pd.DataFrame, cell: pd.DataFrame) -> list[str]:
    notes = []
    unjudged = int((~df["judged"] & ~df["errored"]).sum())
    errored = int(df["errored"].sum())
    if unjudged:
        notes.append(f"{unjudged} episode(s) could not be judged (success unknown): counted, not scored.")
    if errored:
        by = df[df["errored"]]["status"].value_counts().to_dict()
        notes.append(f"{errored} episode(s) ended in errors ({', '.join(f'{k} {v}' for k, v in by.items())}): "
                     "counted, not scored.")
    missing = cell[(cell["judged"] > 0) & cell["normalized"].isna()]
    if not missing.empty:
        notes.append(f"Normalized score left out for {missing[tables.TASK].drop_duplicates().shape[0]} task(s): "
                     "the random or oracle baseline is missing there, or the oracle did not beat random.")
    if cell["judged"].eq(0).any():
        notes.append(f"{int(cell['judged'].eq(0).sum())} cell(s) have no judged episode and show no rate.")
    return notes


def _markdown(world: pd.DataFrame, summary: pd.DataFrame, gap: pd.DataFrame, notes: list[str],
              runs: list[str | Path]) -> str:
    lines = [f"# crossview report: {', '.join(str(r) for r in runs)}", ""]
    lines += ["## Success per policy and world", "", world_table(world).to_markdown(index=False), ""]
    if not summary.empty:
        lines += ["## Across tasks (95% stratified bootstrap)", "",
                  _display(summary, ["policy", "tasks", "episodes", "mean", "iqm", "norm_mean", "norm_iqm"])
                  .to_markdown(index=False), ""]
    if not gap.empty:
        lines += ["## Generalization gaps", "", _display(gap, ["policy", "kind", "versus", "gap"])
                  .to_markdown(index=False), ""]
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)


def _html(world: pd.DataFrame, summary: pd.DataFrame, gap: pd.DataFrame, figures: list[tuple[str, Path]],
          notes: list[str], metas: list[dict[str, Any]], df: pd.DataFrame, out_dir: Path) -> str:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>crossview report</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>crossview generalization report</h1><p>{len(df)} episodes from "
             f"{esc(', '.join(m['run'] for m in metas))}; generated {time.strftime('%Y-%m-%d %H:%M:%S')}.</p>"]
    parts += ["<h2>Success per policy and world</h2>", world_table(world).to_html(index=False)]
    if not summary.empty:
        parts += ["<h2>Across tasks</h2><p>Mean and interquartile mean of per-task success, 95% stratified "
                  "bootstrap intervals; normalized with random = 0 and oracle = 1 on each task.</p>",
                  _display(summary, ["policy", "tasks", "episodes", "mean", "iqm", "norm_mean", "norm_iqm"])
                  .to_html(index=False)]
    if not gap.empty:
        parts += ["<h2>Generalization gaps</h2><p>Mean per-task success in the first group minus the second; "
                  "positive means the policy loses success when it leaves its source world or split.</p>",
                  _display(gap, ["policy", "kind", "versus", "gap"]).to_html(index=False)]
    for title, path in figures:
        parts.append(f"<h2>{esc(title)}</h2><img src='{esc(os.path.relpath(path, out_dir))}' alt='{esc(title)}'>")
    videos = df[df["video"].notna()].head(60)
    if not videos.empty:
        parts.append("<h2>Episode videos</h2><ul>")
        for meta in metas:
            for _, r in videos.iterrows():
                target = Path(meta["run"]) / str(r["video"])
                if target.is_file():
                    parts.append(f"<li><a href='{esc(os.path.relpath(target, out_dir))}'>{esc(r['policy'])} "
                                 f"{esc(r['domain'])} {esc(r['interaction'])} seed {r['seed']}: {esc(r['status'])}"
                                 "</a></li>")
        parts.append("</ul>")
    parts.append("<h2>Provenance</h2>")
    counts = df["status"].value_counts().to_dict()
    parts.append(f"<p>By status: {esc(', '.join(f'{k} {v}' for k, v in counts.items()))}.</p>")
    parts += [f"<p class='note'>{esc(n)}</p>" for n in notes]
    for meta in metas:
        planned = len(meta.get("plan_ids") or [])
        parts.append(f"<h3>{esc(meta['run'])}</h3><p>planned {planned}; git {esc(json.dumps(meta.get('git')))}</p>"
                     f"<details><summary>config, versions, machine</summary><pre>"
                     f"{esc(json.dumps({k: meta.get(k) for k in ('config', 'versions', 'machine')}, indent=2))}"
                     "</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)
