"""The generalization report of one or more runs: ``index.html`` with figures and tables, ``summary.md``, CSVs.

The page opens with the transfer matrix (checkpoint × world × interaction), then the zero-shot aggregates and the
gap to the source world, then paired comparisons of each checkpoint with the previous one. Works on a sweep still
in progress (it says so at the top). Everything is computed from the store's tallies (harness/counts.py). A rebuild
first replaces the page with a notice, so a rebuild that fails never leaves an older page looking current.
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

from harness.atomic import clear_stale, write_text
from harness.counts import MergedRuns
from harness.errors import CrossviewError
from harness.store import DB_NAME
from reports import compare, plots, tables
from reports.definitions import DEFINITIONS
from reports.stats import Interval

CSS = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1300px;color:#222}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.2rem .45rem}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:.3rem 0}.note{color:#8a5a00}
.warn{background:#fff4d6;border:1px solid #e0b84c;padding:.5rem .8rem}pre{background:#f7f7f7;padding:.6rem;
overflow:auto;font-size:.75rem}dt{font-weight:600;margin-top:.4rem}"""


def _fmt(v: Any, col: str = "") -> str:
    if isinstance(v, Interval):
        return v.fmt(pct="normalized" not in col)
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}" if np.isfinite(v) else "-"
    return str(v)


def display(df: pd.DataFrame) -> pd.DataFrame:
    """Intervals as text (success in %, normalized scores as fractions of the oracle's), numbers rounded."""
    return pd.DataFrame({c: [_fmt(v, c) for v in df[c]] for c in df.columns}, index=df.index)


def _cell_text(r: pd.Series) -> str:
    if r["judged"] == 0:
        return f"no judged ({int(r['episodes'])} ep.)"
    return f"{int(r['successes'])}/{int(r['judged'])} {r['rate']:.0%} [{r['low']:.0%}, {r['high']:.0%}]"


def matrix_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """The transfer matrix for display: one row per policy, columns world (role) × interaction."""
    m = matrix.assign(text=[_cell_text(r) for _, r in matrix.iterrows()],
                      world=matrix["adapter"] + "/" + matrix["domain"] + " (" + matrix["role"].map(
                          {"source": "source", "zeroshot": "zero-shot"}).fillna(matrix["role"]) + ")")
    cols = list(dict.fromkeys(zip(m.sort_values(["world_order", "interaction"])["world"],
                                  m.sort_values(["world_order", "interaction"])["interaction"])))
    rows = list(dict.fromkeys(m.sort_values("policy_order")["policy"]))
    wide = m.pivot_table(index="policy", columns=["world", "interaction"], values="text", aggfunc="first")
    wide = wide.reindex(index=rows, columns=pd.MultiIndex.from_tuples(cols, names=["world", "interaction"]))
    return wide.fillna("-")


def build(runs: list[str | Path], out: str | Path | None = None, reps: int = 2000) -> Path:
    """Write the report; returns the path of ``index.html``. On failure the page says the rebuild failed."""
    for run in runs:  # before anything is written: a mistyped folder creates nothing
        if not (Path(run) / DB_NAME).is_file():
            raise CrossviewError(f"{run} is not a crossview run: {DB_NAME} is missing (run 'crossview sweep' first, "
                                 "or give the run's folder)")
    out_dir = Path(out) if out else Path(runs[0]) / "report"
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    clear_stale(out_dir)
    index = out_dir / "index.html"
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    _notice(index, f"This report is being rebuilt (started {started}). If this page stays, the rebuild failed: "
                   "run 'crossview report' again and read its error.")
    try:
        return _build(runs, out_dir, fig_dir, index, reps)
    except BaseException as exc:
        _notice(index, f"The report rebuild started {started} failed ({type(exc).__name__}: {exc}). No results are "
                       "shown so that an older report is not mistaken for the current one.")
        raise


def _notice(index: Path, text: str) -> None:
    write_text(index, f"<!doctype html><html><head><meta charset='utf-8'><title>crossview report</title>"
                      f"<style>{CSS}</style></head><body><h1>crossview report</h1><p class='warn'>"
                      f"{html.escape(text)}</p></body></html>")
    md = index.with_name("summary.md")
    if md.exists():
        md.unlink()


