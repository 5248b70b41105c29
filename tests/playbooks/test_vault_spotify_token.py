"""scripts/vault_spotify_token.py puts a sign-in into the encrypted vault, keeping the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from test_spotify_credentials_plugins import F

TOP = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRIPT = TOP / "scripts" / "vault_spotify_token.py"
NOW = 1796000000.0

CACHE = {
    "access_token": "canaryaccess5Tq",
    "token_type": "Bearer",
    "expires_in": 3600,
    "scope": "user-read-currently-playing user-read-playback-state",
    "expires_at": 1795003600,
    "refresh_token": "canaryrefresh8Wn",
    "authorized_at": 1795000000,
}


def _setup(tmp_path: Path, vault_text: str | None) -> tuple[Path, str]:
    password = tmp_path / "pass"
    password.write_text("script-test-password\n")
    vault = tmp_path / "vault.yml"
    if vault_text is not None:
        vault.write_text(vault_text)
        subprocess.run(
            [str(BIN / "ansible-vault"), "encrypt", "--vault-id", f"fleet@{password}", str(vault)],
            check=True,
            capture_output=True,
        )
    return vault, f"fleet@{password}"


def _script(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], input=stdin, capture_output=True, text=True
    )


def _view(vault: Path, vault_id: str) -> str:
    return subprocess.run(
        [str(BIN / "ansible-vault"), "view", "--vault-id", vault_id, str(vault)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_sign_in_goes_into_the_vault_next_to_the_other_secrets(tmp_path: Path) -> None:
    vault, vault_id = _setup(
        tmp_path, '---\n# keep me\nvault_wifi_password: "w1f1"\nvault_spotify_home_token: old\n'
    )
    cache = tmp_path / "spotify-token.json"
    cache.write_text(json.dumps(CACHE))
    done = _script("--vault", str(vault), "--vault-id", vault_id, "--account", "home")
    assert done.returncode == 2 and "Nothing to do" in done.stderr
    done = _script(
        "--vault", str(vault), "--vault-id", vault_id, "--account", "home", "--cache", str(cache)
    )
    assert done.returncode == 0, done.stderr
    assert "vault_spotify_home_token" in done.stdout and "2026-11-18T11:06:40Z" in done.stdout
    assert "canary" not in done.stdout + done.stderr
    assert vault.read_text().startswith("$ANSIBLE_VAULT;1.2;AES256;fleet\n")
    assert "canary" not in vault.read_text()
    plain = _view(vault, vault_id)
    assert "# keep me" in plain
    data = yaml.safe_load(plain)
    assert data["vault_wifi_password"] == "w1f1"
    # What the role reads back is the same sign-in.
    token = F.parse_token(data["vault_spotify_home_token"])
    assert token == {k: v for k, v in CACHE.items() if k != "authorized_at"}
    assert F.parse_authorized_at(data["vault_spotify_home_authorized_at"], NOW) == 1795000000


def test_a_new_vault_with_client_credentials_asked_without_echo(tmp_path: Path) -> None:
    vault, vault_id = _setup(tmp_path, None)
    cache = tmp_path / "c.json"
    cache.write_text(json.dumps({k: v for k, v in CACHE.items() if k != "authorized_at"}))
    args = ["--vault", str(vault), "--vault-id", vault_id, "--account", "studio", "--client"]
    missing_date = _script(*args, "--cache", str(cache), stdin="id\nsecret\n")
    assert missing_date.returncode == 2 and "--signed-in" in missing_date.stderr
    assert not vault.exists()
    done = _script(
        *args,
        "--cache",
        str(cache),
        "--signed-in",
        "2026-11-02",
        stdin="abc123\ncanarysecret3Xz\n",
    )
    assert done.returncode == 0, done.stderr
    assert "canary" not in done.stdout + done.stderr
    data = yaml.safe_load(_view(vault, vault_id))
    assert data["vault_spotify_studio_client_id"] == "abc123"
    assert data["vault_spotify_studio_client_secret"] == "canarysecret3Xz"
    assert data["vault_spotify_studio_authorized_at"] == "2026-11-02T00:00:00Z"


def test_a_bad_cache_or_password_leaves_the_vault_as_it_was(tmp_path: Path) -> None:
    vault, vault_id = _setup(tmp_path, "---\nvault_wifi_password: w\n")
    before = vault.read_bytes()
    cache = tmp_path / "c.json"
    cache.write_text(json.dumps({k: v for k, v in CACHE.items() if k != "refresh_token"}))
    bad = _script(
        "--vault", str(vault), "--vault-id", vault_id, "--account", "home", "--cache", str(cache)
    )
    assert bad.returncode == 2 and "has no refresh_token" in bad.stderr
    cache.write_text(json.dumps(CACHE))
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password\n")
    bad = _script(
        "--vault",
        str(vault),
        "--vault-id",
        f"fleet@{wrong}",
        "--account",
        "home",
        "--cache",
        str(cache),
    )
    assert bad.returncode == 2 and "Cannot decrypt" in bad.stderr
    assert "Traceback" not in bad.stderr
    bad = _script(
        "--vault",
        str(vault),
        "--vault-id",
        vault_id,
        "--account",
        "Home Two",
        "--cache",
        str(cache),
    )
    assert bad.returncode == 2 and "--account" in bad.stderr
    assert vault.read_bytes() == before
