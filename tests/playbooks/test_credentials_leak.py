"""Canary Spotify secrets from the vault never reach the output (-vvv --diff, --check) nor any
file on the host but the two meant for them."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path

from credentials_harness import Fleet, token_json

FIRST = {
    "vault_spotify_home_client_id": "canaryid0c4e1f2a9b7d",
    "vault_spotify_home_client_secret": "canarysecret7Hq2Lm9x",
    "vault_spotify_home_token": token_json("canaryaccessAq81Zr", "canaryrefreshKp27Wd"),
    "vault_spotify_home_authorized_at": "2026-10-01",
}
# A new sign-in and a new client secret: the --check run has something to show (and hide).
SECOND = {
    **FIRST,
    "vault_spotify_home_client_secret": "canarysecret2Bv5Nc4y",
    "vault_spotify_home_token": token_json("canaryaccessTe63Gu", "canaryrefreshYx94Ps"),
    "vault_spotify_home_authorized_at": "2026-11-20T08:00:00Z",
}
SECRETS = [
    "canaryid0c4e1f2a9b7d",
    "canarysecret7Hq2Lm9x",
    "canaryaccessAq81Zr",
    "canaryrefreshKp27Wd",
    "canarysecret2Bv5Nc4y",
    "canaryaccessTe63Gu",
    "canaryrefreshYx94Ps",
]


def _encodings(secret: str) -> set[str]:
    """Forms a careless task could print a secret in."""
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        base64.b64encode(secret.encode()).decode(),
        secret.encode().hex(),
    }


def _hits(text: str) -> list[str]:
    return [form for s in SECRETS for form in _encodings(s) if form in text]


def test_vaulted_spotify_secrets_stay_out_of_output_and_stray_files(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    fleet.write(FIRST)
    first = fleet.run("-vvv", "--diff")
    assert first.rc == 0, first.output[-3000:]
    assert first.recap["display"]["changed"] >= 2
    # The secrets did reach the files meant for them, so a clean output proves something.
    env = fleet.env_file.read_text()
    assert "SPOTIPY_CLIENT_SECRET=canarysecret7Hq2Lm9x" in env
    assert "SPOTIPY_CLIENT_ID=canaryid0c4e1f2a9b7d" in env
    assert json.loads(fleet.token_file.read_text())["refresh_token"] == "canaryrefreshKp27Wd"

    fleet.write(SECOND)
    checked = fleet.run("-vvv", "--diff", "--check")
    assert checked.rc == 0, checked.output[-3000:]
    assert checked.recap["display"]["changed"] >= 2  # would write both: the diff path ran
    assert "another authorisation" in checked.output
    assert json.loads(fleet.token_file.read_text())["refresh_token"] == "canaryrefreshKp27Wd"

    again = fleet.run("-vvv", "--diff")
    assert again.rc == 0 and "another authorisation" in again.output

    for run in (first, checked, again):
        assert "<display>" in run.output and "ansible-playbook" in run.output  # really -vvv
        assert _hits(run.output) == []

    intended = {fleet.env_file, fleet.token_file}
    scanned = 0
    for path in tmp_path.rglob("*"):
        if path.is_file() and path not in intended:
            scanned += 1
            data = path.read_bytes().decode("utf-8", "replace")
            assert _hits(data) == [], f"{path} holds a secret"
    assert scanned >= 5  # the inventory, the vault, the playbook, the config at least
