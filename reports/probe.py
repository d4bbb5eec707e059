"""The probe report: accuracy per answerer × world × task with Wilson intervals, normalized by the random and
oracle answerers, the gap between source and zero-shot worlds, paired comparisons between answerers on the
same items, and an item gallery. ``report/index.html``, ``summary.md`` and ``accuracy.csv`` beside the probe
store, each published atomically; statistics are reports.stats' (counts come from SQL).

Unparseable replies are scored as wrong (and counted in their own column); errored answers are counted, never
scored. The normalized score uses the measured accuracy of the run's ``random`` answerer as 0 (chance, 1/choices,
where the run has none) and its ``depth-oracle`` as 1 (1.0 where none).
"""

from __future__ import annotations

import html
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.atomic import write_text
from harness.probe.items import LETTERS
from harness.probe.store import ProbeStore
from reports.render import CSS
from reports.stats import Interval, gap, normalized, paired_comparison, wilson


def accuracy_table(store: ProbeStore) -> pd.DataFrame:
    """One row per answerer × world × task: counts, accuracy with its Wilson interval, normalized score."""
    df = pd.DataFrame(store.accuracy_counts())
    if df.empty:
        return df
    kinds = store.get_meta("kinds") or {}
    df["world"] = df["adapter"] + "/" + df["domain"]
    df["kind"] = df["answerer"].map(kinds)
    p, lo, hi = wilson(df["correct"].to_numpy(), df["n"].to_numpy())
    df["accuracy"], df["low"], df["high"] = p, lo, hi
    key = ["world", "task"]

    def baseline(kind: str, default: pd.Series) -> pd.Series:
        rows = df[df["kind"] == kind].groupby(key)["accuracy"].mean()
        return df.set_index(key).index.map(lambda k: rows.get(k, np.nan)).to_series(index=df.index).fillna(default)

    df["floor"] = baseline("random", df["chance"])
    df["ceiling"] = baseline("depth-oracle", pd.Series(1.0, index=df.index))
    df["normalized"] = normalized(df["accuracy"], df["floor"], df["ceiling"])
    return df


def gaps(df: pd.DataFrame, reps: int = 2000) -> list[dict[str, Any]]:
    """Per answerer: mean task accuracy in the source worlds minus each zero-shot world (and all of them)."""
    out = []
    for answerer, sub in df.groupby("answerer"):
        src = sub[sub["role"] == "source"]
        if src.empty:
            continue
        others = [("all zero-shot worlds", sub[sub["role"] != "source"])]
        others += [(w, g) for w, g in sub[sub["role"] != "source"].groupby("world")]
        for name, other in others:
            if other.empty:
                continue
            iv = gap(src["correct"], src["n"], other["correct"], other["n"], reps=reps)
            out.append({"answerer": answerer, "source": ", ".join(sorted(src["world"].unique())), "versus": name,
                        "gap": iv})
    return out


def comparisons(store: ProbeStore, reps: int = 2000) -> list[dict[str, Any]]:
    """Every pair of answerers on the items both answered: accuracy difference, P(A beats B), paired bootstrap
    stratified by world × task."""
    rows = pd.DataFrame(store.paired_rows())
    out = []
    if rows.empty:
        return out
    wide = rows.pivot_table(index=["item_id", "stratum"], columns="answerer", values="correct").reset_index()
    names = sorted(rows["answerer"].unique())
    for a, b in itertools.combinations(names, 2):
        both = wide.dropna(subset=[a, b])
        if both.empty:
            continue
        res = paired_comparison(both[a].to_numpy(), both[b].to_numpy(), both["stratum"].to_numpy(), reps=reps)
        out.append({"a": a, "b": b, "items": res.pairs, "strata": res.tasks, "acc_a": res.rate_a,
                    "acc_b": res.rate_b, "difference": res.difference, "p_a_beats_b": res.improvement})
    return out


def _cell(v: Any) -> str:
    if isinstance(v, Interval):
        return v.fmt(pct=False)
    if isinstance(v, float):
        return "-" if not np.isfinite(v) else f"{v:.3f}"
    return str(v)


def _display(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    show = df[["answerer", "world", "role", "task", "correct", "n", "unparseable", "errors"]].copy()
    show["accuracy [95% Wilson]"] = [f"{p:.0%} [{lo:.0%}, {hi:.0%}]" if n else "-"
                                     for p, lo, hi, n in zip(df["accuracy"], df["low"], df["high"], df["n"])]
    show["normalized"] = [_cell(float(v)) for v in df["normalized"]]
    return show


def _table_html(records: list[dict[str, Any]]) -> str:
    if not records:
        return "<p class=note>nothing to show yet</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in records[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in r.values()) + "</tr>"
                   for r in records)
    return f"<table><tr>{head}</tr>{body}</table>"


