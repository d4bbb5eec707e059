"""Before any episode runs: load every policy once and check it against every adapter it will face."""

from __future__ import annotations

from harness.errors import CrossviewError
from harness.plan import Plan, PolicyRef
from harness.spec import Modality
from policies.base import PolicyInfo, make_policy


def load_infos(plan: Plan) -> dict[str, PolicyInfo]:
    """Construct each distinct policy of the plan once (a broken checkpoint fails here, in one line)."""
    infos: dict[str, PolicyInfo] = {}
    for ep in plan.episodes:
        ref: PolicyRef = ep.policy
        if ref.key in infos:
            continue
        try:
            infos[ref.key] = make_policy(ref.kind, **ref.build_options()).info
        except CrossviewError as exc:
            raise CrossviewError(f"policy {ref.name!r}: {exc}") from None
    return infos


def check_policies(plan: Plan, infos: dict[str, PolicyInfo] | None = None) -> None:
    """One-line error if a policy cannot run on an adapter it is planned against; ``infos`` per policy key (as
    the sweep's workers report them), else every policy is loaded here."""
    infos = load_infos(plan) if infos is None else infos
    seen: set[tuple[str, str, str]] = set()
    for ep in plan.episodes:
        key = (ep.policy.key, ep.env.key, ep.task.interaction.name, ep.task.goal)
        if key in seen:
            continue
        seen.add(key)
        pinfo, ainfo = infos[ep.policy.key], plan.adapters[ep.env.key]
        where = f"policy {ep.policy.name!r} on adapter {ep.env.adapter!r}"
        if pinfo.privileged and not ainfo.privileged_facts:
            raise CrossviewError(f"{where}: the policy reads privileged facts (pose, target, waypoints) and the "
                                 "adapter does not declare privileged_facts; drop this policy for this environment")
        goal = Modality.parse(ep.task.goal)
        if goal not in pinfo.goals:
            accepted = ", ".join(m.value for m in pinfo.goals)
            raise CrossviewError(f"policy {ep.policy.name!r} accepts {accepted} goals, not {goal.value}; give it "
                                 f"its own goals: [{accepted}] in the config, or drop {goal.value} from goals")
        if goal not in ainfo.goals:
            given = ", ".join(m.value for m in ainfo.goals)
            raise CrossviewError(f"adapter {ep.env.adapter!r} gives {given} goals, not {goal.value}; drop "
                                 f"{goal.value} from goals (or from the goals of policy {ep.policy.name!r})")
        if pinfo.interactions and ep.task.interaction not in pinfo.interactions:
            allowed = ", ".join(i.name.lower() for i in pinfo.interactions)
            raise CrossviewError(f"{where}: interaction {ep.task.interaction.name.lower()} is not one the policy "
                                 f"knows ({allowed}); narrow the environment's interactions")
        if pinfo.input_size is not None and tuple(pinfo.input_size) != tuple(ainfo.obs_size):
            h, w = pinfo.input_size
            raise CrossviewError(f"{where}: the policy takes {h}x{w} images but the adapter gives "
                                 f"{ainfo.obs_size[0]}x{ainfo.obs_size[1]}; set the adapter option image_size")
