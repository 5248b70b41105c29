"""Run the spotify_credentials role on this machine (connection local) from a vaulted inventory.

The host's files go under a temporary directory: the env file, the token cache and Ansible's
own temp directories, so a test can look at everything the run left behind.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

TOP = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VAULT_PASSWORD = "credentials-test-password"

# The plain side of the inventory: every secret by its vault_* name (as inventory/example does).
PLAIN_ACCOUNTS = {
    "home": {
        "client_id": "{{ vault_spotify_home_client_id }}",
        "client_secret": "{{ vault_spotify_home_client_secret }}",
        "redirect_uri": "http://127.0.0.1:8888/callback",
        "token": "{{ vault_spotify_home_token }}",
        "authorized_at": "{{ vault_spotify_home_authorized_at }}",
    }
}


def token_json(access: str, refresh: str, expires_at: int = 1790000000) -> str:
    return json.dumps(
        {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "user-read-currently-playing user-read-playback-state",
            "expires_at": expires_at,
            "refresh_token": refresh,
        }
    )


# A vault that holds everything PLAIN_ACCOUNTS names.
GOOD = {
    "vault_spotify_home_client_id": "0123456789abcdef0123456789abcdef",
    "vault_spotify_home_client_secret": "bad-input-test-secret",
    "vault_spotify_home_token": token_json("access-1", "refresh-1"),
    "vault_spotify_home_authorized_at": "2026-10-01",
}


def _accounts(**over: object) -> dict:
    return {"home": {**PLAIN_ACCOUNTS["home"], **over}}


# Bad account input: name -> (vault, accounts or None for PLAIN_ACCOUNTS, host vars, message).
CASES = {
    "missing vault variable": (
        {k: v for k, v in GOOD.items() if k != "vault_spotify_home_token"},
        None,
        {},
        r"spotify_accounts\.home\.token uses vault_spotify_home_token, which is undefined: "
        r"add vault_spotify_home_token to the vault",
    ),
    "unknown account": (
        GOOD,
        None,
        {"spotify_account": "attic"},
        r"spotify_account names 'attic', which is not in spotify_accounts \(home\): "
        r"fix the name or add the account",
    ),
    "token without refresh_token": (
        {
            **GOOD,
            "vault_spotify_home_token": json.dumps(
                {"access_token": "a", "expires_at": 1790000000, "token_type": "Bearer"}
            ),
        },
        None,
        {},
        r"spotify_accounts\.home\.token has no refresh_token.*sign in again with "
        r"'needledrop auth'",
    ),
    "non-loopback http redirect": (
        GOOD,
        _accounts(redirect_uri="http://kitchen.local:8888/callback"),
        {},
        r"spotify_accounts\.home\.redirect_uri may use http only on a loopback address "
        r"\(http://127\.0\.0\.1:PORT/",
    ),
    "localhost redirect": (
        GOOD,
        _accounts(redirect_uri="http://localhost:8888/callback"),
        {},
        r"spotify_accounts\.home\.redirect_uri must not use 'localhost'.*"
        r"use http://127\.0\.0\.1:8888/callback",
    ),
    "malformed token JSON": (
        {**GOOD, "vault_spotify_home_token": token_json("access-1", "refresh-1")[:40]},
        None,
        {},
        r"spotify_accounts\.home\.token is not valid JSON.*put the whole \.cache file",
    ),
    "authorized_at not a date": (
        {**GOOD, "vault_spotify_home_authorized_at": "the day we moved in"},
        None,
        {},
        r"spotify_accounts\.home\.authorized_at is not a date.*write the sign-in date as "
        r"2026-11-29",
    ),
}


def write_ansible_cfg(root: Path) -> None:
    """The harness's ansible.cfg under root: the project's roles, the yaml result format, its
    temporary and fact-cache directories under root/tmp."""
    (root / "ansible.cfg").write_text(
        "[defaults]\n"
        f"roles_path = {TOP / 'roles'}\n"
        "stdout_callback = ansible.builtin.default\n"
        "callback_result_format = yaml\n"
        f"local_tmp = {root / 'tmp' / 'local'}\n"
        f"remote_tmp = {root / 'tmp' / 'remote'}\n"
        "retry_files_enabled = false\n"
        # As the project's ansible.cfg: cached facts are files a leak could land in.
        "fact_caching = jsonfile\n"
        f"fact_caching_connection = {root / 'tmp' / 'facts'}\n"
        "nocows = true\n"
    )


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP of an ansible-playbook run: host -> {ok, changed, failed, ...}."""
    return {
        m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
        for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", output, re.M)
    }


@dataclass
class Run:
    rc: int
    output: str
    recap: dict[str, dict[str, int]]


@dataclass
class Fleet:
    """A one-display inventory in `root`; the display's files live in `root / 'host'`."""

    root: Path

    @property
    def host(self) -> Path:
        return self.root / "host"

    @property
    def env_file(self) -> Path:
        return self.host / "etc" / "needledrop" / "spotify.env"

    @property
    def token_file(self) -> Path:
        return self.host / "var" / "lib" / "needledrop" / "spotify-token.json"

    def write(
        self, vault: dict[str, str], accounts: dict | None = None, **host_vars: object
    ) -> None:
        inv = self.root / "inventory"
        (inv / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        (self.root / "vault-pass").write_text(VAULT_PASSWORD + "\n")
        vault_file = inv / "group_vars" / "all" / "vault.yml"
        vault_file.write_text(yaml.safe_dump(vault))
        subprocess.run(
            [
                str(BIN / "ansible-vault"),
                "encrypt",
                "--vault-id",
                f"fleet@{self.root / 'vault-pass'}",
            ]
            + [str(vault_file)],
            check=True,
            capture_output=True,
        )
        plain = {"spotify_accounts": PLAIN_ACCOUNTS if accounts is None else accounts}
        (inv / "group_vars" / "all" / "vars.yml").write_text(yaml.safe_dump(plain))
        me = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        display = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "spotify_credentials_user": me,
            "spotify_credentials_group": group,
            "spotify_credentials_env_file": str(self.env_file),
            "spotify_credentials_token_path": str(self.token_file),
            **host_vars,
        }
        hosts = {"displays": {"hosts": {"display": display}}}
        (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
        (self.root / "play.yml").write_text(
            yaml.safe_dump(
                [
                    {
                        "name": "Spotify credentials",
                        "hosts": "displays",
                        "gather_facts": False,
                        "roles": [{"role": "spotify_credentials"}],
                    }
                ]
            )
        )
        write_ansible_cfg(self.root)

    def run(self, *args: str) -> Run:
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(self.root / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
        }
        env.pop("ANSIBLE_VAULT_IDENTITY_LIST", None)
        done = subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(self.root / "inventory" / "hosts.yml")]
            + [
                "--vault-id",
                f"fleet@{self.root / 'vault-pass'}",
                *args,
                str(self.root / "play.yml"),
            ],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
        )
        output = done.stdout + done.stderr
        return Run(done.returncode, output, parse_recap(output))
