"""MineStudio's own classes through crossview's wrapper (run in the nox session ``minestudio``: ``nox -s minestudio``).

Tiny random-weight models, saved with ``save_pretrained`` to tmp folders and loaded the way a user's checkpoint is;
no hub, no network.  Upstream: CraftJarvis/MineStudio@46caf08 (= PyPI minestudio 1.1.6).
"""

from __future__ import annotations

import itertools
import os
import types
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.minestudio
pytest.importorskip("minestudio.models", reason="MineStudio is not installed here: run 'nox -s minestudio'")

import torch  # noqa: E402
from minestudio.simulator import MinecraftSim  # noqa: E402
from minestudio.simulator.callbacks.prev_action import avail_keys  # noqa: E402
from minestudio.simulator.entry import CameraConfig  # noqa: E402
from minestudio.utils.vpt_lib.action_mapping import CameraHierarchicalMapping  # noqa: E402
from minestudio.utils.vpt_lib.actions import ActionTransformer  # noqa: E402

from harness.errors import CrossviewError  # noqa: E402
from harness.spec import Action, CrossViewGoal, Interaction, Observation  # noqa: E402
from policies.base import make_policy  # noqa: E402
from policies.rocket import actions as vpt  # noqa: E402
from policies.rocket.inputs import InputBuilder  # noqa: E402
from policies.rocket.policy import MineStudioPolicy  # noqa: E402
from tests.policies.minestudio_models import TiedCrossView, TinyCrossView, saved, tiny_timm_backbone, tiny_vpt  # noqa: E402

TESTS = str(Path(__file__).resolve().parents[2])


def sim_converter() -> types.SimpleNamespace:
    """What ``MinecraftSim.agent_action_to_env_action`` reads from ``self``, built as MinecraftSim.__init__ builds it
    (minestudio/simulator/entry.py:141-145); the engine itself (Java) is not needed for the conversion."""
    cfg = CameraConfig()
    return types.SimpleNamespace(action_mapper=CameraHierarchicalMapping(n_camera_bins=cfg.n_camera_bins),
                                 action_transformer=ActionTransformer(**cfg.action_transformer_kwargs))


def upstream_env_action(buttons: np.ndarray, camera: np.ndarray) -> dict:
    return MinecraftSim.agent_action_to_env_action(sim_converter(), {"buttons": buttons[:, None],
                                                                     "camera": camera[:, None]})


def frames(rng: np.random.Generator, n: int, size: int = 96) -> tuple[list[Observation], list[CrossViewGoal]]:
    obs = [Observation(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]
    goals = []
    for _ in range(n):
        mask = np.zeros((size, size), bool)
        y, x = rng.integers(0, size - 20, 2)
        mask[y:y + 20, x:x + 20] = True
        goals.append(CrossViewGoal(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), mask,
                                   Interaction(int(rng.choice([2, 3, 6])))))
    return obs, goals


@pytest.fixture(scope="module")
def vpt_folder(tmp_path_factory) -> Path:
    return saved(tiny_vpt(), tmp_path_factory.mktemp("vpt"))


@pytest.fixture(scope="module")
def xview_folder(tmp_path_factory) -> Path:
    torch.manual_seed(1)
    return saved(TinyCrossView(), tmp_path_factory.mktemp("xview"))


def xview(folder: Path, **options) -> MineStudioPolicy:
    return make_policy("minestudio", model="tests.policies.minestudio_models:TinyCrossView", code=TESTS,
                       checkpoint=str(folder), device="cpu", **options)


def test_every_vpt_index_converts_as_minecraftsim() -> None:
    """All 8641 × 121 (buttons, camera) pairs: our env action and common action against upstream's conversion."""
    b, c = np.meshgrid(np.arange(vpt.N_BUTTONS), np.arange(vpt.N_CAMERA), indexing="ij")
    up = upstream_env_action(b.ravel(), c.ravel())
    up_camera = up["camera"].reshape(vpt.N_BUTTONS, vpt.N_CAMERA, 2)
    degrees = np.stack(np.divmod(np.arange(vpt.N_CAMERA), 11), -1)
    for index in range(vpt.N_BUTTONS):
        ours = vpt.vpt_to_env(index, 0)
        for name in vpt.ENV_BUTTONS:
            assert (up[name].reshape(vpt.N_BUTTONS, -1)[index] == ours[name]).all(), (index, name)
        want = vpt.bin_to_degrees(degrees) if vpt.camera_applies(index) else np.zeros((vpt.N_CAMERA, 2))
        np.testing.assert_allclose(up_camera[index], want, atol=1e-9, err_msg=str(index))
    # the common action carries the same movement keys and camera (hotbar, drop, inventory have no equivalent)
    for index in range(0, vpt.N_BUTTONS, 7):
        for cam in (0, 60, 93):
            a, e = vpt.vpt_to_action(index, cam), vpt.vpt_to_env(index, cam)
            assert [getattr(a, k) for k in ("forward", "back", "left", "right", "jump", "sneak", "sprint", "attack",
                                            "use")] == [bool(e[k]) for k in ("forward", "back", "left", "right",
                                                                             "jump", "sneak", "sprint", "attack",
                                                                             "use")]
            np.testing.assert_allclose(a.camera, e["camera"])


