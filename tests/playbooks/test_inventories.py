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
DEMO = TOP / "inventory" / "demo"
DEMO_VAULT_ID = f"demo@{DEMO / 'vault-password'}"
# Each shipped inventory, its vault file and the vault id that opens it.
VAULTS = {
    "example": (EXAMPLE, EXAMPLE / "group_vars" / "all" / "vault.yml", VAULT_ID),
    "demo": (DEMO, DEMO / "group_vars" / "displays" / "vault.yml", DEMO_VAULT_ID),
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(TOP / "ansible.cfg")}
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=TOP, env=env, text=True, capture_output=True
    )


@pytest.mark.parametrize("name", list(VAULTS))
def test_vault_is_encrypted_under_its_inventorys_vault_id(name: str) -> None:
    _, vault, vault_id = VAULTS[name]
    first = vault.read_text().splitlines()[0]
    assert first == "$ANSIBLE_VAULT;1.2;AES256;" + vault_id.split("@")[0]


@pytest.mark.parametrize("name", list(VAULTS))
def test_every_vault_variable_is_referenced_from_a_plain_variable(name: str) -> None:
    inventory, _, vault_id = VAULTS[name]
    listed = _run(
        "ansible-inventory", "-i", str(inventory / "hosts.yml"), "--vault-id", vault_id, "--list"
    )
    assert listed.returncode == 0, listed.stderr
    hostvars = json.loads(listed.stdout)["_meta"]["hostvars"]
    vault_names = {k for hv in hostvars.values() for k in hv if k.startswith("vault_")}
    assert vault_names, f"the {name} vault defines no vault_* variables"
    plain = "\n".join(p.read_text() for p in inventory.rglob("*.yml") if p.name != "vault.yml")
    unreferenced = {n for n in vault_names if not re.search(r"\b" + n + r"\b", plain)}
    assert not unreferenced, f"vault variables no plain file names: {sorted(unreferenced)}"


def test_demo_secrets_are_only_in_its_vault() -> None:
    """The demo's plain files name its secrets; the values are in the encrypted file only."""
    plain = "\n".join(p.read_text() for p in DEMO.rglob("*.yml") if p.name != "vault.yml")
    for value in ("fake-client-secret", "rt-needledrop-demo", "fake-client-id"):
        assert value not in plain
    listed = _run(
        "ansible-inventory",
        "-i",
        str(DEMO / "hosts.yml"),
        "--vault-id",
        DEMO_VAULT_ID,
        "--host",
        "demo-kitchen",
    )
    assert listed.returncode == 0, listed.stderr
    host = json.loads(listed.stdout)
    assert host["vault_spotify_demo_client_secret"] == "fake-client-secret"
    assert json.loads(host["vault_spotify_demo_token"])["refresh_token"] == "rt-needledrop-demo"


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
