"""Action tables: how the common action maps to a backend's native controls.

Each adapter ships a default table (from the paper's Table 4, ../notes) and a user may override any entry in the
adapter's ``action_map`` option; unknown keys are refused in one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.errors import CrossviewError
from harness.spec import ACTION_FIELDS


def merge_table(default: Mapping[str, Any], overrides: Mapping[str, Any] | None, adapter: str) -> dict[str, Any]:
    """The default table with the user's overrides; ``masked`` must name common action fields."""
    table = dict(default)
    for key, value in (overrides or {}).items():
        if key not in default:
            raise CrossviewError(f"{adapter} option action_map has unknown key {key!r}: "
                                 f"allowed are {', '.join(sorted(default))}")
        table[key] = value
    bad = set(table.get("masked", ())) - set(ACTION_FIELDS)
    if bad:
        raise CrossviewError(f"{adapter} option action_map.masked names unknown field(s) {sorted(bad)}: "
                             f"allowed are {', '.join(ACTION_FIELDS)}")
    return table
