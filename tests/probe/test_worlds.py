"""Probes from the Unreal routes, through the real clients against the local servers that speak AirSim's and
UnrealCV's wire protocols (the Rooms renderer behind them): every world of one config gets items, each answer
follows from the depth the route delivered, the same seed gives the same items."""

from __future__ import annotations

import numpy as np
import pytest

from harness.probe.answerers import oracle_choice
from harness.probe.frames import Look, sample_frame
from harness.probe.generate import generate
from harness.probe.items import TASKS
from harness.probe.options import GenOptions
from tests.servers.fixtures import start, suite

ROUTES = {"airsim": ("cosysairsim", "airsim_server"), "unrealcv": ("unrealcv", "unrealcv_server")}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_unreal_route_probes_follow_the_delivered_depth(route: str) -> None:
    from adapters.base import make_adapter

    module, server = ROUTES[route]
    pytest.importorskip(module, reason=f"{module} is not installed (pip install 'crossview-harness[...]', README)",
                        exc_type=ImportError)
    adapter = make_adapter(route, tasks=str(suite(route)), port=start(server))
    try:
        domain = adapter.info.domains[0]
        frames = [sample_frame(adapter, domain, "zeroshot", i, 0, Look(steps=1)) for i in range(2)]
        again = sample_frame(adapter, domain, "zeroshot", 1, 0, Look(steps=1))
    finally:
        adapter.close()
    assert np.array_equal(again.rgb, frames[1].rgb) and np.array_equal(again.depth, frames[1].depth)
    tasks_seen = set()
    for frame in frames:
        assert frame.depth is not None and np.isfinite(frame.depth).any()
        for item in generate(frame, f"{route}/{frame.index}", TASKS, 2, GenOptions())[0]:
            assert oracle_choice(item) == item.answer
            tasks_seen.add(item.task)
            if item.task == "depth_order":
                medians = [float(np.median(frame.depth[y0:y1 + 1, x0:x1 + 1]))
                           for x0, y0, x1, y1 in item.provenance["boxes"]]
                assert abs(medians[0] - medians[1]) >= GenOptions().depth_margin_m
                assert item.answer == int(np.argmin(medians))
    assert "depth_order" in tasks_seen and {"patch_reorder", "patch_inpaint"} & tasks_seen
