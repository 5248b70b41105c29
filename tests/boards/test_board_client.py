"""The board client's SpotifyClient in-process, against the loopback fake Spotify over real HTTP:
what a board shows and how long it waits for each answer, exactly; and the NVM record and the
encodings it writes, byte for byte (a board updated with a new client must still read them).

The fixed https://accounts.spotify.com and https://api.spotify.com URLs are sent to the fake by
a requests session (the call shape of adafruit_requests, which the board uses); the boots of
whole boards over TLS are in test_board_harness.py."""

from __future__ import annotations

import importlib.util
import socket
import struct
from pathlib import Path

import pytest
import requests
from fakes.spotify import SCOPES, FakeSpotify, Reply, fake_episode, fake_track

BOARD = Path(__file__).resolve().parents[2] / "roles" / "circuitpython" / "files" / "board"
_spec = importlib.util.spec_from_file_location("board_client", BOARD / "needledrop_spotify.py")
client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(client)

REDIRECT = "https://open.spotify.com/"


class LoopbackSession(requests.Session):
    """Spotify's fixed URLs, answered by the fake on 127.0.0.1."""

    def __init__(self, accounts: str, api: str) -> None:
        super().__init__()
        self.accounts, self.api = accounts, api

    def request(self, method, url, *args, **kwargs):
        url = url.replace("https://accounts.spotify.com", self.accounts)
        url = url.replace("https://api.spotify.com/v1/", self.api)
        kwargs.setdefault("timeout", 10)
        return super().request(method, url, *args, **kwargs)


class NVM(bytearray):
    """microcontroller.nvm: fixed length."""

    def __init__(self, size: int = 8192) -> None:
        super().__init__(b"\xff" * size)


@pytest.fixture
def fake():
    with FakeSpotify() as server:
        server.codes["code-1"] = (REDIRECT, SCOPES)
        server.player = fake_track(title="Windowlicker", artists=("Aphex Twin",))
        yield server


def settings_for(fake: FakeSpotify, code: str = "code-1") -> dict[str, str]:
    return {
        "CIRCUITSPOTIFY_CLIENT_ID": fake.client_id,
        "CIRCUITSPOTIFY_CLIENT_SECRET": fake.client_secret,
        "CIRCUITSPOTIFY_REDIRECT_URL": REDIRECT,
        "CIRCUITSPOTIFY_CODE": code,
    }


def make(fake: FakeSpotify, nvm: NVM | None = None, poll_seconds: int = 5, **settings: str):
    env = settings_for(fake) | settings
    lines: list[str] = []
    session = LoopbackSession(fake.url, fake.api_url)
    sc = client.SpotifyClient(
        session,
        client.TokenStore(nvm if nvm is not None else NVM()),
        getenv=env.get,
        log=lines.append,
        poll_seconds=poll_seconds,
    )
    return sc, lines


def grants(fake: FakeSpotify, kind: str) -> list:
    return [c for c in fake.calls_to("token") if c.form.get("grant_type") == [kind]]


# --- encodings and the NVM record -------------------------------------------------------------


def test_fnv1a_is_the_standard_32_bit_fnv1a():
    assert client.fnv1a(b"") == 0x811C9DC5
    assert client.fnv1a(b"a") == 0xE40C292C
    assert client.fnv1a(b"foobar") == 0xBF9CF968


def test_the_nvm_record_is_byte_for_byte_the_documented_layout():
    nvm = NVM(64)
    client.TokenStore(nvm).save("acc", "refresh", "code", reauth=True)
    body = (
        b"NDT1"
        + b"\x01"
        + struct.pack(">I", client.fnv1a(b"code"))
        + struct.pack(">H", 3)
        + b"acc"
        + struct.pack(">H", 7)
        + b"refresh"
    )
    record = body + struct.pack(">I", client.fnv1a(body))
    assert bytes(nvm[: len(record)]) == record
    assert bytes(nvm[len(record) :]) == b"\xff" * (64 - len(record))  # nothing else written
    loaded = client.TokenStore(nvm).load()
    assert loaded == {
        "reauth": True,
        "code_mark": client.fnv1a(b"code"),
        "access": "acc",
        "refresh": "refresh",
    }


