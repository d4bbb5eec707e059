"""The malformed-input corpus: every case a new user or an attacker met (issue 14), as regression tests.

Each case is answered by one line on stderr naming the file or field and the fix, a documented non-zero exit code
(2 bad input, 1 runtime failure), no traceback, and nothing written. Run in-process (``harness.cli.main``), so
the whole corpus costs seconds, not a process start per case.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from harness.cli import one_line
from harness.config import load_config
from harness.errors import RunFailure
from harness.spec import EpisodeRecord, Status
from harness.store import Store
from tests.harness.malformed import assert_refused, run_cli, snapshot
from tests.harness.sweeps import small_config, small_disk

FIXTURE_GOALS = Path(__file__).resolve().parents[1] / "fixtures" / "dmlab_goals"

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


def sweep(root: Path, config: dict | str | bytes, name: str = "sweep.yaml") -> list[str]:
    """Write a config (a dict as YAML, or raw text/bytes) and return the sweep command line for it."""
    path = root / name
    if isinstance(config, dict):
        path.write_text(yaml.safe_dump(config))
    elif isinstance(config, bytes):
        path.write_bytes(config)
    else:
        path.write_text(config)
    return ["sweep", str(path), "--out", str(root / "runs"), "--quiet"]


def with_env(**changes) -> dict:
    cfg = small_config()
    cfg["environments"][0] = {**cfg["environments"][0], **changes}
    return cfg


def with_policy(**changes) -> dict:
    return small_config(policies=[{"name": "p", "kind": "random", **changes}])


def checkpoints(root: Path, manifest: bytes | None, folder_named_like_a_file: bool = False) -> list[str]:
    """A checkpoint folder with one (garbage) checkpoint and the given manifest bytes beside it."""
    ckpt = root / "ckpts"
    ckpt.mkdir()
    if folder_named_like_a_file:
        (ckpt / "model-step100.safetensors").mkdir()
    else:
        (ckpt / "model-step100.safetensors").write_bytes(b"\0" * 64)
        if manifest is not None:
            (ckpt / "model-step100.safetensors.json").write_bytes(manifest)
    return sweep(root, small_config(policies=[{"name": "net", "kind": "torch", "checkpoints": str(ckpt)}]))


def junk_run(root: Path, content: bytes) -> Path:
    run = root / "run"
    run.mkdir()
    (run / "results.sqlite").write_bytes(content)
    return run


def good_run(root: Path) -> Path:
    """A real (small) run store, made the way the driver makes one."""
    run = root / "run"
    with Store(run) as store:
        store.set_meta({"plan_ids": ["e1"], "config": {"policies": []}})
        store.add(EpisodeRecord(episode_id="e1", policy="random", checkpoint_sha256="", checkpoint_step=None,
                                adapter="rooms", domain="apartment", interaction="approach", target="ball",
                                difficulty="easy", split="train", role="source", seed=1, index=0,
                                status=Status.SUCCESS, success=True, steps=3, episode_return=1.0,
                                final_distance=0.5, wall_s=0.1))
    for extra in ("results.sqlite-wal", "results.sqlite-shm"):  # leave only the checkpointed file
        (run / extra).unlink(missing_ok=True)
    return run


def goal_folder(root: Path, image: bytes | None = None, meta: bytes | None = None) -> list[str]:
    folder = root / "goals"
    folder.mkdir()
    for f in FIXTURE_GOALS.glob("apple_red*"):
        (folder / f.name).write_bytes(f.read_bytes())
    if image is not None:
        (folder / "apple_red.png").write_bytes(image)
    if meta is not None:
        (folder / "apple_red.json").write_bytes(meta)
    return ["goal", "show", str(folder / "apple_red"), "--out", str(root / "preview.png")]


def busy_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


# (id, build(root) -> argv, expected fragment of the line, exit code)
Case = tuple[str, Callable[[Path], list[str]], str, int]
CASES: list[Case] = [
    # ---------------------------------------------------------------- the config file itself
    ("config-not-utf8", lambda r: sweep(r, b"name: caf\xe9\npolicies: []\n"), "not UTF-8", 2),
    ("config-is-a-folder", lambda r: ["sweep", str(r), "--out", str(r / "runs")], "is a folder", 2),
    ("config-missing", lambda r: ["sweep", str(r / "none.yaml")], "does not exist", 2),
    ("config-empty", lambda r: sweep(r, ""), "top level must be a mapping", 2),
    ("config-a-list", lambda r: sweep(r, "- a\n- b\n"), "top level must be a mapping", 2),
    ("config-yaml-syntax", lambda r: sweep(r, "policies: [\n"), "not valid YAML at line", 2),
    ("config-tab-indent", lambda r: sweep(r, "policies:\n\t- a\n"), "not valid YAML", 2),
    ("config-duplicate-key", lambda r: sweep(r, "name: a\nworkers: 1\nworkers: 2\n"), "'workers' appears twice", 2),
    ("config-duplicate-nested", lambda r: sweep(r, "policies:\n- {name: a, name: b, kind: random}\n"),
     "'name' appears twice", 2),
    ("config-alias-bomb", lambda r: sweep(r, BOMB), "aliases", 2),
    ("config-recursive-alias", lambda r: sweep(r, "a: &x [1, *x]\n"), "aliases", 2),
    ("config-deep-nesting", lambda r: sweep(r, "[" * 20000), "", 2),
    ("config-50MB-seed-list", lambda r: sweep(r, "seeds: [" + "1234567, " * 5_600_000 + "0]\n"),
     "more than a config may hold", 2),
    ("config-binary-tag", lambda r: sweep(r, "name: !!python/object/apply:os.system ['touch PWNED']\n"),
     "not valid YAML", 2),
    # ---------------------------------------------------------------- names that become paths
    ("name-dotdot", lambda r: sweep(r, small_config(name="..")), "not a valid name", 2),
    ("name-dot", lambda r: sweep(r, small_config(name=".")), "not a valid name", 2),
    ("name-slash", lambda r: sweep(r, small_config(name="../../outside")), "not a valid name", 2),
    ("name-absolute", lambda r: sweep(r, small_config(name="/tmp/x")), "not a valid name", 2),
    ("name-300-chars", lambda r: sweep(r, small_config(name="n" * 300)), "not a valid name", 2),
    ("name-hidden", lambda r: sweep(r, small_config(name=".hidden")), "not a valid name", 2),
    ("name-empty", lambda r: sweep(r, small_config(name="")), "not a valid name", 2),
    ("name-not-a-string", lambda r: sweep(r, small_config(name=[1, 2])), "name", 2),
    ("policy-name-slash", lambda r: sweep(r, with_policy(name="a/b")), "policies[0].name", 2),
    ("goal-capture-name-escape", lambda r: ["goal", "capture", "--file", str(r / "x.bag"), "--box", "1,1,9,9",
                                            "--name", "../../x", "--out", str(r / "goals")], "not a valid name", 2),
    ("goal-capture-bad-size", lambda r: ["goal", "capture", "--file", str(r / "x.bag"), "--box", "1,1,9,9",
                                         "--name", "x", "--size", "big"], "--size", 2),
    ("goal-capture-bad-interaction", lambda r: ["goal", "capture", "--file", str(r / "x.bag"), "--box",
                                                "1,1,9,9", "--name", "x", "--interaction", "fly"], "fly", 2),
    # ---------------------------------------------------------------- schema: all errors at once, hints
    ("typo-nmae", lambda r: sweep(r, small_config(policies=[{"nmae": "p", "kind": "random"}])),
     "did you mean 'name'", 2),
    ("unknown-top-key", lambda r: sweep(r, small_config(wokers=2)), "did you mean 'workers'", 2),
    ("video-mode-on", lambda r: sweep(r, "video: {mode: on}\n" + yaml.safe_dump(small_config())),
     "video.mode", 2),
    ("video-mode-nonsense", lambda r: sweep(r, small_config(video={"mode": "sometimes"})), "video.mode", 2),
    ("image-size-big", lambda r: sweep(r, with_env(options={"image_size": "big"})), "image_size", 2),
    ("image-size-negative", lambda r: sweep(r, with_env(options={"image_size": [-4, 48]})), "image_size", 2),
    ("image-size-huge", lambda r: sweep(r, with_env(options={"image_size": [10**6, 10**6]})), "image_size", 2),
    ("adapter-unknown-option", lambda r: sweep(r, with_env(options={"colour": "red"})), "bad options", 2),
    ("episodes-text", lambda r: sweep(r, with_env(episodes="many")), "environments[0].episodes", 2),
    ("episodes-huge", lambda r: sweep(r, with_env(episodes=10**9)), "environments[0].episodes", 2),
    ("max-steps-negative", lambda r: sweep(r, with_env(max_steps=-1)), "environments[0].max_steps", 2),
    ("seeds-empty", lambda r: sweep(r, small_config(seeds=[])), "seeds", 2),
    ("seeds-text", lambda r: sweep(r, small_config(seeds=["zero"])), "seeds[0]", 2),
    ("seeds-too-large", lambda r: sweep(r, small_config(seeds=[2**70])), "seeds[0]", 2),
    ("seeds-too-many", lambda r: sweep(r, small_config(seeds=list(range(10_001)))), "seeds", 2),
    ("workers-zero", lambda r: sweep(r, small_config(workers=0)), "workers", 2),
    ("workers-cli-huge", lambda r: [*sweep(r, small_config()), "--workers", "100000"], "workers", 2),
    ("workers-cli-text", lambda r: [*sweep(r, small_config()), "--workers", "two"], "--workers", 2),
    ("timeouts-negative", lambda r: sweep(r, small_config(timeouts={"step": -1})), "timeouts.step", 2),
    ("timeouts-media-zero", lambda r: sweep(r, small_config(timeouts={"media": 0})), "timeouts.media", 2),
    ("plan-too-large", lambda r: sweep(r, with_env(episodes=100_000) | {"seeds": list(range(20))}),
     "the plan has", 2),
    ("interaction-unknown", lambda r: sweep(r, with_env(interactions=["fly"])), "fly", 2),
    # ---------------------------------------------------------------- code named by a config
    ("kind-os-system", lambda r: sweep(r, with_policy(kind="os:system", options={"command": "touch PWNED"})),
     "will not call", 2),
    ("kind-builtins-eval", lambda r: sweep(r, with_policy(kind="builtins:eval", options={"source": "1"})),
     "will not call", 2),
    ("kind-subprocess-call", lambda r: sweep(r, with_policy(kind="subprocess:call", options={"args": "id"})),
     "without a return annotation", 2),
    ("kind-class-not-a-policy", lambda r: sweep(r, with_policy(kind="pathlib:Path")), "lacks act", 2),
    ("kind-module-missing", lambda r: sweep(r, with_policy(kind="no_such_module_x:P")), "cannot be imported", 2),
    ("kind-attr-missing", lambda r: sweep(r, with_policy(kind="os:NoSuchThing")), "cannot be imported", 2),
    ("kind-empty-path", lambda r: sweep(r, with_policy(kind=":")), "cannot be imported", 2),
    ("adapter-os-system", lambda r: sweep(r, with_env(adapter="os:system", options={"command": "touch PWNED"})),
     "will not call", 2),
    ("adapter-shutil-rmtree", lambda r: sweep(r, with_env(adapter="shutil:rmtree", options={"path": str(r)})),
     "without a return annotation", 2),
    # ---------------------------------------------------------------- checkpoints and manifests
    ("ckpt-folder-named-safetensors", lambda r: checkpoints(r, None, folder_named_like_a_file=True),
     "match no checkpoint file", 2),
    ("manifest-step-words", lambda r: checkpoints(r, b'{"step": "three hundred"}'), "not a whole number", 2),
    ("manifest-step-negative", lambda r: checkpoints(r, b'{"step": -5}'), "not a whole number", 2),
    ("manifest-step-float", lambda r: checkpoints(r, b'{"step": 1.5}'), "not a whole number", 2),
    ("manifest-step-bool", lambda r: checkpoints(r, b'{"step": true}'), "not a whole number", 2),
    ("manifest-bad-bytes", lambda r: checkpoints(r, b'{"step": "\xff\xfe"}'), "not UTF-8", 2),
    ("manifest-not-json", lambda r: checkpoints(r, b"step = 3"), "not valid JSON", 2),
    ("manifest-a-list", lambda r: checkpoints(r, b"[1, 2]"), "not a JSON object", 2),
    ("manifest-deep", lambda r: checkpoints(r, b"[" * 100000), "not valid JSON", 2),
    ("manifest-too-large", lambda r: checkpoints(r, b'{"pad": "' + b"x" * (2 << 20) + b'"}'), "larger than", 2),
    # ---------------------------------------------------------------- goal files
    ("goal-png-undecodable", lambda r: goal_folder(r, image=b"\x89PNG\r\n\x1a\n garbage"), "not a readable PNG",
     2),
    ("goal-png-empty", lambda r: goal_folder(r, image=b""), "not a readable PNG", 2),
    ("goal-json-bad-bytes", lambda r: goal_folder(r, meta=b"\xff\xfe{}"), "not valid JSON in UTF-8", 2),
    ("goal-json-not-object", lambda r: goal_folder(r, meta=b"[]"), "must be a JSON object", 2),
    ("goal-missing", lambda r: ["goal", "show", str(r / "nothing")], "is missing", 2),
    # ---------------------------------------------------------------- stores: read-only commands
    *[(f"{cmd}-junk-store", (lambda c: lambda r: [c, str(junk_run(r, b"not a database at all" * 50))])(cmd),
       "not a crossview results store", 2) for cmd in ("status", "report", "export")],
    *[(f"{cmd}-empty-store", (lambda c: lambda r: [c, str(junk_run(r, b""))])(cmd),
       "not a crossview results store", 2) for cmd in ("status", "report", "export")],
    *[(f"{cmd}-foreign-sqlite", (lambda c: lambda r: [c, str(foreign_sqlite(r))])(cmd),
       "not a crossview results store", 2) for cmd in ("status", "report", "export")],
    ("status-no-run", lambda r: ["status", str(r / "nope")], "not a crossview run", 2),
    ("export-to-a-folder", lambda r: ["export", str(good_run(r)), "-o", str(r)], "is a folder", 2),
    ("export-into-missing-folder", lambda r: ["export", str(good_run(r)), "-o", str(r / "no" / "x.csv")],
     "does not exist", 2),
    ("export-read-only-path", lambda r: ["export", str(good_run(r)), "-o", "/proc/crossview-export.csv"],
     "/proc", 1),
    ("export-bad-format", lambda r: ["export", str(good_run(r)), "--format", "xml"], "invalid choice", 2),
    ("report-out-is-a-file", lambda r: ["report", str(good_run(r)), "--out", str(r / "run" / "results.sqlite")],
     "is a file", 2),
    ("report-reps-zero", lambda r: ["report", str(good_run(r)), "--reps", "0"], "--reps", 2),
    ("report-reps-text", lambda r: ["report", str(good_run(r)), "--reps", "many"], "--reps", 2),
    ("compare-reps-negative", lambda r: ["compare", str(r), "--a", "x", "--b", "y", "--reps", "-3"], "--reps", 2),
    # ---------------------------------------------------------------- the policy server
    ("serve-public-without-token", lambda r: ["serve", "--kind", "random", "--host", "0.0.0.0"],
     "--token-env", 2),
    ("serve-token-env-unset", lambda r: ["serve", "--kind", "random", "--token-env", "CROSSVIEW_NO_SUCH_VAR"],
     "CROSSVIEW_NO_SUCH_VAR", 2),
    ("serve-port-out-of-range", lambda r: ["serve", "--kind", "random", "--port", "70000"], "--port", 2),
    ("serve-port-text", lambda r: ["serve", "--kind", "random", "--port", "http"], "--port", 2),
    ("serve-kind-os-system", lambda r: ["serve", "--kind", "os:system", "--option", "command=touch PWNED"],
     "will not call", 2),
    ("serve-kind-unknown", lambda r: ["serve", "--kind", "nonesuch"], "unknown policy kind", 2),
    ("serve-option-malformed", lambda r: ["serve", "--kind", "random", "--option", "novalue"], "KEY=VALUE", 2),
    ("serve-max-mb-zero", lambda r: ["serve", "--kind", "random", "--max-mb", "0"], "--max-mb", 2),
    ("serve-bad-host", lambda r: ["serve", "--kind", "random", "--host", "no.such.host.invalid", "--insecure"],
     "cannot resolve", 1),
    # ---------------------------------------------------------------- the command line itself
    ("no-command", lambda r: [], "give a COMMAND", 2),
    ("unknown-command", lambda r: ["frobnicate"], "invalid choice", 2),
    ("unknown-flag", lambda r: ["status", str(r), "--colour"], "unrecognized arguments", 2),
    ("missing-argument", lambda r: ["compare", str(r)], "required", 2),
]


def foreign_sqlite(root: Path) -> Path:
    """A valid SQLite file that is not a crossview store."""
    run = root / "run"
    run.mkdir()
    with sqlite3.connect(run / "results.sqlite") as db:
        db.execute("CREATE TABLE other (x)")
    return run


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_gets_one_line(tmp_path, monkeypatch, case: Case) -> None:
    name, build, expect, code = case
    root = tmp_path / "in"
    root.mkdir()
    monkeypatch.chdir(tmp_path)  # a command that ran what it should not would leave PWNED here
    argv = build(root)
    started = time.monotonic()
    assert_refused(root, *argv, expect=expect, code=code)
    assert time.monotonic() - started < 60, f"{name} took too long to refuse"
    assert not (tmp_path / "PWNED").exists()


def test_serve_on_a_busy_port_is_one_line_and_never_says_serving(tmp_path) -> None:
    taken, port = busy_port()
    try:
        rc, out, err = run_cli("serve", "--kind", "random", "--port", str(port))
    finally:
        taken.close()
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "port is taken" in err, err
    assert "serving" not in out


def test_valid_inputs_the_corpus_must_not_refuse(tmp_path) -> None:
    """Unquoted ``off`` is YAML's false: both ``video: {mode: off}`` and ``video: off`` mean no videos."""
    path = tmp_path / "s.yaml"
    for text in ("video: {mode: off}\n", "video: off\n", "video: {mode: 'off'}\n"):
        path.write_text(text + yaml.safe_dump(small_config()))
        assert load_config(path).video.mode == "off"
    rc, out, err = run_cli("sweep", str(path), "--out", str(tmp_path / "runs"), "--dry-run")
    assert rc == 0 and "12 episodes" in out and err == "", err


