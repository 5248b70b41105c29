"""What the Spotify source says when something fails (the status file and the journal show these
sentences to a person), and the token cache it leaves (found by mutation testing)."""

from __future__ import annotations

import json
import socket
import stat

import pytest
from fakes.spotify import Reply
from needledrop.spotify import (
    Offline,
    TokenFile,
    TokenUnavailable,
    fingerprint,
    read_token_file,
    write_token_file,
)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1/"


def test_an_unreachable_spotify_is_named_by_the_innermost_cause(make_source):
    with pytest.raises(Offline, match=r"^Cannot reach Spotify \(ConnectionRefusedError\)\.$"):
        make_source(api_url=closed_port_url()).poll(now=0.0)


def test_a_dropped_connection_is_asked_once(fake, make_source):
    fake.script("player", Reply(drop=True))
    with pytest.raises(Offline):
        make_source().poll(now=0.0)
    assert len(fake.calls_to("player")) == 1  # no retries inside spotipy or urllib3


def test_a_second_401_after_a_refresh_says_so(fake, make_source):
    fake.script("player", Reply(401, {}), Reply(401, {}))
    with pytest.raises(Offline, match="freshly refreshed access token"):
        make_source().poll(now=0.0)
    assert len(fake.calls_to("token")) == 1


def test_a_403_says_spotify_refused_the_request(fake, make_source):
    fake.script("player", Reply(403, {"error": {"status": 403, "message": " Forbidden "}}))
    with pytest.raises(Offline, match=r"refused the request \(403\)") as raised:
        make_source().poll(now=0.0)
    assert str(raised.value).endswith("Forbidden")


def test_an_accounts_outage_without_an_error_code_says_no_answer(fake, make_source, token_path):
    token = json.loads(token_path.read_text())
    token["expires_at"] = 0
    token_path.write_text(json.dumps(token))
    fake.script("token", Reply(503, b""))
    with pytest.raises(Offline, match=r"accounts service failed \(no answer\)"):
        make_source().poll(now=0.0)


def test_a_token_cache_that_is_a_directory_says_why_it_cannot_be_read(tmp_path):
    (tmp_path / "token.json").mkdir()
    with pytest.raises(TokenUnavailable, match=r"cannot be read \(Is a directory\)\.$"):
        read_token_file(tmp_path / "token.json")


def test_the_token_cache_is_one_line_and_0600_as_spotipy_writes_it(tmp_path):
    path = tmp_path / "token.json"
    write_token_file(path, {"access_token": "a", "refresh_token": "r", "expires_at": 1})
    assert "\n" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_new_sign_in_time_is_kept_and_a_refresh_keeps_the_old_one(tmp_path):
    path = tmp_path / "token.json"
    cache = TokenFile(path)
    base = {"access_token": "a", "refresh_token": "r", "expires_at": 1}
    cache.save_token_to_cache(base | {"authorized_at": 100})
    cache.save_token_to_cache(base | {"access_token": "b"})  # a refresh: no authorized_at
    assert read_token_file(path)["authorized_at"] == 100
    cache.save_token_to_cache(base | {"authorized_at": 200})  # a new sign-in
    assert read_token_file(path)["authorized_at"] == 200


def test_fingerprint_of_a_missing_file_is_none(tmp_path):
    assert fingerprint(tmp_path / "absent.json") is None
    (tmp_path / "t.json").write_text("x")
    assert fingerprint(tmp_path / "t.json") == fingerprint(tmp_path / "t.json") is not None


def test_token_times_that_are_not_numbers_are_unknown(make_source, token_path):
    token = json.loads(token_path.read_text())
    token["authorized_at"] = "last spring"
    token_path.write_text(json.dumps(token))
    info = make_source().token_info()
    assert info is not None and info.authorized_at is None
