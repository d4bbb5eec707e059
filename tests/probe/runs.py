"""A small probe config over both Rooms domains, for the runner, CLI and endpoint tests."""

from __future__ import annotations

from typing import Any

from harness.probe.config import ProbeConfig, parse_probe_config


def small_probe(answerers: list[dict[str, Any]] | None = None, **overrides: Any) -> ProbeConfig:
    data: dict[str, Any] = {
        "name": "p",
        "sources": [
            {"adapter": "rooms", "role": "source", "domains": ["apartment"], "frames": 2,
             "options": {"image_size": [96, 96]}},
            {"adapter": "rooms", "role": "zeroshot", "domains": ["warehouse"], "frames": 2,
             "options": {"image_size": [96, 96]}},
        ],
        "per_task": 1,
        "answerers": answerers or [{"name": "random", "kind": "random"}, {"name": "oracle", "kind": "depth-oracle"}],
        "retries": 1,
    }
    data.update(overrides)
    return parse_probe_config(data)