def test_validation_reports_every_error_at_once(tmp_path) -> None:
    cfg = small_config(workers=0, retries=-1, policies=[{"nmae": "p", "kind": "random"}])
    line = assert_refused(tmp_path, *sweep(tmp_path, cfg)[:2], code=2)
    for part in ("4 errors", "workers", "retries", "policies[0].nmae", "policies[0].name: required key"):
        assert part in line, line


def test_alias_bomb_and_huge_seed_lists_are_refused_quickly(tmp_path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB + yaml.safe_dump(small_config()))
    started = time.monotonic()
    assert_refused(tmp_path, "sweep", str(bomb), expect="aliases")
    assert time.monotonic() - started < 5


def test_a_full_disk_in_the_driver_is_one_line_and_exit_1(tmp_path) -> None:
    """SQLite's 'database or disk is full' (provoked with max_page_count, the same error a full disk gives)."""
    run = good_run(tmp_path)
    with Store(run) as store:
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        record = store.records()[0]
        with pytest.raises(RunFailure) as caught:
            for i in range(1000):
                store.add(EpisodeRecord.from_row({**record.to_row(), "episode_id": f"x{i}", "error": "e" * 4000}))
    message, code = one_line(caught.value)
    assert code == 1 and "disk full" in message and str(run) in message and "\n" not in message
    message, code = one_line(sqlite3.OperationalError("database or disk is full"))
    assert code == 1 and "free disk space" in message
    message, code = one_line(OSError(28, "No space left on device", "/runs/t/run.json"))
    assert code == 1 and "run.json" in message and "free disk space" in message