def test_a_record_that_fills_the_nvm_exactly_fits_and_one_byte_more_does_not():
    # 4 magic + 1 flags + 4 mark + 2 + 2 lengths + 4 checksum = 17 bytes around the tokens
    nvm = NVM(17 + 10)
    client.TokenStore(nvm).save("a" * 5, "r" * 5, "c")
    assert client.TokenStore(nvm).load()["refresh"] == "r" * 5
    with pytest.raises(ValueError, match="27 of 27|28 of 27"):
        client.TokenStore(NVM(27)).save("a" * 6, "r" * 5, "c")


@pytest.mark.parametrize("cut", [1, 2, 3, 4])
def test_a_record_whose_end_is_past_the_nvm_reads_as_no_tokens(cut):
    full = NVM(64)
    client.TokenStore(full).save("acc", "refresh", "code")
    length = 17 + 3 + 7
    short = bytearray(full[: length - cut])  # the same record on a smaller NVM, cut short
    assert client.TokenStore(short).load() is None


def test_quote_encodes_all_but_the_unreserved_characters():
    assert client.quote("aZ09-._~") == "aZ09-._~"
    assert client.quote("a b/é+=&") == "a%20b%2F%C3%A9%2B%3D%26"


@pytest.mark.parametrize(
    ("slot", "found"),
    [
        (b"R" * 131, "R" * 131),
        (b"Ab-_9" * 26 + b"x", "Ab-_9" * 26 + "x"),
        (b"R" * 130 + b"=", None),
        (b"R" * 130 + b"\xff", None),
    ],
)
def test_circuitspotify_refresh_token_slot_takes_only_its_alphabet(slot, found):
    nvm = NVM()
    nvm[208:339] = slot
    assert client.TokenStore(nvm).legacy_refresh_token() == found


def test_an_nvm_too_small_for_circuitspotify_slots_has_no_legacy_token():
    nvm = NVM(339)
    nvm[208:339] = b"R" * 131
    assert client.TokenStore(nvm).legacy_refresh_token() == "R" * 131
    assert client.TokenStore(NVM(338)).legacy_refresh_token() is None


# --- what a poll shows, and when the next one comes ---------------------------------------------


def test_first_poll_exchanges_the_code_and_shows_the_track(fake):
    nvm = NVM()
    sc, lines = make(fake, nvm)
    poll = sc.poll()
    assert (poll.state, poll.message, poll.retry_in) == ("playing", "Windowlicker", 5)
    assert poll.track == {
        "title": "Windowlicker",
        "artist": "Aphex Twin",
        "progress_ms": 0,
        "duration_ms": 366_000,
        "is_playing": True,
    }
    [exchange] = grants(fake, "authorization_code")
    assert exchange.form["redirect_uri"] == [REDIRECT]
    assert exchange.form["client_id"] == [fake.client_id]
    assert exchange.form["client_secret"] == [fake.client_secret]
    assert "needledrop: playing: Aphex Twin - Windowlicker" in lines
    stored = client.TokenStore(nvm).load()
    assert stored["access"] in fake.access_tokens and stored["refresh"] in fake.refresh_tokens
    assert stored["code_mark"] == client.fnv1a(b"code-1") and not stored["reauth"]


def test_a_redirect_url_already_encoded_in_settings_is_sent_as_it_is(fake):
    encoded = "https%3A%2F%2Fopen.spotify.com%2F"
    sc, _ = make(fake, CIRCUITSPOTIFY_REDIRECT_URL=encoded)
    assert sc.poll().state == "playing"
    assert grants(fake, "authorization_code")[0].form["redirect_uri"] == [REDIRECT]


@pytest.mark.parametrize(
    ("progress_ms", "poll_seconds", "retry_in"),
    [
        (0, 5, 5),  # far from the end: the poll interval
        (363_000, 5, 4.0),  # 3 s left: a poll 1 s after the end
        (363_500, 5, 3.5),  # 2.5 s left: to the millisecond
        (365_500, 5, 2),  # 0.5 s left: not sooner than 2 s
        (366_000, 5, 2),  # at the end: soon, the next item has started
        (367_000, 5, 5),  # a second past the end (a stale progress): the poll interval
        (370_000, 5, 5),  # past the end (a stale progress): the poll interval
        (0, 1, 2),  # an interval below 2 s is raised to 2 s
        (0, 12, 12),
    ],
)
def test_while_playing_the_next_poll_comes_at_the_interval_or_just_after_the_end(
    fake, progress_ms, poll_seconds, retry_in
):
    fake.player = fake_track(progress_ms=progress_ms, duration_ms=366_000)
    sc, _ = make(fake, poll_seconds=poll_seconds)
    assert sc.poll().retry_in == retry_in


