"""The probe runner end to end on Rooms: durable and resumable, callable answerers (retries, errors), the dataset
export, the report, one-line errors for bad configs, and the ``crossview probe`` command."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from harness.cli import main
from harness.errors import CrossviewError
from harness.probe.config import parse_probe_config
from harness.probe.runner import run_probe
from harness.probe.store import ProbeStore
from reports.probe import build_probe_report
from tests.harness.sweeps import REPO, crossview
from tests.probe.runs import small_probe

CALLABLES = [{"name": "first", "kind": "callable", "options": {"target": "tests.probe.answerers:always_first"}},
             {"name": "last", "kind": "callable", "options": {"target": "tests.probe.answerers:index_of_last"}},
             {"name": "const", "kind": "callable",
              "options": {"target": "tests.probe.answerers:Constant", "options": {"letter": "B"}}},
             {"name": "patchless", "kind": "callable",
              "options": {"target": "tests.probe.answerers:fails_on_patches", "concurrency": 2}}]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("probe")
    config = small_probe([{"name": "random", "kind": "random"}, {"name": "oracle", "kind": "depth-oracle"},
                          *CALLABLES])
    first = run_probe(config, out)
    second = run_probe(config, out)
    third = run_probe(config, out, retry_errors=True)
    return config, out / config.name, first, second, third


def test_resume_stores_everything_once(run) -> None:
    config, run_dir, first, second, third = run
    assert first.frames_new == 4 and first.items_new == first.items_total > 0
    assert second.frames_new == 0 and second.items_new == 0 and second.items_total == first.items_total
    assert not second.answers  # nothing answered twice
    n_patch = sum(n for (a, status), n in first.answers.items() if a == "patchless" and status == "error")
    assert dict(third.answers) == {("patchless", "error"): n_patch}  # --retry-errors: only the errors again
    with ProbeStore(run_dir, create=False) as store:
        answers = store.answers()
        items = {r["item_id"]: r for r in store.items()}
        attempts = store.attempts()
    assert len(answers) == len(items) * 6
    by = {(a["answerer"], a["item_id"]): a for a in answers}
    for item_id, item in items.items():
        assert by[("oracle", item_id)]["correct"] == 1
        assert by[("first", item_id)]["choice"] == 0 and by[("last", item_id)]["choice"] == len(item["choices"]) - 1
        assert by[("first", item_id)]["correct"] == int(item["answer"] == 0)
        patch = item["task"].startswith("patch_")
        assert by[("patchless", item_id)]["status"] == ("error" if patch else "answered")
        assert by[("patchless", item_id)]["attempts"] == (config.retries + 1 if patch else 1)
    assert n_patch == sum(1 for i in items.values() if i["task"].startswith("patch_")) > 0
    assert len(attempts) == 2 * n_patch * config.retries and first.exit_code == 1


def test_dataset_export_loads_back(run) -> None:
    _, run_dir, first, _, _ = run
    lines = (run_dir / "dataset" / "items.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == first.items_total
    table = pq.read_table(run_dir / "dataset" / "items.parquet").to_pylist()
    assert [r["id"] for r in table] == [r["id"] for r in records]
    for rec, row in zip(records, table):
        assert rec["choices"][rec["answer"]] and rec["answer_letter"] == "ABCDEFGH"[rec["answer"]]
        for path, data in zip(rec["images"], row["image_bytes"]):
            assert (run_dir / "dataset" / path).read_bytes() == data
            assert Image.open(io.BytesIO(data)).mode == "RGB"
        assert json.loads(row["truth"]) == rec["truth"]


def test_report_tables_and_gallery(run) -> None:
    _, run_dir, _, _, _ = run
    index = build_probe_report(run_dir, reps=200)
    page, summary = index.read_text(), (index.parent / "summary.md").read_text()
    assert "rooms/apartment" in page and "rooms/warehouse" in page and "../dataset/images/" in page
    assert "oracle vs random" in summary or "oracle vs" in summary
    assert "rooms/apartment − rooms/warehouse" in summary
    table = pd.read_csv(index.parent / "accuracy.csv")
    oracle = table[table["answerer"] == "oracle"]
    assert len(oracle) and (oracle["accuracy"] == 1.0).all()
    # normalized: 1 for the oracle wherever random did not score as well (then the span is 0: undefined)
    assert (oracle["normalized"].isna() == (oracle["floor"] >= 1.0)).all()
    assert (oracle["normalized"].dropna() == 1.0).all()
    patch = table[(table["answerer"] == "patchless") & table["task"].str.startswith("patch_")]
    assert len(patch) and (patch["errors"] > 0).all() and (patch["n"] == 0).all() and patch["accuracy"].isna().all()


def test_changed_config_is_refused(run, tmp_path: Path) -> None:
    _, run_dir, _, _, _ = run
    changed = small_probe(per_task=2)
    with pytest.raises(CrossviewError, match="different config"):
        run_probe(changed, run_dir.parent)


@pytest.mark.parametrize("data, match", [
    ({"sources": []}, "sources: List should have at least 1 item"),
    ({"sources": [{"adapter": "rooms"}], "tasks": ["depth"]}, "unknown task"),
    ({"sources": [{"adapter": "rooms", "frames": 0}]}, r"sources\[0\].frames"),
    ({"sources": [{"adapter": "rooms"}], "answerers": [{"name": "x", "kind": "gpt"}]}, r"answerers\[0\].kind"),
    ({"sources": [{"adapter": "rooms", "colour": 1}]}, "unknown key"),
])
def test_bad_configs_give_one_line(data, match) -> None:
    with pytest.raises(CrossviewError, match=match) as info:
        parse_probe_config(data)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("options, match", [
    ({"target": "tests.probe.nope:f"}, "cannot be imported"),
    ({"target": "tests.probe.answerers:two_arguments"}, "must take one argument"),
    ({"target": "no_colon"}, "module:attr"),
    ({"target": "tests.probe.answerers:unannotated"}, "annotate its parameter"),
    ({"target": "os:system"}, "will not call"),
    ({"target": "os:system", "options": {"command": "touch PWNED"}}, "protocol"),
    ({}, "needs options.target"),
])
def test_bad_callables_fail_before_any_work(options, match, tmp_path: Path) -> None:
    config = small_probe([{"name": "bad", "kind": "callable", "options": options}])
    with pytest.raises(CrossviewError, match=match):
        run_probe(config, tmp_path)
    assert not (tmp_path / "p").exists()


def test_example_probe_config_is_valid() -> None:
    from harness.probe.config import load_probe_config

    for path in sorted((REPO / "examples").glob("probe*.yaml")):
        config = load_probe_config(path)
        assert {s.adapter for s in config.sources} >= {"rooms", "realsense"} and config.fingerprint()
        rig = next(s for s in config.sources if s.adapter == "realsense")
        assert Path(rig.options["file"]).is_absolute() and Path(rig.options["goals"]).is_dir()


def test_cli_probe(tmp_path: Path) -> None:
    config = {"name": "cli", "sources": [{"adapter": "rooms", "domains": ["apartment"], "frames": 1,
                                          "options": {"image_size": [64, 64]}}], "per_task": 1}
    path = tmp_path / "probe.yaml"
    path.write_text(yaml.safe_dump(config))
    done = crossview("probe", str(path), "--out", str(tmp_path / "runs"), "--reps", "100")
    assert done.returncode == 0, done.stderr
    assert "items/s" in done.stdout and (tmp_path / "runs" / "cli" / "report" / "index.html").is_file()


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "probe.yaml"
    path.write_text("sources: [{adapter: rooms, frames: -1}]\n")
    assert main(["probe", str(path), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "sources[0].frames" in err and not (tmp_path / "runs").exists()
    assert main(["probe", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_hung_and_failing_simulators_are_retried_then_stored_as_errors(tmp_path: Path) -> None:
    faulty = "tests.harness.faulty:FaultyRooms"  # faults inside step(), i.e. during the camera moves
    base = {"image_size": [64, 64], "every": 1, "at_step": 1}
    config = parse_probe_config({
        "name": "faults", "per_task": 1, "retries": 1, "timeouts": {"frame": 4},
        "sources": [{"adapter": faulty, "domains": ["apartment"], "frames": 1, "look": {"steps": 3},
                     "options": {**base, "fault": "hang", "once_dir": str(tmp_path)}},
                    {"adapter": faulty, "domains": ["warehouse"], "frames": 3, "look": {"steps": 3},
                     "options": {**base, "fault": "raise"}}]})
    said: list[str] = []
    out = run_probe(config, tmp_path / "runs", say=said.append)
    hung = [m for m in said if "did not give a frame within 4 s" in m]
    raised = [m for m in said if "injected simulator failure" in m]
    assert hung and raised  # the hang was killed and retried once (and then worked: once_dir)
    with ProbeStore(out.run_dir, create=False) as store:
        frames = store.frames()
    ok = [f for f in frames if f["error"] is None]
    errors = [f for f in frames if f["error"]]
    # the seeds of these frames draw 3, 2, 3 and 0 camera moves: the frame without moves never reaches the fault
    assert {(f["domain"], f["idx"]) for f in ok} == {("apartment", 0), ("warehouse", 2)}
    assert len(hung) == 1 and len(raised) == 4 and out.frame_errors == len(errors) == 2  # 2 attempts each
    assert out.exit_code == 1
    assert all("injected simulator failure" in f["error"] and f["domain"] == "warehouse" for f in errors)


def test_absent_backends_are_skipped_when_optional_else_one_line(tmp_path: Path) -> None:
    absent = {"adapter": "tests.probe.answerers:AbsentBackend", "frames": 1}
    config = small_probe()
    optional = config.model_copy(update={"name": "opt", "sources": [parse_probe_config(
        {"sources": [{**absent, "optional": True}]}).sources[0], config.sources[0]]})
    out = run_probe(optional, tmp_path)
    assert out.frames_new == 2 and out.skipped_sources == ["tests.probe.answerers:AbsentBackend: absent_sim is "
                                                           "not installed: pip install absent-sim"]
    with pytest.raises(CrossviewError, match="absent_sim is not installed"):
        run_probe(parse_probe_config({"name": "req", "sources": [absent]}), tmp_path)
