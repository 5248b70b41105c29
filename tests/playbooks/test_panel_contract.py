"""The rgb_matrix role and the app agree on every panel option (docs/panel.md).

The role's panel variables are generated from the app's definitions (scripts/panel-contract.py);
these tests fail when the committed role files drift from them, field by field, and when the
role's checks accept or refuse a value differently from the app's validation.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as hs
from needledrop.config import ConfigError, parse_config
from needledrop.settings import CANVAS_MIN, MATRIX, SERVICE_USER

TOP = Path(__file__).resolve().parents[2]
ROLE = TOP / "roles" / "rgb_matrix"
BIN = Path(sys.executable).parent


def _contract() -> Any:
    spec = importlib.util.spec_from_file_location(
        "panel_contract", TOP / "scripts/panel-contract.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def test_generated_role_blocks_are_up_to_date():
    stale = _contract().stale()
    assert not stale, f"run make panel-contract: {sorted(str(p) for p in stale)}"


def test_argument_specs_defaults_and_limits_agree_with_the_app_field_by_field():
    options = _yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = _yaml(ROLE / "defaults" / "main.yml")
    limits = _yaml(ROLE / "vars" / "main.yml")["rgb_matrix__panel_spec"]
    panel_vars = {k for k in options if k.removeprefix("rgb_matrix_") in limits}
    assert panel_vars == {st.role_var for st in MATRIX}
    for st in MATRIX:
        spec, lim = options[st.role_var], limits[st.name]
        assert spec["type"] == st.kind and lim["kind"] == st.kind, st.key
        assert spec["default"] == st.default == defaults[st.role_var], st.key
        assert tuple(spec.get("choices", ())) == st.choices, st.key
        assert tuple(lim.get("choices", ())) == st.choices, st.key
        assert (lim.get("min"), lim.get("max"), lim.get("step", 1)) == (st.lo, st.hi, st.step)


def test_both_sides_drop_privileges_to_pi_bases_service_user():
    pi_base = _yaml(TOP / "roles" / "pi_base" / "defaults" / "main.yml")
    defaults = _yaml(ROLE / "defaults" / "main.yml")
    assert pi_base["pi_base_service_user"] == SERVICE_USER
    assert defaults["rgb_matrix_drop_priv_user"] == defaults["rgb_matrix_drop_priv_group"]
    assert defaults["rgb_matrix_drop_priv_user"] == SERVICE_USER
    cfg = parse_config({}, {})
    assert (cfg.matrix.drop_priv_user, cfg.matrix.drop_priv_group) == (SERVICE_USER,) * 2


def test_nothing_writes_the_old_options_file():
    role_text = "\n".join(p.read_text() for p in ROLE.rglob("*.yml"))
    assert "rgb_matrix_options_file" not in role_text
    assert not (ROLE / "templates" / "etc" / "needledrop" / "matrix.toml.j2").exists()


# --- the role's checks refuse exactly what the app refuses -----------------------------------


def _cases() -> list[tuple[str, dict[str, Any]]]:
    """Values at and around each limit, wrong types and choices, by app key."""
    cases: list[tuple[str, dict[str, Any]]] = []
    for st in MATRIX:
        if st.kind == "int":
            assert st.lo is not None and st.hi is not None
            lo, hi = int(st.lo), int(st.hi)
            values: list[Any] = [lo - st.step, lo, hi, hi + st.step, "7", True]
            if st.step > 1:
                values.append(lo + 1)
        elif st.kind == "bool":
            values = [True, False, "yes", 1]
        else:
            values = [*st.choices, "not-a-choice", 3] if st.choices else ["", 3]
        for v in values:
            case = {st.name: v, **st.given}
            cases.append((f"{st.name}={v!r}", case))
    cases.append(("parallel=4 regular", {"parallel": 4, "hardware_mapping": "regular"}))
    cases.append(("canvas 16x8", {"rows": 8, "cols": 16}))
    cases.append(("canvas 16x16", {"rows": 8, "cols": 16, "parallel": 2}))
    cases.append(("canvas 8x64 rotated", {"rows": 8, "pixel_mapper_config": "Rotate:90"}))
    cases.append(("canvas 64x16 rotated", {"rows": 16, "pixel_mapper_config": "Rotate:90"}))
    cases.append(("mapper Rotate:45", {"pixel_mapper_config": "Rotate:45"}))
    cases.append(("mapper unknown", {"pixel_mapper_config": "Spiral"}))
    cases.append(("unknown key", {"rowz": 32}))
    return cases


def _filter() -> Any:
    path = ROLE / "filter_plugins" / "rgb_matrix_panel.py"
    spec = importlib.util.spec_from_file_location("rgb_matrix_panel", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _app_accepts(case: dict[str, Any]) -> bool:
    try:
        parse_config({"matrix": case}, {})
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize(("name", "case"), _cases(), ids=[n for n, _ in _cases()])
def test_role_refuses_exactly_what_the_app_refuses(name, case):
    """The role's filter with its generated limits, on the role's defaults plus one change."""
    defaults = _yaml(ROLE / "defaults" / "main.yml")
    spec = _yaml(ROLE / "vars" / "main.yml")["rgb_matrix__panel_spec"]
    panel = {st.name: defaults[st.role_var] for st in MATRIX} | case
    problems = _filter().rgb_matrix_panel_problems(panel, spec, case, CANVAS_MIN)
    assert (problems == []) == _app_accepts(case), problems
    assert all(p.startswith("rgb_matrix_") and p.count(". ") == 0 for p in problems), problems


def test_the_role_gets_the_apps_canvas_minimum_generated():
    assert _yaml(ROLE / "vars" / "main.yml")["rgb_matrix__canvas_min"] == CANVAS_MIN


MAPPERS = hs.one_of(
    hs.sampled_from(
        ["Rotate:0", "Rotate:90", "Rotate:270", "Rotate:45", "Rotate:x", "Mirror:H", "Mirror:Q"]
        + ["U-mapper", "V-mapper", "V-mapper:Z", "V-mapper:Q", "StackToRow", "Spiral", ""]
    ),
    hs.builds(lambda w, h: f"Remap:{w},{h}|0,0n", hs.integers(0, 80), hs.integers(0, 80)),
    hs.just("Remap:wide"),
)
PANELS = hs.fixed_dictionaries(
    {
        "rows": hs.integers(4, 33).map(lambda r: 2 * r),
        "cols": hs.sampled_from([16, 24, 32, 64, 128]),
        "chain_length": hs.integers(1, 4),
        "parallel": hs.integers(1, 4),
        "hardware_mapping": hs.sampled_from(["regular", "compute-module"]),
        "pixel_mapper_config": hs.lists(MAPPERS, max_size=3).map(";".join),
    }
)


@settings(max_examples=300, deadline=None)
@given(case=PANELS)
@example(
    {
        "rows": 8,
        "cols": 16,
        "chain_length": 1,
        "parallel": 1,
        "hardware_mapping": "regular",
        "pixel_mapper_config": "",
    }
)
def test_role_and_app_agree_on_every_canvas_and_mapper_chain(case):
    """Arbitrary panels: the role refuses (one sentence each) exactly what the app refuses."""
    defaults = _yaml(ROLE / "defaults" / "main.yml")
    spec = _yaml(ROLE / "vars" / "main.yml")["rgb_matrix__panel_spec"]
    panel = {st.name: defaults[st.role_var] for st in MATRIX} | case
    problems = _filter().rgb_matrix_panel_problems(panel, spec, {}, CANVAS_MIN)
    assert (problems == []) == _app_accepts(case), problems
    assert all(p.startswith("rgb_matrix_") and p.endswith(".") for p in problems), problems


def test_filter_and_app_share_the_compute_module_rule():
    from needledrop.settings import PARALLEL_MAX

    assert _filter().PARALLEL_MAX == PARALLEL_MAX


PLAYBOOK = """
- name: Run the rgb_matrix role's checks once per case
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: One case
      ansible.builtin.include_tasks: case.yml
      loop: "{{ cases }}"
      loop_control:
        loop_var: case
        label: "{{ case.0 }}"
    - name: Write the outcomes
      ansible.builtin.copy:
        content: "{{ outcomes | default({}) | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
