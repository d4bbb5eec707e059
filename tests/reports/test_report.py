"""The report end to end on a stored run with the awkward cases: unjudged, errors, all-success, no baselines."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.spec import EpisodeRecord, Status
from harness.store import Store
from harness.video import write_png
from tests.harness.sweeps import crossview


def _record(i: int, policy: str, domain: str, role: str, success: bool | None, status: Status,
            interaction: str = "approach", step: int | None = None) -> EpisodeRecord:
    return EpisodeRecord(f"{policy}-{domain}-{interaction}-{i}", policy, "", step, "rooms", domain, interaction,
                         "red box", "easy", "train", role, 1000 + i, i, status, success, 20, float(bool(success)),
                         0.5, 0.1)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "r"
    rng = np.random.default_rng(0)
    with Store(run) as store:
        store.set_meta({"config": {"policies": [{"name": "random", "kind": "random"},
                                                {"name": "oracle", "kind": "oracle"},
                                                {"name": "net", "kind": "torch"}]}, "plan_ids": []})
        for domain, role in (("apartment", "source"), ("warehouse", "zeroshot")):
            for i in range(10):
                store.add(_record(i, "random", domain, role, bool(rng.random() < 0.1), Status.FAILURE))
                store.add(_record(i, "oracle", domain, role, True, Status.SUCCESS))  # all successes
                for step, p in ((100, 0.2), (1000, 0.7)):
                    ok = bool(rng.random() < (p if role == "source" else p / 2))
                    store.add(_record(i, f"net@{step}", domain, role, ok,
                                      Status.SUCCESS if ok else Status.TIMEOUT, step=step))
        store.add(_record(99, "net@1000", "apartment", "source", None, Status.FAILURE, step=1000))  # nobody could judge
        store.add(_record(98, "net@1000", "apartment", "source", None, Status.ENV_ERROR, step=1000))  # errored
        for i in range(3):  # a task with no baselines
            store.add(_record(i, "net@1000", "apartment", "source", True, Status.SUCCESS, "mine", 1000))
    frame = np.zeros((48, 96, 3), np.uint8)
    frame[:, 48:, 0] = 255
    write_png(run / "thumbs" / "net@1000-apartment-approach-0.png", frame)
    write_png(run / "thumbs" / "random-warehouse-approach-0.png", frame)
    return run


def test_report_files_tables_and_notes(run: Path) -> None:
    strict = {**os.environ, "PYTHONWARNINGS": "error::FutureWarning,error::DeprecationWarning"}
    result = crossview("report", str(run), "--reps", "300", env=strict)
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
    out = run / "report"
    for name in ("index.html", "summary.md", "cells.csv", "matrix.csv", "zeroshot.csv", "comparisons.csv",
                 "gaps.csv"):
        assert (out / name).stat().st_size > 100, name
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert {"heatmap.png", "success_vs_step.png", "zeroshot.png", "profiles.png", "gallery.png"} <= set(figures)
    assert not [f for f in figures if f.startswith("heatmap_")]  # one combined heat map, not one per policy
    assert all((out / "figures" / f).stat().st_size > 5000 for f in figures)
    page = (out / "index.html").read_text()
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings[0] == "Transfer matrix" and headings[1].startswith("Zero-shot aggregates")
    summary = (out / "summary.md").read_text()
    assert "could not be judged" in summary and "env_error 1" in summary and "Normalized score left out" in summary
    cells = pd.read_csv(out / "cells.csv")
    oracle = cells[(cells.policy == "oracle") & (cells.domain == "apartment")].iloc[0]
    assert oracle.rate == 1.0 and oracle.high == 1.0 and oracle.low < 1.0 and oracle.normalized == 1.0
    net = cells[(cells.policy == "net@1000") & (cells.domain == "apartment") & (cells.interaction == "approach")]
    assert int(net.episodes.iloc[0]) == 12 and int(net.judged.iloc[0]) == 10 and int(net.errors.iloc[0]) == 1
    assert int(net.unjudged.iloc[0]) == 1
    mine = cells[cells.interaction == "mine"].iloc[0]
    assert np.isnan(mine.normalized)
    matrix = pd.read_csv(out / "matrix.csv")
    order = list(dict.fromkeys(matrix.sort_values("policy_order").policy))
    assert order == ["net@100", "net@1000", "random", "oracle"]  # steps as numbers, baselines last
    assert list(dict.fromkeys(matrix.sort_values("world_order").domain)) == ["apartment", "warehouse"]
    zero = pd.read_csv(out / "zeroshot.csv")
    assert set(zero.policy) == {"net@100", "net@1000", "random", "oracle"}
    comparisons = pd.read_csv(out / "comparisons.csv")
    assert set(comparisons.tasks) == {"source", "zero-shot"} and "p (Holm)" in comparisons


def test_failed_rebuild_leaves_no_current_looking_page(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert crossview("report", str(run), "--out", str(out), "--reps", "200").returncode == 0
    assert "Transfer matrix" in (out / "index.html").read_text()
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    db = sqlite3.connect(broken / "results.sqlite")
    db.execute("UPDATE meta SET value = '{broken' WHERE key = 'config'")  # a damaged store
    db.commit()
    db.close()
    failed = crossview("report", str(broken), "--out", str(out), "--reps", "200")
    assert failed.returncode == 2 and len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert "not valid JSON" in failed.stderr and "damaged" in failed.stderr
    page = (out / "index.html").read_text()
    assert "Transfer matrix" not in page and "failed" in page and not (out / "summary.md").exists()


def test_report_renders_in_headless_chromium(run: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh --dev installs it)")
    assert crossview("report", str(run)).returncode == 0
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400",
                    f"--screenshot={shot}", (run / "report" / "index.html").as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 20_000
    import imageio.v3 as iio

    image = iio.imread(shot)
    assert image.shape[0] >= 1000 and image.std() > 10  # a page with content, not a blank canvas


def test_compare_and_missing_policy(run: Path) -> None:
    result = crossview("compare", str(run), "--a", "net@1000", "--b", "net@100")
    assert result.returncode == 0 and "P(A beats B)" in result.stdout and "McNemar p" in result.stdout
    zero = crossview("compare", str(run), "--a", "net@1000", "--b", "net@100", "--role", "zeroshot")
    assert zero.returncode == 0 and "on 10 shared judged episodes" in zero.stdout, zero.stderr
    world = crossview("compare", str(run), "--a", "net@1000", "--b", "random", "--world", "rooms/apartment")
    assert world.returncode == 0 and "world rooms/apartment" in world.stdout
    nowhere = crossview("compare", str(run), "--a", "net@1000", "--b", "net@100", "--world", "dmlab")
    assert nowhere.returncode == 2 and "worlds are rooms/apartment, rooms/warehouse" in nowhere.stderr
    typo = crossview("report", str(run) + "-typo")
    assert typo.returncode == 2 and "not a crossview run" in typo.stderr and not Path(str(run) + "-typo").exists()
    bad = crossview("compare", str(run), "--a", "nope", "--b", "net@100")
    assert bad.returncode == 2 and "known policies are" in bad.stderr
