"""`needledrop auth` against the fake accounts service, and the CLI's status/render/run."""

from __future__ import annotations

import json
import socket
import stat
import time
from pathlib import Path

import pytest
import requests
from fakes.spotify import FakeSpotify, fake_track
from needledrop.auth import AuthError, authorize
from needledrop.cli import main
from needledrop.config import SpotifyConfig
from needledrop.spotify import SpotifySource
from needledrop.status import iso
from PIL import Image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def auth_cfg(fake: FakeSpotify) -> SpotifyConfig:
    return SpotifyConfig(
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        redirect_uri=f"http://127.0.0.1:{free_port()}/callback",
        accounts_url=fake.url,
        api_url=fake.api_url,
    )


def browser(url: str) -> None:
    """A person who signs in: follows the authorize page's redirect to the loopback."""
    requests.get(url, timeout=10)


def test_loopback_sign_in_writes_a_working_0600_token_cache(fake, auth_cfg, tmp_path):
    token_path = tmp_path / "token.json"
    result = authorize(
        auth_cfg,
        token_path,
        open_url=browser,
        say=lambda s: None,
        clock=lambda: 1_790_000_000,
    )
    token = json.loads(token_path.read_text())
    assert set(token) >= {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "expires_at",
        "refresh_token",
    }
    assert token["authorized_at"] == result.authorized_at == 1_790_000_000
    assert set(token["scope"].split()) == {
        "user-read-currently-playing",
        "user-read-playback-state",
    }
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    # One token call, and it is the code exchange (not a refresh or a client-credentials grant).
    [code_call] = fake.calls_to("token")
    assert code_call.form["grant_type"] == ["authorization_code"]
    assert code_call.form["redirect_uri"] == [auth_cfg.redirect_uri]

    fake.player = fake_track(title="Signed in")
    source = SpotifySource(auth_cfg, token_path)
    pb = source.poll(now=0.0)
    source.close()
    assert pb is not None and pb.item is not None and pb.item.title == "Signed in"


def test_paste_fallback_takes_the_redirected_url(fake, auth_cfg, tmp_path):
    def paste(prompt: str) -> str:
        [authorize_url] = shown
        answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
        return answer.headers["Location"]

    shown: list[str] = []

    def say(text: str) -> None:
        shown.extend(w for w in text.split() if w.startswith(fake.authorize_url))

    token_path = tmp_path / "token.json"
    authorize(auth_cfg, token_path, open_url=browser, paste=True, read_line=paste, say=say)
    assert json.loads(token_path.read_text())["refresh_token"].startswith("rt-")


def test_denied_sign_in_writes_nothing(fake, auth_cfg, tmp_path):
    fake.deny_authorization = True
    token_path = tmp_path / "token.json"
    with pytest.raises(AuthError, match="access_denied"):
        authorize(auth_cfg, token_path, open_url=browser, say=lambda s: None)
    assert not token_path.exists()


def test_pasted_url_with_another_state_is_refused(fake, auth_cfg, tmp_path):
    forged = auth_cfg.redirect_uri + "?code=code-123&state=someone-else"
    with pytest.raises(AuthError, match="state"):
        authorize(
            auth_cfg,
            tmp_path / "t.json",
            open_url=browser,
            paste=True,
            read_line=lambda p: forged,
            say=lambda s: None,
        )
    assert fake.calls_to("token") == []


def test_sign_in_times_out_when_no_browser_arrives(fake, auth_cfg, tmp_path):
    with pytest.raises(AuthError, match="No sign-in arrived"):
        authorize(
            auth_cfg,
            tmp_path / "t.json",
            open_url=lambda u: None,
            say=lambda s: None,
            timeout_s=0.3,
        )


def test_localhost_redirect_is_refused_before_anything_happens(fake, auth_cfg, tmp_path):
    cfg = SpotifyConfig(**{**auth_cfg.__dict__, "redirect_uri": "http://localhost:8888/callback"})
    with pytest.raises(AuthError, match="127.0.0.1"):
        authorize(cfg, tmp_path / "t.json", open_url=browser, say=lambda s: None)
    assert fake.calls == []


# --- the CLI ----------------------------------------------------------------------------------


def write_config(tmp_path: Path, fake: FakeSpotify | None = None, source: str = "spotify") -> Path:
    extra = f'[spotify]\naccounts_url = "{fake.url}"\napi_url = "{fake.api_url}"\n' if fake else ""
    path = tmp_path / "needledrop.toml"
    path.write_text(
        f'source = "{source}"\n'
        f"[paths]\n"
        f'token_cache = "{tmp_path}/token.json"\n'
        f'state_dir = "{tmp_path}/state"\n'
        f'cache_dir = "{tmp_path}/cache"\n'
        f"[matrix]\nrows = 32\ncols = 64\n"
        f'[display]\nbackend = "png"\npng_dir = "{tmp_path}/frames"\n' + extra
    )
    return path


@pytest.fixture
def spotify_env(monkeypatch, fake):
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", fake.client_secret)
    monkeypatch.setenv("SPOTIPY_REDIRECT_URI", f"http://127.0.0.1:{free_port()}/callback")


def test_render_demo_writes_a_png_of_the_requested_size(tmp_path, capsys):
    out = tmp_path / "shot.png"
    assert main(["render", "--demo", "--size", "192x64", "--out", str(out)]) == 0
    with Image.open(out) as img:
        assert img.size == (192, 64)
        assert img.getbbox() is not None  # something was drawn


def test_render_rejects_a_malformed_size_in_one_line(tmp_path, capsys):
    assert main(["render", "--demo", "--size", "64by64", "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "--size" in err and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_run_then_status_json_reports_what_was_shown(tmp_path, fake, spotify_env, capsys):
    config = write_config(tmp_path, fake)
    (tmp_path / "token.json").write_text(json.dumps(fake.grant() | {"authorized_at": 1}))
    fake.player = fake_track(title="On the panel", artists=("Band",))
    assert main(["run", "--config", str(config), "--duration", "0.5"]) == 0
    assert (tmp_path / "frames" / "frame.png").exists() or list((tmp_path / "frames").iterdir())
    capsys.readouterr()
    code = main(["status", "--config", str(config), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["showing"]["title"] == "On the panel"
    assert doc["backend"] == "png" and doc["size"] == "64x32"
    assert doc["last_poll_ok_at"] is not None and doc["last_error"] is None
    assert doc["token"]["authorized_at"] == iso(1)
    assert doc["token"]["expiry_warning"] is True  # authorized in 1970: long past 6 months
    assert doc["running"] is False and code == 1  # the service stopped after --duration
    token = json.loads((tmp_path / "token.json").read_text())
    shown = json.dumps(doc) + (tmp_path / "state" / "status.json").read_text()
    assert token["access_token"] not in shown and token["refresh_token"] not in shown


def test_status_json_before_any_run_reports_token_and_unhealthy(
    tmp_path, fake, spotify_env, capsys
):
    config = write_config(tmp_path, fake)
    now = int(time.time())
    (tmp_path / "token.json").write_text(json.dumps(fake.grant() | {"authorized_at": now}))
    assert main(["status", "--config", str(config), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["running"] is False and doc["healthy"] is False
    assert doc["token"]["authorized_at"] == iso(now)
    assert doc["token"]["expiry_warning"] is False
    assert doc["reauth_needed"] is False


def test_run_with_missing_credentials_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SPOTIPY_CLIENT_ID", raising=False)
    config = write_config(tmp_path)
    assert main(["run", "--config", str(config), "--duration", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "SPOTIPY_CLIENT_ID" in err and err.count("\n") == 1