def _gallery(store: ProbeStore, per_cell: int) -> str:
    items = store.items()
    replies: dict[str, list[str]] = {}
    for a in store.answers():
        mark = "✓" if a["correct"] == 1 else ("?" if a["status"] == "unparseable" else
                                                ("error" if a["status"] == "error" else "✗"))
        replies.setdefault(a["item_id"], []).append(f"{a['answerer']}: {(a['reply'] or '')[:40]} {mark}")
    shown: dict[tuple[str, str], int] = {}
    parts = []
    for it in items:
        cell = (f"{it['adapter']}/{it['domain']}", it["task"])
        if shown.get(cell, 0) >= per_cell:
            continue
        shown[cell] = shown.get(cell, 0) + 1
        imgs = "".join(f'<img src="../dataset/{html.escape(p)}" style="max-height:180px">' for p in it["images"])
        choices = "".join(f"<li{' style=font-weight:bold' if k == it['answer'] else ''}>({LETTERS[k]}) "
                          f"{html.escape(c)}</li>" for k, c in enumerate(it["choices"]))
        said = "<br>".join(html.escape(r) for r in replies.get(it["item_id"], []))
        parts.append(f"<div style='border-top:1px solid #ddd;padding:.5rem 0'><b>{html.escape(cell[0])} · "
                     f"{html.escape(cell[1])}</b> <code>{it['item_id']}</code><br>{imgs}<p>"
                     f"{html.escape(it['question'])}</p><ul>{choices}</ul><small>{said}</small></div>")
    return "".join(parts) or "<p class=note>no items yet</p>"


def build_probe_report(run_dir: str | Path, out: str | Path | None = None, gallery: int = 3,
                       reps: int = 2000) -> Path:
    """Write the report of a probe run; the path of its ``index.html``."""
    run_dir = Path(run_dir)
    folder = Path(out) if out else run_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    with ProbeStore(run_dir, create=False) as store:
        df = accuracy_table(store)
        gap_rows = gaps(df, reps) if not df.empty else []
        pairs = comparisons(store, reps)
        frames = store.frames()
        gallery_html = _gallery(store, gallery)
    shown = _display(df)
    notes = [f"{len(frames)} frames, {int(sum(f['items'] or 0 for f in frames))} items; "
             f"{sum(1 for f in frames if f['error'])} frames failed"]
    skipped: dict[str, int] = {}
    for f in frames:
        for task, n in json.loads(f["skipped"] or "{}").items():
            skipped[task] = skipped.get(task, 0) + n
    if skipped:
        notes.append("slots skipped as ambiguous or impossible: " + ", ".join(f"{k} {v}" for k, v in
                                                                             sorted(skipped.items())))
    records = shown.to_dict("records") if not shown.empty else []
    write_text(folder / "accuracy.csv", df.to_csv(index=False) if not df.empty else "answerer\n")
    md = ["# Probe report", "", *[f"- {n}" for n in notes], "", "## Accuracy per answerer × world × task", "",
          shown.to_markdown(index=False) if not shown.empty else "no answers yet", "", "## Source vs zero-shot", ""]
    md += [f"- {g['answerer']}: {g['source']} − {g['versus']} = {_cell(g['gap'])}" for g in gap_rows] or ["- none"]
    md += ["", "## Paired comparisons (same items)", ""]
    md += [f"- {c['a']} vs {c['b']} on {c['items']} items: accuracy {c['acc_a']:.0%} vs {c['acc_b']:.0%}, "
           f"difference {_cell(c['difference'])}, P(A beats B) {_cell(c['p_a_beats_b'])}" for c in pairs] or ["- none"]
    write_text(folder / "summary.md", "\n".join(md) + "\n")
    page = (f"<!doctype html><meta charset=utf-8><title>crossview probe report</title><style>{CSS}</style>"
            f"<h1>Spatial probes: {html.escape(run_dir.name)}</h1><ul>"
            + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
            "<h2>Accuracy per answerer × world × task</h2>" + _table_html(records)
            + "<h2>Source world vs zero-shot worlds</h2>" + _table_html(gap_rows)
            + "<h2>Paired comparisons on identical items</h2>" + _table_html(pairs)
            + "<h2>Item gallery</h2>" + gallery_html)
    index = folder / "index.html"
    write_text(index, page)
    return index