def _build(runs: list[str | Path], out_dir: Path, fig_dir: Path, index: Path, reps: int) -> Path:
    with MergedRuns(runs) as merged:
        counts = merged.counts()
        if counts.cells.empty:
            raise CrossviewError(f"no episodes stored yet in {', '.join(str(r) for r in runs)}: run the sweep first")
        cells = tables.with_baselines(counts)
        kinds = counts.kinds
        comparisons = compare.comparison_table(merged, cells, kinds, reps=reps)
        modalities = compare.comparison_table(merged, cells, kinds, reps=reps,
                                              pairs=compare.modality_pairs(cells, kinds))
        thumbs = {p.stem: p for m in counts.metas for p in sorted((Path(m["run"]) / "thumbs").glob("*.png"))[:400]}
        videos = {p.stem: p for m in counts.metas for p in sorted((Path(m["run"]) / "videos").glob("*.mp4"))[:60]}
        shown = merged.episodes([*thumbs, *videos])
    matrix = tables.transfer_matrix(cells, kinds)
    world = tables.by_world(cells, kinds)
    zero = tables.zero_shot_summary(cells, kinds, reps=reps)
    gaps = tables.world_gaps(cells, kinds, reps=reps)
    pooled = tables.summary(cells, kinds, reps=reps)
    ranks = compare.rank_agreement(world)
    mde = compare.detectable(world)
    notes = tables.incomplete(counts, cells) + _notes(counts, cells)

    order = tables.order_policies(cells, kinds)
    figures: list[tuple[str, Path | None]] = [
        ("Success by policy × world × interaction", plots.heatmap(matrix, fig_dir / "heatmap.png")),
        ("Success vs checkpoint step (random and oracle as reference lines)",
         plots.success_vs_step(world, fig_dir / "success_vs_step.png")),
        ("Zero-shot tasks: mean and IQM (95% intervals)",
         plots.intervals(zero[zero["zero-shot tasks"] > 0], ["mean", "iqm"], fig_dir / "zeroshot.png",
                         "success rate", "zero-shot tasks only")),
        ("Zero-shot tasks: normalized score (random = 0, oracle = 1)",
         plots.intervals(zero[zero["normalized mean"].map(lambda i: np.isfinite(i.value))],
                         ["normalized mean", "normalized iqm"], fig_dir / "zeroshot_normalized.png",
                         "normalized score", "zero-shot tasks only")),
        ("Zero-shot performance profiles", plots.profiles(cells, order, fig_dir / "profiles.png")),
        ("Goal gallery: successes and failures", plots.gallery(shown, thumbs, fig_dir / "gallery.png")),
    ]
    figures_kept = [(t, p) for t, p in figures if p is not None]
    for stale in fig_dir.glob("*.png"):  # figures an earlier build made and this one did not
        if stale not in {p for _, p in figures_kept}:
            stale.unlink()

    for name, frame in (("cells.csv", cells), ("matrix.csv", matrix), ("zeroshot.csv", display(zero)),
                        ("comparisons.csv", display(comparisons)), ("modalities.csv", display(modalities)),
                        ("gaps.csv", display(gaps)),
                        ("rank_agreement.csv", ranks), ("detectable.csv", mde), ("policies.csv", display(pooled))):
        write_text(out_dir / name, frame.to_csv(index=False))
    sections = _sections(matrix, zero, comparisons, ranks, mde, gaps, pooled)
    if len(modalities):
        sections.insert(2, ("Does the agent transfer as well when told in words or shown a clip?", "The same "
                            "episodes (task, target, seed, index) given as a cross-view goal and as another goal "
                            "modality (the name's [bracket]), both judged: B is the cross-view side, or the same "
                            "training step of a cross-view series. A − B with Newcombe's paired 95% interval, exact "
                            "McNemar p (Holm over this table), P(A > B).", display(modalities), False))
    write_text(out_dir / "summary.md", _markdown(sections, notes, runs))
    write_text(index, _html(sections, figures_kept, notes, counts, shown, videos, out_dir))
    return index


def _notes(counts: Any, cells: pd.DataFrame) -> list[str]:
    notes = []
    unjudged, errors = int(cells["unjudged"].sum()), int(cells["errors"].sum())
    if unjudged:
        notes.append(f"{unjudged} episode(s) could not be judged (success unknown): counted, not scored.")
    if errors:
        by = {k: v for k, v in counts.statuses.items() if k in ("env_error", "policy_error")}
        notes.append(f"{errors} episode(s) ended in errors ({', '.join(f'{k} {v}' for k, v in by.items())}): "
                     "counted, not scored.")
    missing = cells[(cells["judged"] > 0) & cells["normalized"].isna()]
    if len(missing):
        notes.append(f"Normalized score left out for {missing[list(tables.TASK)].drop_duplicates().shape[0]} "
                     "task(s): a baseline is missing there, or oracle − random is below the minimum span "
                     f"({tables.stats.MIN_SPAN:.0%}).")
    if cells["judged"].eq(0).any():
        notes.append(f"{int(cells['judged'].eq(0).sum())} cell(s) have no judged episode and show no rate.")
    return notes


Section = tuple[str, str, pd.DataFrame, bool]  # title, explanation, table, keep the index


