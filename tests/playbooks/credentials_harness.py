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
        (self.root / "ansible.cfg").write_text(
            "[defaults]\n"
            f"roles_path = {TOP / 'roles'}\n"
            "stdout_callback = ansible.builtin.default\n"
            "callback_result_format = yaml\n"
            f"local_tmp = {self.root / 'tmp' / 'local'}\n"
            f"remote_tmp = {self.root / 'tmp' / 'remote'}\n"
            "retry_files_enabled = false\n"
            # As the project's ansible.cfg: cached facts are files a leak could land in.
            "fact_caching = jsonfile\n"
            f"fact_caching_connection = {self.root / 'tmp' / 'facts'}\n"
            "nocows = true\n"
        )

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
        recap = {
            m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
            for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", output, re.M)
        }
        return Run(done.returncode, output, recap)