def test_a_sweep_on_a_disk_that_fills_up_ends_in_one_line(tmp_path) -> None:
    """The driver's store on a 320 KiB disk: SQLite's 'database or disk is full' mid-sweep, as a user meets it."""
    cfg = small_config(video={"thumbnails": False})
    for env in cfg["environments"]:
        env["episodes"] = 10
    command = sweep(tmp_path, cfg)
    with small_disk(tmp_path / "runs", "320k"):
        rc, _, err = run_cli(*command)
        with sqlite3.connect(tmp_path / "runs" / "t" / "results.sqlite") as db:
            kept = db.execute("SELECT COUNT(*) FROM episodes").fetchone()[0]
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "disk full" in err and "run the same command again" in err, err
    assert 0 < kept < 40, f"the disk should fill mid-sweep, after some episodes were stored ({kept})"


def test_read_only_commands_do_not_touch_a_store(tmp_path) -> None:
    run = good_run(tmp_path)
    before = (run / "results.sqlite").read_bytes()
    for argv in (["status", str(run)], ["export", str(run), "-o", str(tmp_path / "e.csv")]):
        rc, _, err = run_cli(*argv)
        assert rc == 0, err
    assert (run / "results.sqlite").read_bytes() == before


def test_report_with_dollar_signs_in_checkpoint_names(tmp_path) -> None:
    """matplotlib reads '$...$' as TeX; a checkpoint file named with dollars must not break the report."""
    run = good_run(tmp_path)
    with Store(run) as store:
        record = store.records()[0]
        for i, name in enumerate(["net@$\\undefined{$", "net@$x$", "net@a$b"]):
            store.add(EpisodeRecord.from_row({**record.to_row(), "episode_id": f"d{i}", "policy": name,
                                              "checkpoint_step": None}))
    rc, _, err = run_cli("report", str(run), "--reps", "20")
    assert rc == 0, err
    assert not list(run.rglob(".crossview-tmp-*"))


def test_the_corpus_is_large_enough() -> None:
    from tests.harness.test_properties import EXAMPLES

    assert len(CASES) + EXAMPLES >= 150


def test_the_nothing_written_check_sees_one_byte(tmp_path) -> None:
    """The 'nothing written' check compares bytes, not names: prove it notices a one-byte change."""
    f = tmp_path / "a.json"
    f.write_text(json.dumps({"a": 1}))
    before = snapshot(tmp_path)
    f.write_text(json.dumps({"a": 2}))
    assert snapshot(tmp_path) != before
