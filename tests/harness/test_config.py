"""Malformed sweep configs: each gives one clear line naming the key, a non-zero exit, and writes nothing."""

from __future__ import annotations

import copy

import pytest

from tests.harness.malformed import assert_refused
from tests.harness.sweeps import crossview, small_config, write


def _mutate(path: str, value):
    def apply(cfg):
        keys = path.split(".")
        node = cfg
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        if value is KeyError:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
        return cfg
    return apply


BAD = [
    (_mutate("policies", []), "policies"),
    (_mutate("policies.0.kind", "nonesuch"), "unknown policy kind 'nonesuch'"),
    (_mutate("environments.0.adapter", "nonesuch"), "unknown adapter 'nonesuch'"),
    (_mutate("environments.0.domains", ["moon"]), "environments[0].domains: rooms has no 'moon'"),
    (_mutate("environments.0.interactions", ["fly"]), "unknown interaction 'fly'"),
    (_mutate("environments.1.interactions", ["hunt"]), "environments[1].interactions: rooms has no 'hunt'"),
    (_mutate("environments.0.difficulties", ["medium"]), "environments[0].difficulties[0]: must be 'easy' or 'hard'"),
    (_mutate("environments.0.episodes", 0), "environments[0].episodes"),
    (_mutate("environments.0.episdoes", 3), "environments[0].episdoes: unknown key"),
    (_mutate("environments.0.options", {"image_size": [4, 99999]}), "image_size"),
    (_mutate("environments.0.adapter", KeyError), "environments[0].adapter: required key is missing"),
    (_mutate("workers", 0), "workers"),
    (_mutate("policies.1.name", "random"), "policy names must be unique"),
    (_mutate("policies.0.checkpoints", "no/such/*.safetensors"), "policies[0].checkpoints"),
    (_mutate("environments.0.role", "teacher"), "environments[0].role: must be 'source' or 'zeroshot'"),
    (_mutate("timeouts.step", -1), "timeouts.step: "),
]


@pytest.mark.parametrize("mutate, message", BAD, ids=[m for _, m in BAD])
def test_bad_config_one_line_nothing_written(tmp_path, mutate, message) -> None:
    cfg = mutate(copy.deepcopy(small_config()))
    path = write(tmp_path, cfg)
    assert_refused(tmp_path, "sweep", str(path), "--out", str(tmp_path / "runs"), expect=message, code=2)


def test_not_yaml_and_missing_file(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("policies: [\n")
    assert_refused(tmp_path, "sweep", str(bad), "--out", str(tmp_path / "runs"), expect="not valid YAML", code=2)
    assert_refused(tmp_path, "sweep", str(tmp_path / "missing.yaml"), expect="does not exist", code=2)
    top = tmp_path / "list.yaml"
    top.write_text("- a\n- b\n")
    assert_refused(tmp_path, "sweep", str(top), "--out", str(tmp_path / "runs"), expect="top level must be a mapping",
                   code=2)


def test_the_command_line_itself_answers_in_one_line(tmp_path) -> None:
    """The same promise from a real process start (the console script's path), once."""
    result = crossview("sweep", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr



def test_file_options_and_checkpoints_resolve_against_the_config_folder(tmp_path, monkeypatch) -> None:
    """`tasks` (and `goals`, `file`) are read from the config's folder, as `checkpoints` are, whatever the cwd."""
    import shutil
    from pathlib import Path

    from harness.config import config_path, load_config
    from harness.plan import build_plan
    from tests.servers.fixtures import start, suite

    conf = tmp_path / "conf"
    (conf / "suites").mkdir(parents=True)
    shutil.copy(suite("airsim"), conf / "suites" / "s.yaml")
    shutil.copytree(Path(__file__).resolve().parents[2] / "checkpoints" / "xview", conf / "ckpt")
    config = {"name": "rel", "policies": [{"name": "x", "kind": "torch", "checkpoints": "ckpt"}],
              "environments": [{"adapter": "airsim", "episodes": 1,
                                "options": {"tasks": "suites/s.yaml", "port": start("airsim_server")}}]}
    path = write(conf, config)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    plan = build_plan(load_config(path), path.parent)
    assert {e.env.options["tasks"] for e in plan.episodes} == {str(conf / "suites" / "s.yaml")}
    assert all(e.policy.checkpoint.startswith(str(conf / "ckpt")) for e in plan.episodes)
    assert config_path("/abs/x.yaml", conf) == Path("/abs/x.yaml")
    assert config_path("~/x.yaml", conf) == Path.home() / "x.yaml"
