"""Every role documents itself: argument specs cover every default, ansible-doc shows them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TOP = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (TOP / "roles").iterdir() if (p / "tasks").is_dir())


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_name_every_default_with_its_prefix(role: str) -> None:
    defaults = _yaml(TOP / "roles" / role / "defaults" / "main.yml")
    specs = _yaml(TOP / "roles" / role / "meta" / "argument_specs.yml")
    options = specs["argument_specs"]["main"]["options"]
    assert set(defaults) <= set(options), set(defaults) - set(options)
    assert all(name.startswith(role + "_") for name in options), role
    assert all(opt.get("description") for opt in options.values()), role


@pytest.mark.parametrize("role", ROLES)
def test_role_has_readme_sections_in_house_order(role: str) -> None:
    text = (TOP / "roles" / role / "README.md").read_text()
    heads = ["## Requirements", "## Role Variables", "## Dependencies", "## Example Playbook"]
    positions = [text.find(h) for h in heads]
    assert -1 not in positions and positions == sorted(positions), positions


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_shows_the_role(role: str) -> None:
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-doc"), "-t", "role", "-r", "roles", role],
        cwd=TOP,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert "ENTRY POINT: main" in shown.stdout.replace("\x1b[1m", "").replace("\x1b[0m", "")