"""
CASE = """
- name: Validate one case
  block:
    - name: Run the checks
      ansible.builtin.include_role:
        name: rgb_matrix
        tasks_from: validate
      vars:
        rgb_matrix_rows: "{{ case.1 }}"
        rgb_matrix_extra_options: "{{ case.2 }}"
        rgb_matrix_pi_model: Raspberry Pi 5 Model B Rev 1.0
    - name: Record a pass
      ansible.builtin.set_fact:
        outcomes: "{{ outcomes | default({}) | combine({case.0: 'ok'}) }}"
  rescue:
    - name: Record a refusal
      ansible.builtin.set_fact:
        outcomes: "{{ outcomes | default({}) | combine({case.0: ansible_failed_result.msg}) }}"
"""


def test_role_validation_runs_the_filter_before_any_change(tmp_path):
    cases = [
        ("defaults", 32, {}),
        ("rows 66", 66, {}),
        ("rows 9 and unknown key", 9, {"rowz": 1}),
        ("extra gpio_slowdown 11", 32, {"gpio_slowdown": 11}),
        ("rows 8 on one chain", 8, {"cols": 16}),
    ]
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "case.yml").write_text(CASE)
    extra = {"cases": cases, "out": str(tmp_path / "out.json")}
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(TOP / "ansible.cfg"),
        "ANSIBLE_INVENTORY": "localhost,",
        "ANSIBLE_CACHE_PLUGIN": "memory",
    }
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), str(tmp_path / "play.yml"), "-e", json.dumps(extra)],
        cwd=TOP,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["defaults"] == "ok"
    assert out["rows 66"] == "rgb_matrix_rows is 66; it must be an even integer from 8 to 64."
    assert "rgb_matrix_extra_options has rowz" in out["rows 9 and unknown key"]
    assert "rgb_matrix_rows is 9;" in out["rows 9 and unknown key"]
    assert out["rows 8 on one chain"].startswith(
        "rgb_matrix_rows, rgb_matrix_cols, rgb_matrix_chain_length and rgb_matrix_parallel make "
        "a canvas of 16x8 pixels"
    )
    assert out["extra gpio_slowdown 11"] == (
        "rgb_matrix_gpio_slowdown is 11 (set in rgb_matrix_extra_options); "
        "it must be an integer from -1 to 10."
    )


@pytest.mark.parametrize("st", [s for s in MATRIX if s.kind == "int"], ids=lambda s: s.name)
def test_refusal_message_names_the_variable_and_the_limits(st):
    # The role's message is built from the same 'allowed' text as the app's.
    limits = _yaml(ROLE / "vars" / "main.yml")["rgb_matrix__panel_spec"][st.name]
    assert limits["allowed"] == st.allowed()


def _inventory_panels() -> list[tuple[str, dict[str, Any]]]:
    """Each host's rgb_matrix_<name> values in the shipped inventories, by app key."""
    found = []
    for path in (TOP / "inventory" / "example" / "host_vars").glob("*.yml"):
        found.append((f"example/{path.stem}", _yaml(path)))
    demo = _yaml(TOP / "inventory" / "demo" / "hosts.yml")
    for name, hv in demo["all"]["children"]["displays"]["hosts"].items():
        found.append((f"demo/{name}", hv))
    names = {st.role_var: st.name for st in MATRIX}
    panels = [(host, {names[k]: v for k, v in hv.items() if k in names}) for host, hv in found]
    return [(host, panel) for host, panel in panels if panel]  # boards have no panel options