@pytest.mark.parametrize(("poll_seconds", "retry_in"), [(5, 15), (20, 20)])
def test_paused_polls_every_15_seconds_or_the_interval_if_longer(fake, poll_seconds, retry_in):
    fake.player = fake_track(title="Held", is_playing=False, progress_ms=1000)
    sc, _ = make(fake, poll_seconds=poll_seconds)
    poll = sc.poll()
    assert (poll.state, poll.message, poll.retry_in) == ("paused", "paused", retry_in)
    assert poll.track["title"] == "Held" and poll.track["progress_ms"] == 1000
    assert poll.track["is_playing"] is False


@pytest.mark.parametrize(("poll_seconds", "retry_in"), [(5, 30), (40, 40)])
@pytest.mark.parametrize("answer", ["204", "no item"])
def test_nothing_playing_polls_every_30_seconds_or_the_interval_if_longer(
    fake, poll_seconds, retry_in, answer
):
    if answer == "204":
        fake.player = None
    else:
        fake.script("player", Reply(200, {"is_playing": False, "item": None}))
    sc, lines = make(fake, poll_seconds=poll_seconds)
    poll = sc.poll()
    assert (poll.state, poll.message, poll.retry_in) == ("idle", "nothing playing", retry_in)
    assert lines[-1] == "needledrop: nothing playing"


def test_an_episode_shows_its_show_and_a_track_all_its_artists(fake):
    fake.player = fake_episode(title="Hum", show="Twenty Thousand Hertz")
    sc, _ = make(fake)
    assert sc.poll().track["artist"] == "Twenty Thousand Hertz"
    fake.player = fake_track(artists=("Ada", "The Pixels"))
    assert sc.poll().track["artist"] == "Ada, The Pixels"


@pytest.mark.parametrize(
    ("headers", "retry_in"),
    [
        ({"Retry-After": "40"}, 40),
        ({"Retry-After": "0"}, 1),
        ({"Retry-After": "soon"}, 30),
        ({}, 30),
    ],
)
def test_429_waits_for_retry_after_and_keeps_showing_what_played(fake, headers, retry_in):
    sc, lines = make(fake)
    assert sc.poll().state == "playing"
    fake.script("player", Reply(429, {"error": {"status": 429}}, headers=headers))
    poll = sc.poll()
    assert (poll.state, poll.message, poll.retry_in) == ("playing", "rate limited", retry_in)
    assert lines[-1] == f"needledrop: rate limited, waiting {retry_in}s"


def test_429_before_anything_played_shows_idle(fake):
    fake.script("player", Reply(429, {}, headers={"Retry-After": "7"}))
    sc, _ = make(fake)
    poll = sc.poll()
    assert (poll.state, poll.retry_in) == ("idle", 7)


def test_server_errors_back_off_doubling_to_five_minutes_and_reset_after_a_good_poll(fake):
    sc, lines = make(fake)
    assert sc.poll().state == "playing"
    fake.script("player", *[Reply(500, {"error": {"status": 500}})] * 9)
    waits = [sc.poll() for _ in range(9)]
    assert [p.retry_in for p in waits] == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    assert {(p.state, p.message) for p in waits} == {("error", "spotify error")}
    assert sum("next try in" in line for line in lines) == 9  # every failure is logged
    assert sc.poll().state == "playing"
    fake.script("player", Reply(503, {}))
    assert sc.poll().retry_in == 5


def test_nothing_playing_also_resets_the_backoff(fake):
    sc, _ = make(fake)
    sc.poll()
    fake.script("player", Reply(500, {}), Reply(500, {}), Reply(204), Reply(500, {}))
    assert [sc.poll().retry_in for _ in range(4)] == [5, 10, 30, 5]


def test_an_item_without_a_duration_shows_zero(fake):
    track = fake_track(progress_ms=1000)
    track["item"]["duration_ms"] = None
    fake.player = track
    sc, _ = make(fake)
    poll = sc.poll()
    assert poll.track["duration_ms"] == 0 and poll.retry_in == 5


def test_a_token_endpoint_answering_html_is_reported_by_its_status(fake):
    fake.script("token", Reply(502, "<html>Bad Gateway</html>"))
    sc, lines = make(fake)
    poll = sc.poll()
    assert (poll.state, poll.retry_in) == ("error", 5)
    assert lines[-1] == "needledrop: spotify error (token endpoint answered 502), next try in 5s"


