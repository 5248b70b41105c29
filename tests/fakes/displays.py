"""``needledrop run`` processes on loopback, each with its own state, token and config, aimed at a
FakeSpotify: the fleet tests and the sharing benchmark drive several of them on one account."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from needledrop.share import PATH, authorization

from fakes.spotify import FakeSpotify

# Small timings so a test runs in seconds (the defaults are 20 s long polls, 30 s failover).
FAST = (
    "[polling]\nskip_bound_s = 1\npaused_s = 1\nidle_s = 1\nburst_s = 1\n"
    "backoff_min_s = 0.2\nbackoff_max_s = 1\n"
    "[share]\nlong_poll_s = 1\nfailover_s = 3\nrecheck_s = 1\n"
)
KEY = "fleet-key-" + "0123456789abcdef" * 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Display:
    """One ``needledrop run`` process with its own state, token and config."""

    def __init__(
        self,
        root: Path,
        name: str,
        fake: FakeSpotify,
        share: str,
        source: str,
        key: str = KEY,
        timings: str = FAST,
    ) -> None:
        """``share``: lines of the [share] table (after ``timings``, which ends in it)."""
        self.name, self.dir = name, root / name
        (self.dir / "state").mkdir(parents=True)
        grant = fake.grant()
        self.access_token = grant["access_token"]
        token = self.dir / "state" / "token.json"
        token.write_text(json.dumps(grant | {"authorized_at": 1_760_000_000}))
        token.chmod(0o600)
        self.config = self.dir / "needledrop.toml"
        self.config.write_text(
            f'source = "{source}"\n'
            f'[paths]\ntoken_cache = "{token}"\nstate_dir = "{self.dir}/state"\n'
            f'cache_dir = "{self.dir}/cache"\n'
            f'[display]\nbackend = "png"\npng_dir = "{self.dir}/frames"\n'
            f'[spotify]\napi_url = "{fake.api_url}"\naccounts_url = "{fake.url}"\n'
            f"{timings}{share}"
        )
        self.env = {
            **os.environ,
            "SPOTIPY_CLIENT_ID": fake.client_id,
            "SPOTIPY_CLIENT_SECRET": fake.client_secret,
            "SPOTIPY_REDIRECT_URI": "http://127.0.0.1:8765/callback",
            "NEEDLEDROP_SHARE_KEY": key,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Display:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "needledrop", "run", "--config", str(self.config)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "log", "ab"),  # noqa: SIM115 - the child owns it
        )
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def status(self) -> dict[str, Any]:
        try:
            return json.loads((self.dir / "state" / "status.json").read_text())
        except (OSError, ValueError):
            return {}

    def title(self) -> str | None:
        return (self.status().get("showing") or {}).get("title")

    def log(self) -> str:
        return (self.dir / "log").read_text(errors="replace")


def wait_for(what: Callable[[], bool], within: float, why: str) -> float:
    """Wait until ``what()``; the seconds it took. Fails after ``within`` seconds."""
    start = time.monotonic()
    while not what():
        if time.monotonic() - start > within:
            raise TimeoutError(f"not within {within} s: {why}")
        time.sleep(0.05)
    return time.monotonic() - start


def spotify_calls_by(fake: FakeSpotify, display: Display, since: float = 0.0) -> int:
    bearer = f"Bearer {display.access_token}"
    return sum(
        1
        for c in fake.calls_to("player")
        if c.at >= since and c.headers.get("authorization") == bearer
    )


def signed_get(port: int, key: str) -> tuple[int, bytes]:
    target = PATH + "?wait=0"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            "GET",
            target,
            headers={"Authorization": authorization(key.encode(), "GET", target, time.time())},
        )
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
