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


MAPPERS = "Rotate, Mirror, U-mapper, V-mapper, StackToRow, Remap"


def _mapped(panel: Mapping[str, Any]) -> tuple[int, int] | str:
    """The canvas (width, height) after the pixel mappers, or what is wrong with the mappers.

    The same size rules and parameter checks as the app's config validation (and upstream's
    lib/pixel-mapper.cc), written for the role: a role cannot import the app.
    """
    cols, rows = panel["cols"], panel["rows"]
    chain, parallel = panel["chain_length"], panel["parallel"]
    width, height = cols * chain, rows * parallel
    for mapper in filter(None, (p.strip() for p in panel["pixel_mapper_config"].split(";"))):
        name, _, arg = (x.strip() for x in mapper.partition(":"))
        if name == "Rotate":
            try:
                angle = int(arg or "0")
            except ValueError:
                return f"Rotate takes a multiple of 90 degrees, not {arg!r}"
            if angle % 90:
                return f"Rotate takes a multiple of 90 degrees, not {angle}"
            if angle % 180:
                width, height = height, width
        elif name == "Mirror":
            if arg.upper() not in ("H", "V"):
                return f"Mirror takes H or V, not {arg!r}"
        elif name == "U-mapper":
            if chain < 2 or chain % 2:
                return "U-mapper needs an even rgb_matrix_chain_length of at least 2"
            width, height = (width // 64) * 32, height * 2
        elif name == "V-mapper":
            if arg and arg.upper() != "Z":
                return f"V-mapper takes nothing or Z, not {arg!r}"
            width, height = width * parallel // chain, height * chain // parallel
        elif name == "StackToRow":
            width, height = width * parallel, height // parallel
        elif name == "Remap":
            w, _, rest = arg.partition(",")
            h = rest.partition("|")[0]
            if not (w.strip().isdigit() and h.strip().isdigit()):
                return f"Remap starts with WIDTH,HEIGHT|, not {arg!r}"
            width, height = int(w), int(h)
        else:
            return f"{name!r} is not a pixel mapper (known: {MAPPERS})"
        if width < 1 or height < 1:
            return f"it maps the panel to {width}x{height} pixels at {name!r}"
    return width, height


def _canvas_problem(panel: Mapping[str, Any], canvas_min: int) -> str | None:
    """What is wrong with the canvas the panel options make, or None."""
    mappers = panel["pixel_mapper_config"]
    size = _mapped(panel)
    if isinstance(size, str):
        return (
            f"rgb_matrix_pixel_mapper_config is {_shown(mappers)}: {size}; fix the mapper chain "
            "(see docs/panel.md)."
        )
    width, height = size
    if width >= canvas_min and height >= canvas_min:
        return None
    mapped = bool(mappers.strip())
    how = (
        "after rgb_matrix_pixel_mapper_config"
        if mapped
        else f"(rgb_matrix_cols {panel['cols']} x rgb_matrix_chain_length "
        f"{panel['chain_length']} by rgb_matrix_rows {panel['rows']} x rgb_matrix_parallel "
        f"{panel['parallel']})"
    )
    fix = "raise rgb_matrix_rows, rgb_matrix_cols, rgb_matrix_chain_length or rgb_matrix_parallel"
    if mapped:
        fix += ", or change rgb_matrix_pixel_mapper_config"
    return (
        f"rgb_matrix_rows, rgb_matrix_cols, rgb_matrix_chain_length and rgb_matrix_parallel make "
        f"a canvas of {width}x{height} pixels {how}; needledrop draws panels from "
        f"{canvas_min}x{canvas_min} up: {fix}."
    )


def rgb_matrix_panel_problems(
    panel: Mapping[str, Any],
    spec: Mapping[str, Mapping[str, Any]],
    extra: Mapping[str, Any],
    canvas_min: int,
) -> list[str]:
    """One sentence per bad option of ``panel`` (by app key); [] when all are good.
    ``canvas_min``: the smallest canvas side the app draws (after the pixel mappers)."""
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
    if not problems:  # the canvas the options make, once each option is right
        canvas = _canvas_problem(panel, canvas_min)
        if canvas is not None:
            problems.append(canvas)
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