@pytest.mark.parametrize(("host", "panel"), _inventory_panels(), ids=lambda x: str(x)[:30])
def test_shipped_inventories_hold_panels_both_sides_accept(host, panel):
    cfg = parse_config({"matrix": panel}, {})
    assert all(getattr(cfg.matrix, k) == v for k, v in panel.items())
    defaults = _yaml(ROLE / "defaults" / "main.yml")
    spec = _yaml(ROLE / "vars" / "main.yml")["rgb_matrix__panel_spec"]
    merged = {st.name: defaults[st.role_var] for st in MATRIX} | panel
    assert _filter().rgb_matrix_panel_problems(merged, spec, {}, CANVAS_MIN) == []


def test_documented_template_of_rgb_matrix_panel_gives_a_matrix_section_the_app_reads():
    import tomllib

    import jinja2

    defaults = _yaml(ROLE / "defaults" / "main.yml")
    panel = {st.name: defaults[st.role_var] for st in MATRIX} | {"rows": 64, "rp1_rio": 1}
    doc = (TOP / "docs" / "panel.md").read_text()
    template = doc.split("```jinja\n", 1)[1].split("```", 1)[0]
    env = jinja2.Environment(keep_trailing_newline=True)
    env.filters["to_json"] = json.dumps
    text = env.from_string(template).render(rgb_matrix_panel=panel)
    cfg = parse_config(tomllib.loads(text), {})
    assert dataclasses.asdict(cfg.matrix) == panel
