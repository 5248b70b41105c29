"""rgb_matrix_panel_problems: what is wrong with the panel options, one sentence each.

The limits come from ``rgb_matrix__panel_spec`` (vars/main.yml), which scripts/panel-contract.py
generates from the app's own definitions (app/src/needledrop/settings.py), so the role refuses
exactly what the app's config validation refuses (tests/playbooks/test_panel_contract.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

PARALLEL_MAX = 3  # more chains only with the compute-module mapping


def _shown(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _fits(value: Any, spec: Mapping[str, Any]) -> bool:
    kind = spec["kind"]
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str) and ("choices" not in spec or value in spec["choices"])
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    low, high, step = spec["min"], spec["max"], spec.get("step", 1)
    return low <= value <= high and (value - low) % step == 0


def _allowed(spec: Mapping[str, Any]) -> str:
    if "allowed" in spec:
        return str(spec["allowed"])
    return "one of " + ", ".join(_shown(c) for c in spec["choices"])


def rgb_matrix_panel_problems(
    panel: Mapping[str, Any], spec: Mapping[str, Mapping[str, Any]], extra: Mapping[str, Any]
) -> list[str]:
    """One sentence per bad option of ``panel`` (by app key); [] when all are good."""
    problems = []
    unknown = sorted(set(panel) - set(spec))
    if unknown:
        problems.append(
            f"rgb_matrix_extra_options has {', '.join(unknown)}, which are not panel options; "
            f"use the rgb_matrix_<name> variables ({', '.join(spec)})."
        )
    for name, option in spec.items():
        value = panel.get(name)
        if not _fits(value, option):
            where = " (set in rgb_matrix_extra_options)" if name in extra else ""
            problems.append(
                f"rgb_matrix_{name} is {_shown(value)}{where}; it must be {_allowed(option)}."
            )
    parallel = panel.get("parallel")
    if (
        isinstance(parallel, int)
        and parallel > PARALLEL_MAX
        and panel.get("hardware_mapping") != "compute-module"
    ):
        problems.append(
            f"rgb_matrix_parallel is {parallel}, but only the 'compute-module' hardware mapping "
            f"drives more than {PARALLEL_MAX} chains; set it to 1..{PARALLEL_MAX} or "
            "rgb_matrix_hardware_mapping to compute-module."
        )
    return problems


class FilterModule:
    """The role's filters."""

    def filters(self) -> dict[str, Any]:
        return {"rgb_matrix_panel_problems": rgb_matrix_panel_problems}
