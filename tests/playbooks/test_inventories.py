"""The shipped inventories parse, and site.yml passes a syntax check against each of them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLE = TOP / "inventory" / "example"
VAULT_ID = f"fleet@{EXAMPLE / 'vault-password.example'}"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(TOP / "ansible.cfg")}
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=TOP, env=env, text=True, capture_output=True
    )


def test_example_vault_is_encrypted_under_the_fleet_vault_id() -> None:
    first = (EXAMPLE / "group_vars" / "all" / "vault.yml").read_text().splitlines()[0]
    assert first == "$ANSIBLE_VAULT;1.2;AES256;fleet"


def test_every_vault_variable_is_referenced_from_a_plain_variable() -> None:
    listed = _run(
        "ansible-inventory", "-i", str(EXAMPLE / "hosts.yml"), "--vault-id", VAULT_ID, "--list"
    )
    assert listed.returncode == 0, listed.stderr
    hostvars = json.loads(listed.stdout)["_meta"]["hostvars"]
    vault_names = {k for hv in hostvars.values() for k in hv if k.startswith("vault_")}
    assert vault_names, "the example vault defines no vault_* variables"
    plain = "\n".join(p.read_text() for p in EXAMPLE.rglob("*.yml") if p.name != "vault.yml")
    unreferenced = {n for n in vault_names if not re.search(r"\b" + n + r"\b", plain)}
    assert not unreferenced, f"vault variables no plain file names: {sorted(unreferenced)}"


@pytest.mark.parametrize("inventory", ["inventory/example/hosts.yml", "inventory/demo/hosts.yml"])
def test_site_yml_passes_syntax_check(inventory: str) -> None:
    checked = _run(
        "ansible-playbook", "-i", inventory, "--vault-id", VAULT_ID, "--syntax-check", "site.yml"
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_example_displays_group_lists_the_panels() -> None:
    listed = _run(
        "ansible-inventory", "-i", str(EXAMPLE / "hosts.yml"), "--vault-id", VAULT_ID, "--list"
    )
    data = json.loads(listed.stdout)
    assert set(data["displays"]["hosts"]) == {"kitchen", "hall"}
    geometry = data["_meta"]["hostvars"]["hall"]
    assert (
        geometry["rgb_matrix_cols"] * geometry["rgb_matrix_chain_length"],
        geometry["rgb_matrix_rows"],
    ) == (192, 64)
