"""A display whose Spotify sign-in died, and playbooks/reauth.yml run against it on this machine.

The display is a real ``needledrop run`` (png backend) on the loopback fake Spotify, its files
under a temporary directory, as an Ansible host with ``ansible_connection: local``. A browser
stand-in (``Browser``) watches the playbook's output for the authorize URL and follows it: the
fake's /authorize answers 302 to the account's loopback redirect URI, where the playbook listens.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
from credentials_harness import BIN, TOP, VAULT_PASSWORD, write_ansible_cfg

sys.path.insert(0, str(TOP / "tests"))  # `import fakes`

from fakes.spotify import FakeSpotify  # noqa: E402

OTHER_VAULT = {  # vault variables reauth.yml must leave alone
    "vault_wifi_password": "wifi-pass-word 1",
    "vault_spotify_studio_client_id": "studio-id",
    "vault_spotify_studio_client_secret": "studio-secret",
    "vault_spotify_studio_token": '{"access_token": "x", "refresh_token": "y", "expires_at": 1}',
    "vault_spotify_studio_authorized_at": "2026-09-01",
    "vault_number": 42,
    "vault_list": ["a", "b: c"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def decrypt(path: Path, password_file: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(BIN / "ansible-vault"), "view", "--vault-id", f"fleet@{password_file}", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return yaml.safe_load(done.stdout)


@dataclass
class Result:
    rc: int
    output: str


@dataclass
class Display:
    """The inventory, the vault and one display running the app, all under ``root``."""

    root: Path
    fake: FakeSpotify
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> Path:
        return self.root / "host"

    @property
    def token_file(self) -> Path:
        return self.host / "state" / "spotify-token.json"

    @property
    def marker(self) -> Path:
        return self.host / "state" / "reauth-needed.json"

    @property
    def vault_file(self) -> Path:
        return self.root / "inventory" / "group_vars" / "all" / "vault.yml"

    @property
    def password_file(self) -> Path:
        return self.root / "vault-pass"

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/callback"

    def write(self, signin: dict[str, Any], authorized_at: int) -> None:
        inv = self.root / "inventory"
        (inv / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
        (self.host / "state").mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        self.password_file.write_text(VAULT_PASSWORD + "\n")
        vault = {
            "vault_spotify_home_client_id": self.fake.client_id,
            "vault_spotify_home_client_secret": self.fake.client_secret,
            "vault_spotify_home_token": json.dumps(signin),
            "vault_spotify_home_authorized_at": "2026-06-01T10:00:00Z",
            **OTHER_VAULT,
        }
        self.vault_file.write_text(
            "---\n# Secrets of the test fleet.\n" + yaml.safe_dump(vault, sort_keys=False)
        )
        subprocess.run(
            [str(BIN / "ansible-vault"), "encrypt", "--vault-id", f"fleet@{self.password_file}"]
            + [str(self.vault_file)],
            check=True,
            capture_output=True,
        )
        plain = {
            "matrix_app_spotify_accounts_url": self.fake.url,
            "spotify_accounts": {
                "home": {
                    "client_id": "{{ vault_spotify_home_client_id }}",
                    "client_secret": "{{ vault_spotify_home_client_secret }}",
                    "redirect_uri": self.redirect_uri,
                    "token": "{{ vault_spotify_home_token }}",
                    "authorized_at": "{{ vault_spotify_home_authorized_at }}",
                },
                "studio": {
                    "client_id": "{{ vault_spotify_studio_client_id }}",
                    "client_secret": "{{ vault_spotify_studio_client_secret }}",
                    "redirect_uri": "http://127.0.0.1:8888/callback",
                    "token": "{{ vault_spotify_studio_token }}",
                    "authorized_at": "{{ vault_spotify_studio_authorized_at }}",
                },
            },
        }
        (inv / "group_vars" / "all" / "vars.yml").write_text(yaml.safe_dump(plain))
        import grp
        import pwd

        display = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "spotify_account": "home",
            "spotify_credentials_user": pwd.getpwuid(os.getuid()).pw_name,
            "spotify_credentials_group": grp.getgrgid(os.getgid()).gr_name,
            "spotify_credentials_env_file": str(self.host / "spotify.env"),
            "spotify_credentials_token_path": str(self.token_file),
            "reauth_needledrop": str(BIN / "needledrop"),
            "reauth_config_file": str(self.host / "needledrop.toml"),
            "reauth_wait_timeout": 40,
        }
        # A display of another account, switched off: reauth.yml must leave it alone.
        other = {
            **display,
            "spotify_account": "studio",
            "spotify_credentials_token_path": str(self.root / "studio" / "token.json"),
            "reauth_config_file": str(self.root / "studio" / "needledrop.toml"),
        }
        (self.root / "studio").mkdir(exist_ok=True)
        (self.root / "studio" / "token.json").write_text(OTHER_VAULT["vault_spotify_studio_token"])
        (inv / "hosts.yml").write_text(
            yaml.safe_dump({"displays": {"hosts": {"display": display, "studio-display": other}}})
        )
        write_ansible_cfg(self.root)
        (self.host / "needledrop.toml").write_text(
            'source = "spotify"\n'
            f'[paths]\ntoken_cache = "{self.token_file}"\nstate_dir = "{self.host / "state"}"\n'
            f'cache_dir = "{self.host / "cache"}"\n'
            f'[display]\nbackend = "png"\npng_dir = "{self.host / "frames"}"\nfps = 2\n'
            "[matrix]\nrows = 32\ncols = 64\n"
            f'[spotify]\naccounts_url = "{self.fake.url}"\napi_url = "{self.fake.api_url}"\n'
            "[polling]\ntoken_check_s = 1\nidle_s = 1\npaused_s = 1\nbackoff_max_s = 2\n"
        )
        token = {**signin, "authorized_at": authorized_at}
        self.token_file.write_text(json.dumps(token))
        self.token_file.chmod(0o600)

    # --- the app ---------------------------------------------------------------------------

    def start_app(self) -> None:
        env = {
            **os.environ,
            "SPOTIPY_CLIENT_ID": self.fake.client_id,
            "SPOTIPY_CLIENT_SECRET": self.fake.client_secret,
            "SPOTIPY_REDIRECT_URI": self.redirect_uri,
        }
        log = (self.root / "app.log").open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "needledrop"), "run", "--config", str(self.host / "needledrop.toml")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop_app(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)

    def status(self) -> dict[str, Any]:
        done = subprocess.run(
            [str(BIN / "needledrop"), "status", "--json", "--config"]
            + [str(self.host / "needledrop.toml")],
            capture_output=True,
            text=True,
        )
        return json.loads(done.stdout)

    def wait_for(self, what: str, check: Any, timeout: float = 40.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        doc: dict[str, Any] = {}
        while time.monotonic() < deadline:
            doc = self.status()
            if check(doc):
                return doc
            time.sleep(0.3)
        log = (self.root / "app.log").read_text(errors="replace")[-2000:]
        raise AssertionError(f"display never {what}: {doc}\n{log}")

    # --- the playbook ----------------------------------------------------------------------

    def run(self, *args: str, browser: Browser | None = None, stdin: str = "") -> Result:
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(self.root / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("ANSIBLE_VAULT_IDENTITY_LIST", None)
        proc = subprocess.Popen(
            [str(BIN / "ansible-playbook"), "-i", str(self.root / "inventory" / "hosts.yml")]
            + ["--vault-id", f"fleet@{self.password_file}", *args]
            + [str(TOP / "playbooks" / "reauth.yml")],
            cwd=self.root,
            env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if stdin:
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            proc.stdin.close()
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if browser is not None:
                browser.see(line)
        rc = proc.wait(timeout=300)
        if browser is not None:
            browser.join()
        return Result(rc, "".join(lines))

    def run_at_terminal(self, *args: str, answer: Any) -> Result:
        """Run the playbook on a pseudo-terminal (ansible's pause prompts only there); when the
        output so far makes ``answer(output)`` return a line, type it in."""
        import pty
        import select
        import termios

        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(self.root / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
        }
        env.pop("ANSIBLE_VAULT_IDENTITY_LIST", None)
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [str(BIN / "ansible-playbook"), "-i", str(self.root / "inventory" / "hosts.yml")]
            + ["--vault-id", f"fleet@{self.password_file}", *args]
            + [str(TOP / "playbooks" / "reauth.yml")],
            cwd=self.root,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
        os.close(slave)
        out = b""
        line: str | None = None
        typed_at: float | None = None
        read = False
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the playbook ended and closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
            if line is None:
                line = answer(out.decode("utf-8", "replace"))
            if line is None or read:
                continue
            # The prompt reads only once it has put the terminal in raw mode and flushed what
            # was typed before (ansible's prompt_until): type while it waits, again if a
            # flush took it; it is read when the prompt puts the terminal back.
            try:
                raw = not termios.tcgetattr(master)[3] & termios.ICANON
            except termios.error:  # the playbook ended
                break
            if raw and (typed_at is None or time.monotonic() - typed_at > 2):
                os.write(master, line.encode() + b"\r")
                typed_at = time.monotonic()
            read = typed_at is not None and not raw
        os.close(master)
        rc = proc.wait(timeout=60)
        return Result(rc, out.decode("utf-8", "replace").replace("\r\n", "\n"))


def _take_terminal() -> None:
    """In the child, after setsid: make stdin (the pty) the controlling terminal."""
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Browser:
    """Plays the person at the browser: opens the authorize URL the playbook prints (once)."""

    def __init__(self, authorize_url: str, tweak: Any = None) -> None:
        self.pattern = re.compile(re.escape(authorize_url) + r"\?\S+")
        self.tweak = tweak  # changes the URL the browser lands on (a wrong state, ...)
        self.thread: threading.Thread | None = None
        self.landed: list[str] = []

    def see(self, line: str) -> None:
        found = self.pattern.search(line)
        if found and self.thread is None:
            self.thread = threading.Thread(target=self._open, args=(found.group(0),), daemon=True)
            self.thread.start()

    def _open(self, url: str) -> None:
        time.sleep(0.2)  # the listener starts right after it printed the URL
        answer = requests.get(url, allow_redirects=False, timeout=10)
        target = answer.headers["Location"]
        if self.tweak is not None:
            target = self.tweak(target)
        self.landed.append(target)
        for _ in range(50):
            try:
                requests.get(target, timeout=10)
                return
            except requests.ConnectionError:
                time.sleep(0.2)

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join(timeout=30)
