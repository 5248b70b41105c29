"""A board in display mode following a needledrop display (docs/sharing.md): code.py and the
board-side FollowClient on CPython (the harness of test_board_harness.py), against a real
ShareServer on loopback. The drive is the playbook's, with the two follow settings added."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs
from needledrop.share import ShareHub, ShareServer, Verifier
from needledrop.state import Item, Playback
from test_board_harness import ROLE_BOARD, board, display_drive, fake, tls  # noqa: F401

KEY = "board-key-0123456789abcdef"
sys.path.insert(0, str(ROLE_BOARD))  # needledrop_follow imports needledrop_spotify, as on a board
_spec = importlib.util.spec_from_file_location("board_follow", ROLE_BOARD / "needledrop_follow.py")


def song(title: str, artist: str, progress_ms: int, duration_ms: int = 60_000) -> Playback:
    item = Item("track", title, artist, "Album", duration_ms, f"spotify:track:{title}")
    return Playback(item, True, progress_ms, time.time())


class ChangingHub(ShareHub):
    """Publishes the next song after every ``every`` answers: a change the board must show."""

    def __init__(self, songs: list[Playback], every: int) -> None:
        super().__init__()
        self.songs, self.every, self.answers = songs, every, 0
        self.publish(self.songs.pop(0), None, time.time())
        self._lock = threading.Lock()

    def snapshot(self, since: int | None, wait_s: float) -> dict[str, Any]:
        with self._lock:
            self.answers += 1
            if self.answers % self.every == 0 and self.songs:
                self.publish(self.songs.pop(0), None, time.time())
        return super().snapshot(since, wait_s)


class At:
    """What Board.boot needs of a server: the port every host name resolves to."""

    def __init__(self, server: ShareServer) -> None:
        self.port = server.address[1]


@pytest.fixture
def primary():
    hub = ChangingHub(
        [song("Windowlicker", "Aphex Twin", 10_000), song("Avril 14th", "Aphex Twin", 0)], every=3
    )
    server = ShareServer(hub, KEY.encode(), "127.0.0.1", 0).start()
    yield server
    server.close()


def follow(board, server: ShareServer, key: str = KEY) -> None:  # noqa: F811
    # the harness resolves every name to 127.0.0.1; plain http keeps the URL's port
    board.set_setting("NEEDLEDROP_FOLLOW_URL", f"http://kitchen.local:{server.address[1]}")
    board.set_setting("NEEDLEDROP_SHARE_KEY", key)


def test_a_board_follows_a_display_and_shows_each_change_without_spotify(board, primary):  # noqa: F811
    follow(board, primary)
    boot = board.boot(At(primary), seconds=12)
    first = boot.first("Windowlicker / Aphex Twin")
    assert first is not None, boot.console[-2000:]
    assert 0.15 <= first["progress"] <= 0.3  # 10 s of 60 s, and the time it took to get here
    assert boot.first("Avril 14th / Aphex Twin") is not None, boot.texts()
    assert "playing: Aphex Twin - Avril 14th" in boot.console
    # no Spotify sign-in, no token: the CODE on the drive is never exchanged, NVM stays empty
    assert "authoriz" not in boot.console and "token" not in boot.console
    assert not board.nvm.exists() or set(board.nvm.read_bytes()) <= {0xFF}


def test_a_board_with_a_wrong_key_shows_so_and_gets_nothing(board, primary):  # noqa: F811
    follow(board, primary, key="not-the-key-0123456789")
    boot = board.boot(At(primary), seconds=5)
    assert boot.first("Windowlicker") is None
    assert "refused this board's key" in boot.console and "wrong key" in " ".join(boot.texts())


board_follow = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(board_follow)


@given(key=hs.binary(max_size=100), message=hs.binary(max_size=300))
def test_the_boards_hmac_is_the_standard_one(key: bytes, message: bytes):
    import hashlib
    import hmac

    assert (
        board_follow.hmac_sha256_hex(key, message)
        == hmac.new(key, message, hashlib.sha256).hexdigest()
    )


@given(ts=hs.integers(min_value=0, max_value=2**32))
def test_the_boards_http_dates_read_as_the_server_writes_them(ts: int):
    import email.utils

    assert board_follow.http_date(email.utils.formatdate(ts, usegmt=True)) == ts


def test_a_board_signed_request_passes_the_displays_verifier():
    sent: dict[str, Any] = {}

    class Session:
        def get(self, url, headers):
            sent.update(url=url, headers=headers)
            raise OSError("stop here")

    c = board_follow.FollowClient(
        Session(),
        {"NEEDLEDROP_FOLLOW_URL": "http://p:1", "NEEDLEDROP_SHARE_KEY": KEY}.get,
        lambda _: None,
    )
    c.offset = 1_800_000_000.0
    c.poll(5.0)
    target = sent["url"].removeprefix("http://p:1")
    assert Verifier(KEY.encode()).check(
        sent["headers"]["Authorization"], "GET", target, 1_800_000_005.0
    )
