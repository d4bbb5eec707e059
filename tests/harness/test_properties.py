"""Property-based tests (hypothesis) of the error policy: for any malformed config, checkpoint manifest or command
line, ``crossview`` exits non-zero with exactly one line on stderr, no traceback, and writes nothing.

Generated inputs are malformed by construction (a bad value put into one field of a valid config, bytes that are no
config, a manifest whose step is no step), so a valid input can never slip in and start a sweep. Examples are
derandomized so CI sees the same inputs every run.
"""

from __future__ import annotations

import copy
import string
import tempfile
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config import _known_keys
from tests.harness.malformed import assert_refused
from tests.harness.sweeps import small_config

PER_PROPERTY = 30
PROPERTIES = 4
EXAMPLES = PER_PROPERTY * PROPERTIES  # counted toward the >= 150 malformed inputs of the corpus test
SETTINGS = settings(max_examples=PER_PROPERTY, deadline=None, derandomize=True, database=None)

NOT_A_NUMBER = st.text(min_size=1, max_size=20).filter(lambda t: not _numeric(t))
JUNK = st.one_of(NOT_A_NUMBER, st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5),
                                                                                      st.integers(), max_size=2))


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text.strip().lower() in ("true", "false", "yes", "no", "on", "off", "null", "~", "")


def _bad_int(low: int, high: int) -> st.SearchStrategy:
    return st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1), JUNK,
                     st.floats(allow_nan=False).filter(lambda f: not float(f).is_integer()))


def _not_in(allowed: tuple[str, ...]) -> st.SearchStrategy:
    return st.one_of(st.text(max_size=12).filter(lambda t: t not in allowed), st.integers(), st.lists(st.text()))


BAD_NAME = st.one_of(st.just(""), st.just(".."), st.text(string.ascii_letters, min_size=101, max_size=400),
                     st.text(max_size=20).map(lambda t: "." + t), st.text(max_size=20).map(lambda t: t + "/x"),
                     st.text(max_size=20).map(lambda t: "../" + t), st.text(" $*?:\\\n\t", min_size=1))

# a field of the valid config and values it must refuse
FIELDS: list[tuple[tuple, st.SearchStrategy]] = [
    (("name",), BAD_NAME),
    (("workers",), _bad_int(1, 256)),
    (("envs_per_worker",), _bad_int(1, 64)),
    (("retries",), _bad_int(0, 20)),
    (("seeds",), st.one_of(st.just([]), st.lists(NOT_A_NUMBER, min_size=1, max_size=3),
                           st.lists(st.integers(min_value=2**63), min_size=1, max_size=2))),
    (("executor",), _not_in(("local", "ray"))),
    (("timeouts", "step"), st.one_of(st.floats(max_value=0, allow_nan=False), st.floats(min_value=86_401),
                                     NOT_A_NUMBER)),
    (("video", "mode"), _not_in(("off", "all", "every", "failures"))),
    (("video", "fps"), _bad_int(1, 120)),
    (("policies",), st.one_of(st.just([]), NOT_A_NUMBER, st.integers())),
    (("policies", 0, "name"), BAD_NAME),
    (("policies", 0, "kind"), st.one_of(st.just(""), st.sampled_from(
        ["os:system", "builtins:eval", "builtins:exec", "subprocess:Popen", "shutil:rmtree", "os:remove",
         "pathlib:Path", "io:open", "importlib:import_module", "no_such_pkg_zz:Thing"]))),
    (("environments", 0, "adapter"), st.sampled_from(["os:system", "shutil:rmtree", "builtins:exec", "nonesuch",
                                                      "no_such_pkg_zz:Adapter", ""])),
    (("environments", 0, "role"), _not_in(("source", "zeroshot"))),
    (("environments", 0, "episodes"), _bad_int(1, 100_000)),
    (("environments", 0, "max_steps"), _bad_int(1, 1_000_000).filter(lambda v: v is not None)),
    (("environments", 0, "difficulties"), st.lists(_not_in(("easy", "hard")), min_size=1, max_size=2)),
    (("environments", 0, "options", "image_size"), st.one_of(NOT_A_NUMBER, st.lists(
        st.integers(max_value=15), min_size=2, max_size=2), st.lists(st.integers(min_value=2049), min_size=2,
                                                                     max_size=2))),
]


def _put(cfg: dict, path: tuple, value: object) -> dict:
    node = cfg
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[path[-1]] = value
    return cfg