def test_unreadable_json_is_an_error_not_a_crash(fake):
    sc, _ = make(fake)
    sc.poll()
    fake.script("player", Reply(200, b"{not json"))
    poll = sc.poll()
    assert (poll.state, poll.retry_in) == ("error", 5)


def test_no_connection_is_offline_and_backs_off(fake):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    sc, _ = make(fake)
    sc.session = LoopbackSession(dead, dead + "/v1/")
    first, second = sc.poll(), sc.poll()
    assert (first.state, first.message, first.retry_in) == ("offline", "no network", 5)
    assert second.retry_in == 10
    lost = sc.network_lost("wifi: no AP")
    assert (lost.state, lost.message, lost.retry_in) == ("offline", "no network", 20)


def test_a_401_refreshes_once_keeps_the_refresh_token_and_retries(fake):
    nvm = NVM()
    sc, _ = make(fake, nvm)
    sc.poll()
    refresh = client.TokenStore(nvm).load()["refresh"]
    for _ in range(2):  # the fake does not rotate: the answer has no refresh_token
        fake.expire_access_tokens()
        assert sc.poll().state == "playing"
    assert len(grants(fake, "refresh_token")) == 2
    assert client.TokenStore(nvm).load()["refresh"] == refresh


def test_a_second_401_after_a_refresh_is_an_error_not_a_loop(fake):
    sc, _ = make(fake)
    sc.poll()
    fake.script("player", Reply(401, {}), Reply(401, {}))
    poll = sc.poll()
    assert (poll.state, poll.retry_in) == ("error", 5)
    assert len(grants(fake, "refresh_token")) == 1


def test_a_rate_limited_refresh_waits_30_seconds(fake):
    sc, _ = make(fake)
    sc.poll()
    fake.expire_access_tokens()
    fake.script("token", Reply(429, {"error": "rate limited"}))
    poll = sc.poll()
    assert (poll.message, poll.retry_in) == ("rate limited", 30)


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_client"])
def test_a_refused_refresh_needs_reauth_and_stops_calling(fake, error):
    nvm = NVM()
    sc, _ = make(fake, nvm)
    sc.poll()
    fake.expire_access_tokens()
    fake.script("token", Reply(400, {"error": error}))
    poll = sc.poll()
    assert (poll.state, poll.message, poll.retry_in) == ("reauth", "re-auth needed", 60)
    assert client.TokenStore(nvm).load()["reauth"] is True
    fake.calls.clear()
    again = sc.poll()
    assert (again.state, again.retry_in) == ("reauth", 60) and fake.calls == []


@pytest.mark.parametrize("error", ["invalid_grant", "invalid_client", "invalid_request"])
def test_a_refused_code_needs_reauth(fake, error):
    fake.script("token", Reply(400, {"error": error}))
    sc, lines = make(fake)
    poll = sc.poll()
    assert (poll.state, poll.retry_in) == ("reauth", 60)
    assert f"the authorization code was refused ({error})." in lines[-1]


def test_a_token_endpoint_failure_on_exchange_backs_off(fake):
    fake.script("token", Reply(500, b""))
    sc, _ = make(fake)
    poll = sc.poll()
    assert (poll.state, poll.retry_in) == ("error", 5)
    assert sc.poll().state == "playing"  # the code is still unused: the next poll exchanges it


@pytest.mark.parametrize("answer", [{"access_token": "at-only"}, {"refresh_token": "rt-only"}])
def test_an_exchange_answer_without_both_tokens_stores_nothing(fake, answer):
    nvm = NVM()
    fake.script("token", Reply(200, answer))
    sc, lines = make(fake, nvm)
    poll = sc.poll()
    assert (poll.state, poll.retry_in) == ("error", 5)
    assert lines[-1] == "needledrop: spotify error (token endpoint answered 200), next try in 5s"
    assert client.TokenStore(nvm).load() is None


def test_no_code_and_no_tokens_asks_to_authorize(fake):
    sc, _ = make(fake, CIRCUITSPOTIFY_CODE="")
    poll = sc.poll()
    assert (poll.state, poll.message, poll.retry_in) == ("authorize", "authorize me", 60)
    assert fake.calls == []


def test_a_new_code_replaces_tokens_from_the_old_one(fake):
    nvm = NVM()
    make(fake, nvm)[0].poll()
    fake.codes["code-2"] = (REDIRECT, SCOPES)
    sc, lines = make(fake, nvm, CIRCUITSPOTIFY_CODE="code-2")
    assert sc.poll().state == "playing"
    assert [c.form["code"] for c in grants(fake, "authorization_code")] == [["code-1"], ["code-2"]]
    assert any("replaces the stored tokens" in line for line in lines)