def test_inventory_keeps_the_camera_head_as_upstream() -> None:
    up = upstream_env_action(np.array([vpt.INVENTORY]), np.array([0]))
    assert up["inventory"][0] == 1 and up["camera"][0] == pytest.approx([-10, -10])
    assert vpt.vpt_to_action(vpt.INVENTORY, 0).camera == pytest.approx((-10, -10))


def test_common_action_to_vpt_as_minecraftsim() -> None:
    """Every combination of the nine common buttons × camera turns: ours against MinecraftSim's env → agent mapping
    (minestudio/simulator/entry.py:171-180: ``env2policy`` then ``from_factored``), sprint+sneak included."""
    keys = ("forward", "back", "left", "right", "jump", "sneak", "sprint", "attack", "use")
    cameras = [(0.0, 0.0), (0.0, 3.0), (-10.0, 0.0), (4.2, -0.7), (45.0, -45.0), (0.4, 0.2)]
    combos = [(bits, cam) for bits in itertools.product((False, True), repeat=len(keys)) for cam in cameras]
    env = {k: np.array([int(bits[i]) for bits, _ in combos]) for i, k in enumerate(keys)}
    env["camera"] = np.array([cam for _, cam in combos], dtype=np.float64)
    up = MinecraftSim.env_action_to_agent_action(sim_converter(), env)
    for n, (bits, cam) in enumerate(combos):
        ours = vpt.action_to_vpt(Action(**dict(zip(keys, bits)), camera=cam))
        assert ours == (int(up["buttons"][n, 0]), int(up["camera"][n, 0])), (bits, cam)


