"""The matrix_app role's sharing variables: who is primary, what each display's config says.

Runs ansible on the controller only (local connection, no host changes): the role's defaults
and vars with an inventory of four displays on two accounts, the app's config rendered from the
role's template and parsed by the app itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from needledrop.config import parse_config

TOP = Path(__file__).resolve().parents[2]
ROLE = TOP / "roles" / "matrix_app"
sys.path.insert(0, str(ROLE / "filter_plugins"))

from matrix_app_share import (  # noqa: E402
    matrix_app_share_primary,
    matrix_app_share_primary_of,
    matrix_app_share_url,
)

KEY = "0123456789abcdef0123456789abcdef"


def test_the_primary_is_the_first_display_of_the_account_in_inventory_order():
    hostvars = {
        "a": {"spotify_account": "studio"},
        "b": {"spotify_account": "home"},
        "c": {"spotify_account": "home"},
        "d": {},
    }
    assert matrix_app_share_primary(["a", "b", "c", "d"], hostvars, "home") == "b"
    assert matrix_app_share_primary(["a", "b", "c", "d"], hostvars, "") == "d"
    assert matrix_app_share_primary(["a"], hostvars, "other") == ""


def test_a_chosen_primary_that_follows_another_display_is_seen():
    hostvars = {"a": {"matrix_app_share_primary": "b"}, "b": {}, "c": {}}
    assert matrix_app_share_primary_of("a", ["c", "a", "b"], hostvars) == "b"
    assert matrix_app_share_primary_of("b", ["c", "a", "b"], hostvars) == "c"  # b follows c


@pytest.mark.parametrize(
    ("host", "url"),
    [("kitchen", "http://kitchen:8765"), ("fd00::2", "http://[fd00::2]:8765")],
)
def test_the_followers_url_brackets_ipv6(host: str, url: str):
    assert matrix_app_share_url(host, 8765) == url


def run(
    tmp_path: Path, host_vars: dict[str, dict], extra: dict | None = None
) -> subprocess.CompletedProcess[str]:
    inventory = {
        "all": {
            # the role's defaults below inventory host vars, as a role's defaults are
            "vars": {
                **yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()),
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
            },
            "children": {"displays": {"hosts": host_vars}},
        }
    }
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    playbook = [
        {
            "hosts": "displays",
            "gather_facts": False,
            "vars_files": [str(ROLE / "vars" / "main.yml")],
            "vars": extra or {},
            "tasks": [
                {
                    "name": "Show the role and config",
                    "ansible.builtin.debug": {
                        "msg": "CONFIG {{ inventory_hostname }} {{ matrix_app__share_role }} "
                        "{{ lookup('ansible.builtin.template', '"
                        + str(ROLE / "templates/etc/needledrop/needledrop.toml.j2")
                        + "') | b64encode }}"
                    },
                }
            ],
        }
    ]
    (tmp_path / "play.json").write_text(json.dumps(playbook))
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.json")]
        + [str(tmp_path / "play.json")],
        cwd=TOP,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(TOP / "ansible.cfg"),
            "ANSIBLE_FILTER_PLUGINS": str(ROLE / "filter_plugins"),
        },
        capture_output=True,
        text=True,
    )


def configs(result: subprocess.CompletedProcess[str]) -> dict[str, tuple[str, dict]]:
    import base64

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = {}
    for host, role, b64 in re.findall(r"CONFIG (\S+) (\S+) ([A-Za-z0-9+/=]+)", result.stdout):
        out[host] = (role, tomllib.loads(base64.b64decode(b64).decode()))
    return out


def test_inventory_picks_one_primary_per_account_and_the_others_follow_it(tmp_path: Path):
    hosts = {
        "kitchen": {
            "spotify_account": "home",
            "matrix_app_share_key": KEY,
            "matrix_app_share_bind": "10.0.0.2",
        },
        "hall": {
            "spotify_account": "home",
            "matrix_app_share_key": KEY,
            "ansible_host": "10.0.0.3",
        },
        "desk": {"spotify_account": "home", "matrix_app_share_key": KEY},
        "studio": {"spotify_account": "studio", "matrix_app_share_key": KEY},
        "attic": {"spotify_account": "home"},  # no key: polls alone
    }
    got = configs(run(tmp_path, hosts))
    assert {h: r for h, (r, _) in got.items()} == {
        "kitchen": "primary",
        "hall": "follower",
        "desk": "follower",
        "studio": "primary",
        "attic": "solo",
    }
    assert got["kitchen"][1]["share"] == {"serve": True, "bind": "10.0.0.2", "port": 8765}
    assert got["hall"][1]["source"] == "follow"
    assert got["hall"][1]["share"] == {"primary_url": "http://kitchen:8765"}
    assert "share" not in got["attic"][1] and got["attic"][1]["source"] == "spotify"
    env = {"NEEDLEDROP_SHARE_KEY": KEY}
    for _, doc in got.values():
        parse_config(doc, env)  # the app accepts every one
    assert KEY not in json.dumps([doc for _, doc in got.values()])  # the key is not in the config


def test_a_host_may_choose_its_primary(tmp_path: Path):
    hosts = {
        "kitchen": {"matrix_app_share_key": KEY, "matrix_app_share_primary": "hall"},
        "hall": {
            "matrix_app_share_key": KEY,
            "matrix_app_share_primary": "hall",
            "ansible_host": "192.168.1.7",
            "matrix_app_share_port": 9000,
        },
    }
    got = configs(run(tmp_path, hosts))
    assert got["hall"][0] == "primary" and got["kitchen"][0] == "follower"
    assert got["kitchen"][1]["share"]["primary_url"] == "http://192.168.1.7:9000"


@pytest.mark.parametrize("role", ["matrix_app", "circuitpython"])
def test_the_sharing_variables_descriptions_hold_no_template(role: str):
    """validate_argument_spec templates the specs: "{{ ... }}" in a description breaks the role."""
    specs = yaml.safe_load((TOP / "roles" / role / "meta" / "argument_specs.yml").read_text())
    for name, option in specs["argument_specs"]["main"]["options"].items():
        if "share" in name or "follow" in name:
            assert "{{" not in json.dumps(option.get("description")), name