def test_the_same_screen_is_logged_once(fake):
    sc, lines = make(fake)
    sc.poll()
    sc.poll()
    assert lines.count("needledrop: playing: Aphex Twin - Windowlicker") == 1


def test_a_refresh_answer_without_an_access_token_is_an_error(fake):
    sc, lines = make(fake)
    sc.poll()
    fake.expire_access_tokens()
    fake.script("token", Reply(200, {"token_type": "Bearer"}))
    poll = sc.poll()
    assert (poll.state, poll.retry_in) == ("error", 5)
    assert lines[-1] == "needledrop: spotify error (token refresh answered 200), next try in 5s"


def test_tokens_too_long_for_the_nvm_are_kept_in_ram_and_the_board_plays(fake):
    sc, lines = make(fake, NVM(40))
    assert sc.poll().state == "playing"
    assert any("tokens kept in RAM only" in line for line in lines)
    fake.calls.clear()
    assert sc.poll().state == "playing"
    assert fake.calls_to("token") == []  # the tokens in RAM still work


def test_a_board_that_ran_circuitspotify_refreshes_its_token_and_plays(fake):
    legacy = "R" * 131  # CircuitSpotify's fixed-size slot holds the whole refresh token
    grant = fake.grant()
    fake.refresh_tokens[legacy] = fake.refresh_tokens.pop(grant["refresh_token"])
    nvm = NVM()
    nvm[208:339] = legacy.encode()
    sc, lines = make(fake, nvm, CIRCUITSPOTIFY_CODE="")
    poll = sc.poll()
    assert poll.state == "playing", lines
    assert [c.form["refresh_token"] for c in grants(fake, "refresh_token")] == [[legacy]]
    assert grants(fake, "authorization_code") == []
    assert client.TokenStore(nvm).load()["refresh"] == legacy


def test_after_reauth_the_new_code_clears_the_revoked_tokens_and_the_reauth_flag(fake):
    """What playbooks/reauth.yml -e reauth_board=NAME relies on: a board stuck on "re-auth
    needed" with its revoked tokens in NVM trades the new CODE at the next start and keeps
    nothing of the old sign-in."""
    nvm = NVM()
    sc, _ = make(fake, nvm)
    sc.poll()
    old = client.TokenStore(nvm).load()
    fake.revoke()
    assert sc.poll().state == "reauth"
    assert client.TokenStore(nvm).load()["reauth"] is True
    fake.codes["code-2"] = (REDIRECT, SCOPES)
    restarted, _ = make(fake, nvm, CIRCUITSPOTIFY_CODE="code-2")
    assert restarted.poll().state == "playing"
    stored = client.TokenStore(nvm).load()
    assert stored["reauth"] is False and stored["code_mark"] == client.fnv1a(b"code-2")
    assert stored["refresh"] != old["refresh"] and stored["access"] != old["access"]
    assert stored["refresh"] in fake.refresh_tokens


def test_a_revoked_circuitspotify_token_gives_way_to_the_new_code_and_is_cleared(fake):
    """A board that ran CircuitSpotify, re-authorized with a new CODE (reauth.yml): the
    revoked refresh token CircuitSpotify left in NVM must not shadow the new CODE, and is
    wiped so that no later start picks it up again."""
    nvm = NVM()
    nvm[208:339] = b"R" * 131  # revoked: the fake does not know it
    fake.codes["code-2"] = (REDIRECT, SCOPES)
    sc, lines = make(fake, nvm, CIRCUITSPOTIFY_CODE="code-2")
    assert sc.poll().state == "playing"
    assert [c.form["code"] for c in grants(fake, "authorization_code")] == [["code-2"]]
    assert client.TokenStore(nvm).load()["code_mark"] == client.fnv1a(b"code-2")
    assert any("trading CIRCUITSPOTIFY_CODE instead" in line for line in lines)
    fresh = NVM()
    fresh[208:339] = bytes(nvm[208:339])
    assert client.TokenStore(fresh).legacy_refresh_token() != "R" * 131


def test_a_revoked_circuitspotify_token_with_the_old_code_still_needs_reauth(fake):
    nvm = NVM()
    nvm[208:339] = b"R" * 131
    sc, _ = make(fake, nvm, CIRCUITSPOTIFY_CODE="code-used-up")
    assert sc.poll().state == "reauth"
    assert client.TokenStore(nvm).load()["reauth"] is True