def test_env_prev_action_matches_the_simulator_format() -> None:
    builder = InputBuilder("none", 128, prev_action=True, device="cpu")
    rng = np.random.default_rng(0)
    pairs = [(int(rng.integers(vpt.N_BUTTONS)), int(rng.integers(vpt.N_CAMERA))) for _ in range(5)]
    got = builder.env_prev_action([None, *pairs])
    assert set(got) == set(avail_keys)  # the keys PrevActionCallback hands on (prev_action.py:14-17,74,86-93)
    up = upstream_env_action(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    for name in vpt.ENV_BUTTONS:
        assert got[name].shape == (6, 1) and got[name].dtype == torch.long
        assert got[name][0, 0] == 0  # an episode starts with the zero action (prev_action.py:86-93)
        assert got[name][1:, 0].tolist() == up[name].tolist()
    assert got["camera"].shape == (6, 1, 2) and (got["camera"][0] == 0).all()
    np.testing.assert_allclose(got["camera"][1:, 0].numpy(), up["camera"], rtol=1e-6)


def test_vpt_runs_through_the_wrapper(vpt_folder: Path) -> None:
    policy = make_policy("minestudio", model="minestudio.models:VPTPolicy", checkpoint=str(vpt_folder), device="cpu")
    assert policy.goal == "none" and policy.inputs.size == 128 and policy.info.checkpoint_sha256
    policy.reset(3)
    rng = np.random.default_rng(0)
    for _ in range(3):
        obs, goals = frames(rng, 3)
        acts = policy.act(obs, goals, [None] * 3)
        assert len(acts) == 3 and all(isinstance(a, Action) for a in acts)
    state = policy._memory[1]
    fresh = policy.model.initial_state(1)
    assert len(state) == len(fresh) and all(s.shape == f.shape for s, f in zip(state, fresh))


@pytest.mark.parametrize("kind", ["vpt", "xview"])
def test_memory_per_slot_batched_equals_one_by_one(kind: str, vpt_folder: Path, xview_folder: Path) -> None:
    make = (lambda: make_policy("minestudio", model="minestudio.models:VPTPolicy", checkpoint=str(vpt_folder),
                                device="cpu")) if kind == "vpt" else (lambda: xview(xview_folder, cfg_coef=1.5))
    batched, single = make(), make()
    seeds = [11, 12, 13]
    batched.reset(3, seeds=seeds)
    single.reset(3, seeds=seeds)
    rng = np.random.default_rng(1)
    for step in range(4):
        obs, goals = frames(rng, 3)
        a = batched.act(obs, goals, [None] * 3)
        b = [single.act([obs[k]], [goals[k]], [None], slots=[k])[0] for k in (2, 0, 1)]
        assert a == [b[1], b[2], b[0]], step
        for s in range(3):
            for x, y in zip(batched._memory[s], single._memory[s]):
                torch.testing.assert_close(x, y, rtol=1e-3, atol=1e-4)
    # a slot restarting its episode starts from the initial state; the others keep theirs
    kept = [x.clone() for x in batched._memory[0]]
    batched.reset(3, slots=[1], seeds=[5])
    assert batched._memory[1] is None and batched._base[1] is None and batched._prev[1] is None
    assert all(torch.equal(x, y) for x, y in zip(kept, batched._memory[0]))


def test_guidance_keeps_a_separate_memory_for_the_null_goal(xview_folder: Path) -> None:
    k = 1.5
    policy = xview(xview_folder, cfg_coef=k, deterministic=True)
    policy.reset(2)
    model = policy.model
    rng = np.random.default_rng(2)
    cond_state = base_state = None
    prev = [None, None]
    for _ in range(3):
        obs, goals = frames(rng, 2)
        cond_in = policy.inputs.build(obs, goals, prev)
        # the unconditioned input as ROCKET-2's CFGWrapper makes it from the conditioned one (zero image, zero mask,
        # id -1, the rest shared: CraftJarvis/ROCKET-2:cfg_wrapper.py:39-42), not from the wrapper's null goal
        cv = cond_in["cross_view"]
        base_in = {**cond_in, "cross_view": {"cross_view_image": torch.zeros_like(cv["cross_view_image"]),
                                             "cross_view_obj_id": torch.zeros_like(cv["cross_view_obj_id"]) - 1,
                                             "cross_view_obj_mask": torch.zeros_like(cv["cross_view_obj_mask"])}}
        with torch.inference_mode():
            cond, cond_state = model(cond_in, cond_state)
            base, base_state = model(base_in, base_state)
        want = {n: (1 + k) * v - k * base["pi_logits"][n] for n, v in cond["pi_logits"].items()}
        got = policy.logits(obs, goals, [0, 1])
        for n in want:
            torch.testing.assert_close(got[n], want[n], rtol=1e-4, atol=1e-4)
        for s in (0, 1):
            torch.testing.assert_close(policy._memory[s][1], cond_state[1][s:s + 1])
            torch.testing.assert_close(policy._base[s][1], base_state[1][s:s + 1])
        sample = model.pi_head.sample(got, deterministic=True)
        prev = [(int(sample["buttons"][s].reshape(-1)[-1]), int(sample["camera"][s].reshape(-1)[-1])) for s in (0, 1)]
        policy._prev = list(prev)
    assert not torch.equal(policy._memory[0][1], policy._base[0][1])


def test_a_segmentation_conditioned_minestudio_policy_is_refused_in_one_line(tmp_path: Path) -> None:
    from minestudio.models import RocketPolicy as Rocket1

    backbone = tiny_timm_backbone(tmp_path / "vit")
    torch.manual_seed(0)
    folder = saved(Rocket1(backbone=backbone, hiddim=32, num_heads=2, num_layers=1, timesteps=4, mem_len=4),
                   tmp_path / "rocket1")
    with pytest.raises(CrossviewError, match="'segment' goal") as err:
        make_policy("minestudio", model="minestudio.models:RocketPolicy", checkpoint=str(folder), device="cpu")
    assert "\n" not in str(err.value)


def test_mismatched_weights_name_their_keys(vpt_folder: Path, xview_folder: Path) -> None:
    with pytest.raises(CrossviewError, match="missing keys.*unexpected keys") as err:
        make_policy("minestudio", model="tests.policies.minestudio_models:TinyCrossView", code=TESTS,
                    checkpoint=str(vpt_folder), device="cpu")
    assert "net.img_process" in str(err.value) and "\n" not in str(err.value)


def test_tied_weights_saved_once_by_safetensors_still_load(tmp_path: Path) -> None:
    torch.manual_seed(3)
    folder = saved(TiedCrossView(), tmp_path / "tied")
    policy = make_policy("minestudio", model="tests.policies.minestudio_models:TiedCrossView", code=TESTS,
                         checkpoint=str(folder), device="cpu")
    assert policy.model.interaction_copy.weight is policy.model.interaction.weight
    obs, goals = frames(np.random.default_rng(0), 1)
    policy.reset(1)
    assert len(policy.act(obs, goals, [None])) == 1


def test_lightning_checkpoint_with_mine_policy_prefix(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = TinyCrossView(use_prev_action=False)
    ckpt = tmp_path / "weights.ckpt"
    torch.save({"hyper_parameters": {"model": {"hiddim": 32, "use_prev_action": False}},
                "state_dict": {f"mine_policy.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    policy = xview(ckpt)
    assert not policy.inputs.prev_action
    for name, value in model.state_dict().items():
        torch.testing.assert_close(policy.model.state_dict()[name], value)


def test_loading_errors_are_one_line(tmp_path: Path, xview_folder: Path) -> None:
    cases = [
        (dict(model="rocket2_missing.model:CrossViewRocket"), "cannot be imported"),
        (dict(model="model:CrossViewRocket", code=str(tmp_path / "no-checkout")), "does not exist"),
        (dict(model="model:CrossViewRocket", code="$CROSSVIEW_NO_SUCH_VAR"), "environment variable in it is not set"),
        (dict(model="minestudio.models:NoSuchPolicy"), "has no 'NoSuchPolicy'"),
        (dict(model="harness.spec:Action"), "not a minestudio.models.MinePolicy"),
        (dict(model="minestudio.models:VPTPolicy", checkpoint=str(tmp_path)), "no config.json"),
    ]
    for options, message in cases:
        options.setdefault("checkpoint", str(xview_folder))
        with pytest.raises(CrossviewError, match=message) as err:
            make_policy("minestudio", device="cpu", **options)
        assert "\n" not in str(err.value)
    with pytest.raises(CrossviewError, match="needs option model"):
        make_policy("rocket")


@pytest.mark.skipif(not os.environ.get("CROSSVIEW_ROCKET2_CODE"),
                    reason="set CROSSVIEW_ROCKET2_CODE to a CraftJarvis/ROCKET-2 checkout to compare with its code")
def test_rocket2_code_matches_its_cfg_wrapper(tmp_path: Path) -> None:
    """ROCKET-2's own CrossViewRocket (tiny backbones) through the wrapper vs its CFGWrapper, step by step."""
    code = os.environ["CROSSVIEW_ROCKET2_CODE"]
    policy_opts = dict(model="model:CrossViewRocket", code=code, device="cpu", deterministic=True, cfg_coef=1.0)
    from policies.rocket import loading

    cls = loading.model_class("model:CrossViewRocket", code)
    from cfg_wrapper import CFGWrapper  # CraftJarvis/ROCKET-2:cfg_wrapper.py

    backbone = tiny_timm_backbone(tmp_path / "vit")
    torch.manual_seed(0)
    model = cls(view_backbone=backbone, mask_backbone=backbone, hiddim=32, num_heads=2, num_layers=1, timesteps=4,
                mem_len=4, use_prev_action=True, num_view_tokens=2).eval()
    folder = saved(model, tmp_path / "rocket2")
    policy = make_policy("rocket", checkpoint=str(folder), **policy_opts)
    assert policy.inputs.prev_action and policy.goal == "cross_view"
    policy.reset(1)
    upstream = CFGWrapper(model, k=1.0)
    state = upstream.initial_state()
    env_prev = {k: np.array(0) for k in vpt.ENV_BUTTONS} | {"camera": np.array([0.0, 0.0])}
    rng = np.random.default_rng(4)
    for step in range(4):
        obs, goals = frames(rng, 1, size=224)
        ours = policy.act(obs, goals, [None])[0]
        inp = {"image": obs[0].rgb, "env_prev_action": env_prev,
               "cross_view": {"cross_view_image": goals[0].image,
                              "cross_view_obj_id": torch.tensor(int(goals[0].interaction)),
                              "cross_view_obj_mask": torch.tensor(goals[0].mask.astype(np.uint8))}}
        action, state = upstream.get_action(inp, state, deterministic=True, input_shape="*")
        b, c = int(action["buttons"].reshape(-1)[-1]), int(action["camera"].reshape(-1)[-1])
        assert policy._prev[0] == (b, c), step
        assert ours == vpt.vpt_to_action(b, c)
        env = upstream_env_action(np.array([b]), np.array([c]))
        env_prev = {k: np.array(env[k][0]) for k in vpt.ENV_BUTTONS} | {"camera": env["camera"][0]}