def _sections(matrix: pd.DataFrame, zero: pd.DataFrame, comparisons: pd.DataFrame, ranks: pd.DataFrame,
              mde: pd.DataFrame, gaps: pd.DataFrame, pooled: pd.DataFrame) -> list[Section]:
    out: list[Section] = [
        ("Transfer matrix", "Successes / judged episodes, success rate and 95% Wilson interval, per checkpoint "
         "(ordered by training step; baselines last) × world (source first) × interaction, pooled over "
         "difficulties and splits.", matrix_table(matrix), True),
        ("Zero-shot aggregates and gap to the source world", "Over zero-shot tasks only: mean and IQM of per-task "
         "success and of normalized score (random = 0, oracle = 1), 95% intervals; the gap is mean success on "
         "source tasks minus on zero-shot tasks (Newcombe interval). Positive gap: success lost on leaving the "
         "source world.", display(zero), False),
    ]
    if len(comparisons):
        out.append(("Is each checkpoint better than the previous one?", "Paired on identical episodes (same task, "
                    "target, seed, index), both judged. A − B with Newcombe's paired 95% interval; exact McNemar "
                    "p, Holm-adjusted over every row of this table; P(A > B) with a 95% interval.",
                    display(comparisons), False))
    if len(ranks):
        out.append(("Does the source world pick the best checkpoint for each zero-shot world?", "Kendall τ-b "
                    "between the checkpoints' success in the source world and in each zero-shot world (1: same "
                    "order), and SimplerEnv's mean maximum rank violation (0: no violation; in success rate).",
                    display(ranks), False))
    if len(mde):
        out.append(("How small a difference can these episodes detect?", "Two policies' success differing by less "
                    "than the detectable difference would go unnoticed (two-sided 5% test, 80% power, normal "
                    "approximation at the world's mean rate).", display(mde), False))
    if len(gaps):
        out.append(("Generalization gaps per world", "Mean per-task success on source tasks minus on one zero-shot "
                    "world's tasks, and train − heldout split: GenRL's in-distribution vs generalization (held-out "
                    "scenes and, for language goals, held-out phrasings never seen in training); Newcombe 95% "
                    "intervals.", display(gaps), False))
    if len(pooled):
        out.append(("All tasks pooled (source and zero-shot together)", "For reference only: mixes source and "
                    "zero-shot tasks, so it does not answer the zero-shot question.",
                    display(pooled.drop(columns=["series", "step"])), False))
    return out


def _markdown(sections: list[Section], notes: list[str], runs: list[str | Path]) -> str:
    lines = [f"# crossview report: {', '.join(str(r) for r in runs)}", ""]
    if notes:
        lines += ["**Read first:**", "", *[f"- {n}" for n in notes], ""]
    for title, text, table, keep_index in sections:
        frame = table.copy()
        if isinstance(frame.columns, pd.MultiIndex):
            frame.columns = [" ".join(c) for c in frame.columns]
        lines += [f"## {title}", "", text, "", frame.to_markdown(index=keep_index), ""]
    return "\n".join(lines)


def _html(sections: list[Section], figures: list[tuple[str, Path]], notes: list[str], counts: Any,
          shown: pd.DataFrame, videos: dict[str, Path], out_dir: Path) -> str:
    esc = html.escape
    total = sum(counts.statuses.values())
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>crossview report</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>crossview generalization report</h1><p>{total:,} episodes from "
             f"{esc(', '.join(m['run'] for m in counts.metas))}; generated {time.strftime('%Y-%m-%d %H:%M:%S')}."
             "</p>"]
    if notes:
        parts.append("<div class='warn'><b>Read first:</b><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes)
                     + "</ul></div>")
    for i, (title, text, table, keep_index) in enumerate(sections):
        parts += [f"<h2>{esc(title)}</h2><p>{esc(text)}</p>", table.to_html(index=keep_index, escape=True)]
        if i == 1:  # figures after the headline tables
            for ftitle, path in figures:
                parts.append(f"<h3>{esc(ftitle)}</h3><img src='{esc(os.path.relpath(path, out_dir))}' "
                             f"alt='{esc(ftitle)}'>")
    if len(videos):
        parts.append("<h2>Episode videos</h2><ul>")
        by_id = shown.set_index("episode_id")
        for eid, path in videos.items():
            if eid in by_id.index:
                r = by_id.loc[eid]
                parts.append(f"<li><a href='{esc(os.path.relpath(path, out_dir))}'>{esc(str(r['policy']))} "
                             f"{esc(str(r['domain']))} {esc(str(r['interaction']))} seed {r['seed']}: "
                             f"{esc(str(r['status']))}</a></li>")
        parts.append("</ul>")
    parts.append("<h2>Definitions</h2><dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>"
                                                       for k, v in DEFINITIONS.items()) + "</dl>")
    parts.append("<h2>Provenance</h2>")
    parts.append(f"<p>By status: {esc(', '.join(f'{k} {v:,}' for k, v in sorted(counts.statuses.items())))}.</p>")
    for meta, state in zip(counts.metas, counts.runs):
        parts.append(f"<h3>{esc(meta['run'])}</h3><p>planned {state.planned:,}, stored {state.stored:,}; git "
                     f"{esc(json.dumps(meta.get('git')))}</p><details><summary>config, versions, machine</summary>"
                     f"<pre>{esc(json.dumps({k: meta.get(k) for k in ('config', 'versions', 'machine')}, indent=2))}"
                     "</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)
