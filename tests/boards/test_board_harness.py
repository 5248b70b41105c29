"""The project's code.py and board-side client, run on CPython with stand-ins for the board,
the real adafruit_requests from the playbook's lib/, and the loopback fake Spotify over TLS."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from boardsim import S3, board_host, dir_board, run_playbook
from fakes.spotify import SCOPES, FakeSpotify, Reply, fake_track
from harness import Board, make_ca

REDIRECT = "https://open.spotify.com/"
ROLE_BOARD = Path(__file__).resolve().parents[2] / "roles" / "circuitpython" / "files" / "board"


# make mutation sets this: the playbook writes the drive once (in the baseline run) instead of
# once per mutant; each run then copies the role's board files over it, as the playbook would.
DRIVE_CACHE_ENV = "NEEDLEDROP_TEST_BOARD_DRIVE"
BOARD_FILES = {
    "code.py": "code.py",
    "needledrop_spotify.py": "lib/needledrop_spotify.py",
    "needledrop_follow.py": "lib/needledrop_follow.py",
}


@pytest.fixture(scope="module")
def display_drive(tmp_path_factory):
    """A board drive as the playbook writes it in display mode, with a first CODE."""
    tmp = tmp_path_factory.mktemp("display")
    cached = Path(os.environ[DRIVE_CACHE_ENV]) if os.environ.get(DRIVE_CACHE_ENV) else None
    if cached is not None and cached.is_dir():
        drive = tmp / "media" / "CIRCUITPY"
        shutil.copytree(cached, drive)
        for src, dest in BOARD_FILES.items():
            shutil.copyfile(ROLE_BOARD / src, drive / dest)
        return drive
    drive = dir_board(tmp / "media" / "CIRCUITPY", "9.2.1", S3, "A1B2C3D4E5F6")
    run = run_playbook(
        tmp,
        {
            "board": board_host(
                circuitpython_drive_paths=[str(drive)],
                circuitpython_wifi_ssid="needledrop-test",
                circuitpython_spotify_code="code-first",
                circuitpython_spotify_client_secret="fake-client-secret",
            )
        },
    )
    assert run.rc == 0, run.output[-3000:]
    for src, dest in BOARD_FILES.items():  # what the cache relies on: the files, as they are
        assert (drive / dest).read_bytes() == (ROLE_BOARD / src).read_bytes()
    if cached is not None:
        shutil.copytree(drive, cached)
    return drive


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def fake(tls):
    with FakeSpotify(ssl_context=tls[1]) as server:
        server.codes["code-first"] = (REDIRECT, SCOPES)
        server.player = fake_track(
            title="Windowlicker", artists=("Aphex Twin",), progress_ms=60_000
        )
        yield server


@pytest.fixture
def board(display_drive, tmp_path, tls):
    return Board.copy_of(display_drive, tmp_path, tls[0])


def grants(fake, kind):
    return [c for c in fake.calls_to("token") if c.form.get("grant_type") == [kind]]


def test_first_boot_exchanges_the_code_stores_tokens_and_shows_the_track(board, fake):
    fake.player = fake_track(
        title="Windowlicker",
        artists=("Aphex Twin",),
        progress_ms=10_000,
        duration_ms=60_000,
    )
    boot = board.boot(fake, seconds=20)
    assert boot.rc == 0, boot.console
    assert len(grants(fake, "authorization_code")) == 1
    shown = boot.first("Windowlicker / Aphex Twin")
    assert shown is not None, boot.texts()
    assert 0.15 <= shown["progress"] <= 0.2  # 10 s of 60 s
    assert boot.last["progress"] > shown["progress"]  # the bar moves between polls
    assert "playing: Aphex Twin - Windowlicker" in boot.console
    # Far gentler than once a second: 20 virtual seconds, a poll every 5.
    assert len(fake.calls_to("currently-playing")) <= 5


def test_tokens_of_other_lengths_survive_a_reboot_without_a_new_exchange(board, fake):
    board.boot(fake, seconds=6)
    stored = [t for t in fake.access_tokens]
    assert stored and all(len(t) not in (208, 131) for t in stored)
    fake.calls.clear()
    boot = board.boot(fake, seconds=6)
    assert grants(fake, "authorization_code") == [] and grants(fake, "refresh_token") == []
    assert boot.first("Windowlicker") is not None, boot.console


def test_any_401_refreshes_the_access_token_and_retries(board, fake):
    board.boot(fake, seconds=6)
    fake.expire_access_tokens()
    fake.script(
        "player",
        Reply(401, {"error": {"status": 401, "message": "Invalid access token"}}),
    )
    fake.calls.clear()
    boot = board.boot(fake, seconds=6)
    assert len(grants(fake, "refresh_token")) == 1
    assert boot.first("Windowlicker") is not None, boot.console


def test_nothing_playing_shows_the_idle_screen(board, fake):
    fake.player = None  # 204, empty body
    boot = board.boot(fake, seconds=40)
    assert boot.rc == 0, boot.console
    assert boot.last["texts"] == ["nothing\nplaying"]
    assert boot.last["progress"] == 0
    assert len(fake.calls_to("currently-playing")) <= 3  # idle polls every 30 s


def test_revoked_token_shows_reauth_needed_without_a_crash_loop(board, fake):
    board.boot(fake, seconds=6)
    fake.revoke()
    fake.calls.clear()
    boot = board.boot(fake, seconds=300)
    assert boot.rc == 0, boot.console
    assert boot.last["texts"] == ["re-auth\nneeded"]
    assert "re-auth needed" in boot.console
    assert len(grants(fake, "refresh_token")) == 1  # asked once, then stopped calling
    assert len(fake.calls_to("currently-playing")) == 1
    fake.calls.clear()
    again = board.boot(fake, seconds=30)  # reboot with the same CODE: no calls at all
    assert fake.calls == [] and again.last["texts"] == ["re-auth\nneeded"]


def test_a_new_code_in_settings_replaces_stored_tokens(board, fake):
    board.boot(fake, seconds=6)
    fake.revoke()
    board.boot(fake, seconds=6)  # re-auth needed
    fake.codes["code-second"] = (REDIRECT, SCOPES)
    board.set_setting("CIRCUITSPOTIFY_CODE", "code-second")
    fake.calls.clear()
    boot = board.boot(fake, seconds=6)
    exchanged = grants(fake, "authorization_code")
    assert [c.form["code"] for c in exchanged] == [["code-second"]]
    assert boot.first("Windowlicker") is not None, boot.console


def test_a_refused_code_says_reauth_instead_of_crashing(board, fake):
    fake.codes.clear()  # the CODE was used already, or mistyped
    boot = board.boot(fake, seconds=60)
    assert boot.rc == 0, boot.console
    assert boot.last["texts"] == ["re-auth\nneeded"]
    assert len(grants(fake, "authorization_code")) == 1


def test_429_waits_for_retry_after(board, fake):
    fake.script("player", Reply(429, {"error": {"status": 429}}, headers={"Retry-After": "40"}))
    boot = board.boot(fake, seconds=50)
    assert "rate limited, waiting 40s" in boot.console
    assert boot.first("Windowlicker")["t"] >= 40
    assert len(fake.calls_to("currently-playing")) <= 4


def test_network_loss_backs_off_and_recovers(board, fake):
    boot = board.boot(fake, seconds=200, net_down=("8:100",))
    assert boot.rc == 0, boot.console
    texts = boot.texts()
    lost = texts.index("no network")
    assert any("Windowlicker" in t for t in texts[:lost]) and "Windowlicker" in texts[-1]
    attempts = boot.console.count("next try in")
    assert 3 <= attempts <= 6, boot.console  # 5, 10, 20, 40 s apart, not every frame
