"""matrix_app writes [matrix] from the one panel contract (docs/panel.md), with or without
the rgb_matrix role.

The role's own variables and template are rendered with Ansible's templating (in process, as
the template module does), and the result is read back by the app's own parser: every panel
key of the app lands in [matrix] with the value the inventory gave. Where the rgb_matrix role
ran, [matrix] is its validated fact ``rgb_matrix_panel``; alone (png or emulator backend on a
host without a panel), matrix_app's generated copy of the contract with the app's defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from hypothesis import assume, example, given, settings
from hypothesis import strategies as hs
from needledrop.config import ConfigError, parse_config
from needledrop.settings import MATRIX, SERVICE_USER, Setting

TOP = Path(__file__).resolve().parents[2]
APP_ROLE = TOP / "roles" / "matrix_app"
RGB_ROLE = TOP / "roles" / "rgb_matrix"
TEMPLATE = APP_ROLE / "templates" / "etc" / "needledrop" / "needledrop.toml.j2"


def _trusted(value: Any) -> Any:
    from ansible.template import trust_as_template

    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    return value


def _role_vars(role: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in ("defaults", "vars"):
        out |= yaml.safe_load((role / part / "main.yml").read_text()) or {}
    return out


@functools.cache
def _loader() -> Any:
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import add_all_plugin_dirs, init_plugin_loader

    init_plugin_loader()
    add_all_plugin_dirs(str(APP_ROLE))  # the role's filters, as a play running the role has
    return DataLoader()


def _templar(variables: dict[str, Any]) -> Any:
    from ansible.template import Templar

    return Templar(loader=_loader(), variables=variables)


_APP_VARS = _trusted(_role_vars(APP_ROLE))
_RGB_VARS = _trusted(_role_vars(RGB_ROLE))


def render_config(inventory: dict[str, Any], with_rgb_matrix: bool) -> str:
    """needledrop.toml as matrix_app writes it for a host with these inventory variables."""
    from ansible.template import trust_as_template

    variables = _APP_VARS | {
        "inventory_hostname": "display",
        "ansible_managed": "Ansible managed",
        "ansible_config_file": str(TOP / "ansible.cfg"),
    }
    if with_rgb_matrix:  # what the rgb_matrix role leaves behind: its defaults and its fact
        variables |= _RGB_VARS | inventory
        fact = _templar(variables).template(variables["rgb_matrix__panel"])
        variables["rgb_matrix_panel"] = fact
    else:
        variables |= inventory
    text = trust_as_template(TEMPLATE.read_text())
    return str(_templar(variables).template(text))


def _values(st: Setting) -> hs.SearchStrategy[Any]:
    if st.kind == "bool":
        return hs.booleans()
    if st.choices:
        return hs.sampled_from(st.choices)
    if st.kind == "int":
        assert st.lo is not None and st.hi is not None
        lo, hi = int(st.lo), int(st.hi)
        return hs.integers(0, (hi - lo) // st.step).map(lambda i: lo + i * st.step)
    if st.name == "pixel_mapper_config":
        return hs.sampled_from(["", "Rotate:90", "Mirror:H", "U-mapper;Rotate:180", "V-mapper"])
    return hs.text(min_size=1, max_size=12)  # user and group names: any string the app takes


# A subset of the panel keys set in the inventory, each to a value of its kind.
PANELS = hs.fixed_dictionaries({}, optional={st.name: _values(st) for st in MATRIX})


def _accepted(panel: dict[str, Any]) -> bool:
    try:
        parse_config({"matrix": panel}, {})
    except ConfigError:
        return False
    return True


def _inventory(panel: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {f"rgb_matrix_{k}": v for k, v in panel.items()} | {"rgb_matrix_extra_options": extra}


@settings(max_examples=200, deadline=None)
@given(panel=PANELS, with_rgb_matrix=hs.booleans(), split=hs.integers(0, 5))
def test_every_contract_key_lands_in_matrix_and_the_app_reads_it_back(
    panel, with_rgb_matrix, split
):
    full = {st.name: st.default for st in MATRIX} | panel
    assume(_accepted(full))
    # Some keys come through rgb_matrix_extra_options, as the roles allow.
    names = sorted(panel)
    extra = {k: panel[k] for k in names[:split]}
    plain = {k: panel[k] for k in names[split:]}
    text = render_config(_inventory(plain, extra), with_rgb_matrix)
    doc = tomllib.loads(text)
    assert set(doc["matrix"]) == {st.name for st in MATRIX}, text
    cfg = parse_config(doc, {})
    assert dataclasses.asdict(cfg.matrix) == full


def test_alone_matrix_app_drops_the_panel_to_its_own_service_user():
    text = render_config({"matrix_app_user": "disp", "matrix_app_group": "disp"}, False)
    cfg = parse_config(tomllib.loads(text), {})
    assert (cfg.matrix.drop_priv_user, cfg.matrix.drop_priv_group) == ("disp", "disp")
    assert SERVICE_USER == "needledrop"  # the default both roles share


def test_matrix_app_keeps_no_panel_key_list_of_its_own():
    text = "\n".join(p.read_text() for p in APP_ROLE.rglob("*.yml"))
    assert "matrix_app__matrix_keys" not in text
    defaults = yaml.safe_load((APP_ROLE / "vars" / "main.yml").read_text())
    assert defaults["matrix_app__panel_defaults"] == {st.name: st.default for st in MATRIX}


@settings(max_examples=40, deadline=None)
@given(panel=PANELS)
@example(panel={"rows": 8})  # too small as a whole: named "matrix" (found by a run)
def test_alone_a_panel_the_app_refuses_is_caught_by_the_roles_check(panel):
    """validate.yml feeds the rendered file to files/check_config.py (the app's parser) before
    any change; without rgb_matrix in the play it is the panel's only check."""
    full = {st.name: st.default for st in MATRIX} | panel
    text = render_config(_inventory(panel, {}), with_rgb_matrix=False)
    done = subprocess.run(
        [sys.executable, str(APP_ROLE / "files" / "check_config.py"), str(TOP / "app" / "src")],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    verdict = json.loads(done.stdout)
    assert verdict["ok"] == _accepted(full), verdict
    if not verdict["ok"]:  # one key, or the whole panel (its size) named as "matrix"
        assert verdict["key"] == "matrix" or verdict["key"].startswith("matrix."), verdict