@st.composite
def bad_configs(draw) -> dict:
    """A valid config with one field made invalid, or an unknown key added somewhere."""
    cfg = copy.deepcopy(small_config())
    if draw(st.booleans()):
        path, values = draw(st.sampled_from(FIELDS))
        return _put(cfg, path, draw(values))
    where = draw(st.sampled_from([(), ("policies", 0), ("environments", 0), ("timeouts",), ("video",)]))
    key = draw(st.text(string.ascii_lowercase + "_", min_size=1, max_size=12).filter(
        lambda k: k not in _known_keys()))
    node = cfg
    for k in where:
        node = node.setdefault(k, {}) if isinstance(k, str) else node[k]
    node[key] = draw(st.integers())
    return cfg


def _in_fresh_folder(check) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        check(root)
        assert not (root / "PWNED").exists()


@SETTINGS
@given(bad_configs())
def test_any_bad_config_field_gets_one_line(cfg: dict) -> None:
    def check(root: Path) -> None:
        path = root / "sweep.yaml"
        path.write_text(yaml.safe_dump(cfg))
        assert_refused(root, "sweep", str(path), "--out", str(root / "runs"), "--quiet")
    _in_fresh_folder(check)


@SETTINGS
@given(st.binary(max_size=400))
def test_any_bytes_as_a_config_get_one_line(data: bytes) -> None:
    def check(root: Path) -> None:
        path = root / "sweep.yaml"
        path.write_bytes(data)
        assert_refused(root, "sweep", str(path), "--out", str(root / "runs"), "--quiet", code=2)
    _in_fresh_folder(check)


BAD_STEP = st.one_of(NOT_A_NUMBER, st.integers(max_value=-1), st.integers(min_value=2**63), st.booleans(),
                     st.floats(allow_nan=False).filter(lambda f: not f.is_integer()), st.lists(st.integers()))
BAD_MANIFEST = st.one_of(
    BAD_STEP.map(lambda step: yaml.safe_dump({"step": step}, default_flow_style=True).encode()),  # YAML flow = JSON
    st.binary(max_size=200).filter(lambda b: not _json_object(b)),
    st.sampled_from([b"[]", b"3", b'"step"', b"null", b"{", b"\xff\xfe\x00"]))


def _json_object(data: bytes) -> bool:
    import json

    try:
        return isinstance(json.loads(data.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False


@SETTINGS
@given(BAD_MANIFEST)
def test_any_bad_checkpoint_manifest_gets_one_line(manifest: bytes) -> None:
    def check(root: Path) -> None:
        ckpt = root / "ckpts"
        ckpt.mkdir()
        (ckpt / "net-step100.safetensors").write_bytes(b"\0" * 32)
        (ckpt / "net-step100.safetensors.json").write_bytes(manifest)
        path = root / "sweep.yaml"
        path.write_text(yaml.safe_dump(small_config(policies=[{"name": "n", "kind": "torch",
                                                               "checkpoints": str(ckpt)}])))
        assert_refused(root, "sweep", str(path), "--out", str(root / "runs"), "--dry-run", expect="manifest")
    _in_fresh_folder(check)


WORD = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=12)


@st.composite
def bad_command_lines(draw) -> list[str]:
    """Command lines that name a missing run, an unknown command or flag, or a bad option value."""
    family = draw(st.sampled_from(["missing-run", "unknown-command", "unknown-flag", "reps", "workers", "port",
                                   "kind", "goal-name", "format"]))
    word = draw(WORD)
    if family == "missing-run":
        return [draw(st.sampled_from(["status", "export", "report"])), f"{{root}}/{word}"]
    if family == "unknown-command":
        return [word] if word not in ("envs", "sweep", "status", "export", "report", "compare", "serve",
                                      "goal") else ["x" + word]
    if family == "unknown-flag":
        return ["status", "{root}", f"--zz{word}"]
    if family == "reps":
        return ["report", "{root}", "--reps", str(draw(st.one_of(st.integers(max_value=0),
                                                                 st.integers(min_value=1_000_001), WORD
                                                                 .filter(lambda w: not w.isdigit()))))]
    if family == "workers":
        return ["sweep", "{root}/none.yaml", "--workers", draw(WORD.filter(lambda w: not w.lstrip("-").isdigit()))]
    if family == "port":
        return ["serve", "--kind", "random", "--port", str(draw(st.one_of(st.integers(max_value=-1),
                                                                          st.integers(min_value=65536))))]
    if family == "kind":
        return ["serve", "--kind", "zz" + word]
    if family == "goal-name":
        name = draw(BAD_NAME.filter(lambda n: not n.startswith("-")))
        return ["goal", "capture", "--file", "{root}/x.bag", "--box", "1,1,5,5", "--name", name,
                "--out", "{root}/goals"]
    return ["export", "{root}", "--format", "zz" + word]


@SETTINGS
@given(bad_command_lines())
def test_any_bad_command_line_gets_one_line(argv: list[str]) -> None:
    def check(root: Path) -> None:
        assert_refused(root, *[a.replace("{root}", str(root)) for a in argv])
    _in_fresh_folder(check)
