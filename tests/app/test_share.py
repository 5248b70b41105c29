"""Sharing one account's polling (share.py): signing, the primary's endpoint, the follower.

In-process: a real ShareServer on 127.0.0.1 (port 0), real HTTP from PrimaryClient or raw
sockets; time is injected where the behaviour depends on it. The fleet of processes is in
test_share_fleet.py.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes.spotify import FakeSpotify, fake_track
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from needledrop.config import ConfigError, parse_config
from needledrop.share import (
    PATH,
    FollowSource,
    PrimaryClient,
    ShareHub,
    ShareServer,
    Verifier,
    authorization,
    playback_doc,
    playback_from_doc,
)
from needledrop.spotify import CallLog, Offline, RateLimited, SpotifySource
from needledrop.state import Item, Playback

KEY = b"k" * 32
ITEM = Item("track", "Song", "Band", "Album", 200_000, "spotify:track:1", "http://x/a.jpg")
NONCE = "0123456789abcdef0123456789abcdef"


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def primary(clock: Clock) -> Iterator[ShareServer]:
    server = ShareServer(ShareHub(), KEY, "127.0.0.1", 0, long_poll_s=2.0, clock=clock).start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def busy() -> Iterator[ShareServer]:
    """A primary on the real clock that takes many requests (the fuzz test's)."""
    server = ShareServer(ShareHub(), KEY, "127.0.0.1", 0, rate_per_s=1000).start()
    yield server
    server.close()


def url(server: ShareServer) -> str:
    return f"http://127.0.0.1:{server.address[1]}"


def raw_get(server: ShareServer, target: str, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.address[1], timeout=5)
    try:
        conn.request("GET", target, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# --- signing ------------------------------------------------------------------------------------


def test_a_signed_request_is_accepted_once_and_its_replay_refused():
    v = Verifier(KEY, max_skew_s=60)
    header = authorization(KEY, "GET", PATH, 1000.0, NONCE)
    assert v.check(header, "GET", PATH, 1000.0)
    assert not v.check(header, "GET", PATH, 1001.0)  # the same nonce again: a replay


@pytest.mark.parametrize("skew", [-61.0, 61.0, 3600.0])
def test_a_request_signed_too_far_from_the_servers_clock_is_refused(skew: float):
    v = Verifier(KEY, max_skew_s=60)
    assert not v.check(authorization(KEY, "GET", PATH, 1000.0 + skew), "GET", PATH, 1000.0)


FIELDS = ("key", "method", "target", "ts", "nonce", "sig")


@given(
    field=hs.sampled_from(FIELDS),
    junk=hs.text(min_size=1, max_size=40),
    flip=hs.integers(min_value=0, max_value=63),
)
def test_any_tampered_field_of_a_signed_request_is_refused(field: str, junk: str, flip: int):
    v = Verifier(KEY, max_skew_s=60)
    now, target = 5000.0, PATH + "?since=3&wait=20"
    header = authorization(KEY, "GET", target, now, NONCE)
    method = "GET"
    if field == "key":
        header = authorization(
            KEY[:-1] + bytes([KEY[-1] ^ (1 + flip % 255)]), "GET", target, now, NONCE
        )
    elif field == "method":
        method = "POST" if junk == "GET" else junk
    elif field == "target":
        target = target + junk
    elif field == "ts":
        header = header.replace(f"ts={int(now)}", f"ts={int(now) + 1 + flip}")
    elif field == "nonce":
        header = header.replace(
            NONCE,
            NONCE[: flip % 32] + ("1" if NONCE[flip % 32] != "1" else "2") + NONCE[flip % 32 + 1 :],
        )
    else:
        sig = header.rsplit("sig=", 1)[1]
        c = sig[flip]
        header = header[:-64] + sig[:flip] + ("0" if c != "0" else "1") + sig[flip + 1 :]
    assert not v.check(header, method, target, now)


@given(header=hs.text(max_size=300))
def test_any_malformed_authorization_header_is_refused(header: str):
    assert not Verifier(KEY).check(header, "GET", PATH, 1000.0)


# --- the endpoint ---------------------------------------------------------------------------


def test_missing_or_wrong_keys_get_401_and_nothing_else(primary: ShareServer, clock: Clock):
    primary.hub.publish(Playback(ITEM, True, 1000, clock.t), None, clock.t)
    for headers in (
        {},
        {"Authorization": "Bearer x"},
        {"Authorization": authorization(b"w" * 32, "GET", PATH, clock.t)},
    ):
        status, body = raw_get(primary, PATH, headers)
        assert (status, body) == (401, b"")
    status, body = raw_get(
        primary, PATH, {"Authorization": authorization(KEY, "GET", PATH, clock.t)}
    )
    assert status == 200 and json.loads(body)["playback"]["item"]["title"] == "Song"


def test_a_replayed_request_gets_401(primary: ShareServer, clock: Clock):
    headers = {"Authorization": authorization(KEY, "GET", PATH, clock.t)}
    assert raw_get(primary, PATH, headers)[0] == 200
    assert raw_get(primary, PATH, headers) == (401, b"")


def test_a_flood_from_one_address_is_answered_429(clock: Clock):
    server = ShareServer(ShareHub(), KEY, "127.0.0.1", 0, rate_per_s=0.1, clock=clock).start()
    try:
        codes = [
            raw_get(server, PATH, {"Authorization": authorization(KEY, "GET", PATH, clock.t)})[0]
            for _ in range(25)
        ]
    finally:
        server.close()
    assert codes[:20] == [200] * 20 and set(codes[20:]) == {429}


def test_the_endpoint_never_serves_a_token(
    fake: FakeSpotify, spotify_cfg, token_path: Path, clock: Clock
):
    """A primary's real observation (real spotipy against the fake) and every answer to it
    hold none of the tokens the fake issued."""
    fake.player = fake_track(progress_ms=5000)
    source = SpotifySource(spotify_cfg, token_path)
    hub = ShareHub()
    hub.publish(source.poll(clock.t), None, clock.t)
    server = ShareServer(hub, KEY, "127.0.0.1", 0, clock=clock).start()
    try:
        bodies = [
            raw_get(server, PATH, {"Authorization": authorization(KEY, "GET", PATH, clock.t)})[1]
        ]
        bodies.append(raw_get(server, PATH, {})[1])
    finally:
        server.close()
        source.close()
    secrets = {*fake.access_tokens, *fake.refresh_tokens, fake.client_secret}
    secrets |= set(json.loads(token_path.read_text()).values()) - {None}
    assert b"Windowlicker" in bodies[0]
    for body in bodies:
        assert not [s for s in secrets if isinstance(s, str) and len(s) > 8 and s.encode() in body]


ALLOWED = {b"400", b"401", b"404", b"405", b"408", b"413", b"414", b"429", b"431", b"503"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=hs.one_of(
        hs.binary(max_size=3000),
        hs.builds(
            lambda m, p, h: f"{m} {p} HTTP/1.1\r\n{h}\r\n\r\n".encode("utf-8", "surrogatepass"),
            hs.sampled_from(["GET", "POST", "PUT", "HEAD", "GE T", "get", ""]),
            hs.one_of(
                hs.just(PATH), hs.text(max_size=600).map(lambda t: "/" + t.replace(" ", "%20"))
            ),
            hs.lists(
                hs.text(max_size=80).map(lambda t: "X: " + t.replace("\r", "").replace("\n", "")),
                max_size=30,
            ).map("\r\n".join),
        ),
    )
)
def test_any_request_bytes_get_a_refusal_or_nothing_never_a_traceback(
    busy: ShareServer, data: bytes, caplog, capsys
):
    primary = busy
    caplog.set_level(logging.INFO)
    with socket.create_connection(primary.address, timeout=5) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            answer = s.recv(70_000)
        except (ConnectionResetError, BrokenPipeError):
            answer = b""
    if answer:
        status = answer.split(b"\r\n", 1)[0].split(b" ")
        assert status[0].startswith(b"HTTP/") and status[1] in ALLOWED, answer[:200]
        assert len(answer) < 1000 and b"Traceback" not in answer
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "Traceback" not in capsys.readouterr().err
    ok = raw_get(primary, PATH, {"Authorization": authorization(KEY, "GET", PATH, time.time())})
    assert ok[0] == 200  # still serving


# --- long polls and the follower ------------------------------------------------------------


def test_a_waiting_follower_is_answered_when_the_item_changes(primary: ShareServer, clock: Clock):
    hub = primary.hub
    hub.publish(Playback(ITEM, True, 1000, clock.t), None, clock.t)
    client = PrimaryClient(url(primary), KEY, clock=clock)
    first = client.get(None, 0)
    got: list[dict] = []
    t = threading.Thread(target=lambda: got.append(client.get(first.doc["version"], 30).doc))
    t.start()
    other = Item("track", "Next", "Band", "Album", 100_000, "spotify:track:2")
    hub.publish(Playback(other, True, 0, clock.t), None, clock.t)
    t.join(timeout=10)
    assert got and got[0]["playback"]["item"]["title"] == "Next"


def test_a_seek_wakes_followers_but_progress_as_predicted_does_not():
    hub = ShareHub()
    hub.publish(Playback(ITEM, True, 10_000, 100.0), None, 100.0)
    v = hub.version
    hub.publish(Playback(ITEM, True, 15_000, 105.0), None, 105.0)  # as predicted
    assert hub.version == v
    hub.publish(Playback(ITEM, True, 90_000, 110.0), None, 110.0)  # a seek
    assert hub.version == v + 1


def test_a_rate_limited_primary_stays_healthy_but_an_offline_one_does_not():
    hub = ShareHub()
    hub.publish(Playback(ITEM, True, 0, 1.0), None, 1.0)
    hub.publish(None, RateLimited("429", 600, quota=True), 2.0)
    assert hub.snapshot(None, 0)["ok"]
    hub.publish(None, Offline("gone"), 3.0)
    assert not hub.snapshot(None, 0)["ok"]


def test_the_followers_progress_is_corrected_for_the_primarys_clock():
    pb = Playback(ITEM, True, 30_000, 1000.0)
    mine = playback_from_doc(json.loads(json.dumps(playback_doc(pb))), offset=120.0)
    assert mine is not None and mine.observed_at == 880.0
    assert mine.progress_at(885.0) == pb.progress_at(1005.0)


def test_the_client_measures_the_offset_of_a_primary_whose_clock_is_ahead():
    ahead = Clock(1_800_000_000.0 + 300)
    here = Clock(1_800_000_000.0)
    server = ShareServer(ShareHub(), KEY, "127.0.0.1", 0, max_skew_s=600, clock=ahead).start()
    try:
        client = PrimaryClient(url(server), KEY, clock=here)
        assert client.get(None, 0).offset == pytest.approx(300, abs=0.01)
    finally:
        server.close()


@given(
    doc=hs.recursive(
        hs.none() | hs.booleans() | hs.integers() | hs.floats() | hs.text(max_size=20),
        lambda c: (
            hs.lists(c, max_size=4)
            | hs.dictionaries(
                hs.sampled_from(
                    [
                        "item",
                        "kind",
                        "title",
                        "artist",
                        "album",
                        "duration_ms",
                        "is_playing",
                        "progress_ms",
                        "observed_at",
                        "device_name",
                        "item_id",
                        "art_url",
                    ]
                ),
                c,
                max_size=8,
            )
        ),
        max_leaves=20,
    )
)
def test_any_answer_a_primary_sends_is_a_playback_or_refused_in_words(doc: object):
    from needledrop.share import BadAnswer

    try:
        playback_from_doc(doc, 0.0)
    except BadAnswer:
        pass


def make_follower(
    server_url: str, clock: Clock, fallback: Callable[[float], Playback | None], **kw: float
) -> FollowSource:
    client = PrimaryClient(server_url, KEY, timeout=1.0, clock=clock)
    return FollowSource(
        client,
        fallback,
        now=clock.t,
        long_poll_s=0.0 + kw.get("long", 0.2),
        failover_s=kw.get("failover", 30.0),
        recheck_s=kw.get("recheck", 20.0),
    )


def test_a_follower_fails_over_after_failover_s_and_follows_again_when_the_primary_is_back(
    clock: Clock,
):
    calls = CallLog()

    def spotify(now: float) -> Playback | None:
        calls.record(now)
        return Playback(ITEM, True, 0, now)

    hub = ShareHub()
    hub.publish(Playback(ITEM, True, 0, clock.t), None, clock.t)
    server = ShareServer(hub, KEY, "127.0.0.1", 0, clock=clock).start()
    port = server.address[1]
    follower = make_follower(url(server), clock, spotify)
    assert follower.poll(clock.t) is not None and follower.following
    server.close()  # the primary dies
    start = clock.t
    for dt in (1, 10, 29):
        clock.t = start + dt
        with pytest.raises(Offline):
            follower.poll(clock.t)
    assert calls.total == 0
    clock.t = start + 31  # 31 s without the primary
    assert follower.poll(clock.t) is not None
    assert not follower.following and calls.total == 1
    assert follower.pace(clock.t + 600, clock.t, True) == clock.t + 20.0  # asks again in 20 s
    back = ShareServer(hub, KEY, "127.0.0.1", port, clock=clock).start()
    try:
        clock.t += 20.0
        follower.poll(clock.t)
        assert follower.following and calls.total == 1  # the primary answered, no Spotify call
    finally:
        back.close()


def test_a_follower_whose_primary_fails_at_spotify_polls_itself_after_failover_s(
    primary: ShareServer, clock: Clock
):
    calls: list[float] = []
    primary.hub.publish(None, Offline("Cannot reach Spotify."), clock.t)
    follower = make_follower(url(primary), clock, lambda now: calls.append(now) or None)
    with pytest.raises(Offline, match="primary display fails"):
        follower.poll(clock.t + 5)
    follower.poll(clock.t + 31)
    assert calls == [clock.t + 31] and not follower.following


def test_a_follower_with_a_wrong_key_gets_nothing_from_the_primary(
    primary: ShareServer, clock: Clock
):
    primary.hub.publish(Playback(ITEM, True, 0, clock.t), None, clock.t)
    client = PrimaryClient(url(primary), b"w" * 32, clock=clock)
    follower = FollowSource(client, lambda now: None, now=clock.t, long_poll_s=0.1)
    with pytest.raises(Offline, match="refused this display's key"):
        follower.poll(clock.t)


# --- config -------------------------------------------------------------------------------------


def test_a_follower_without_a_primary_url_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="share.primary_url"):
        parse_config({"source": "follow"}, {"NEEDLEDROP_SHARE_KEY": "x" * 32})


@pytest.mark.parametrize(
    "doc",
    [
        {"share": {"serve": True}},
        {"source": "follow", "share": {"primary_url": "http://10.0.0.2:8765"}},
    ],
)
def test_sharing_without_the_key_names_the_environment_variable(doc: dict, tmp_path: Path, capsys):
    """``run`` refuses (exit 2, one line); ``status`` works without the key (health checks run
    it outside the service's environment)."""
    from needledrop.cli import main

    with pytest.raises(ConfigError, match="NEEDLEDROP_SHARE_KEY"):
        parse_config(doc, {"NEEDLEDROP_SHARE_KEY": "short"}).share.require_key()
    path = tmp_path / "n.toml"
    share = "".join(f"{k} = {json.dumps(v)}\n" for k, v in doc["share"].items())
    top = f'source = "{doc["source"]}"\n' if "source" in doc else ""
    path.write_text(
        f'{top}[paths]\nstate_dir = "{tmp_path}"\ntoken_cache = "{tmp_path}/t"\n'
        f'cache_dir = "{tmp_path}/c"\n[share]\n{share}'
    )
    env = {"SPOTIPY_CLIENT_ID": "i", "SPOTIPY_CLIENT_SECRET": "s", "NEEDLEDROP_SHARE_KEY": "short"}
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, env):
        assert main(["run", "--config", str(path), "--duration", "0"]) == 2
        assert "NEEDLEDROP_SHARE_KEY" in capsys.readouterr().err
        assert main(["status", "--json", "--config", str(path)]) == 1  # no status yet: unhealthy
        assert '"status_file"' in capsys.readouterr().out


def test_a_follower_config_reads_its_primary():
    cfg = parse_config(
        {"source": "follow", "share": {"primary_url": "http://10.0.0.2:8765/", "failover_s": 5}},
        {"NEEDLEDROP_SHARE_KEY": "x" * 32},
    )
    assert cfg.share.primary_url == "http://10.0.0.2:8765" and cfg.share.failover_s == 5.0
    assert cfg.share.role == "follower" and "x" * 32 not in repr(cfg)


# --- status ---------------------------------------------------------------------------------


def test_status_says_the_role_whom_it_follows_and_the_spotify_calls_of_the_last_hour(
    tmp_path: Path, primary: ShareServer, clock: Clock
):
    from needledrop.cli import sharing_line
    from needledrop.config import Config, PathsConfig
    from needledrop.render import Renderer
    from needledrop.runner import Runner
    from needledrop.status import read_status

    cfg = Config(
        paths=PathsConfig(
            token_cache=tmp_path / "t.json", state_dir=tmp_path / "s", cache_dir=tmp_path / "c"
        )
    )
    (tmp_path / "s").mkdir()
    primary.hub.publish(None, Offline("Cannot reach Spotify."), clock.t)
    calls = CallLog()

    def spotify(now: float) -> Playback | None:
        calls.record(now)
        return Playback(ITEM, True, 0, now)

    follower = make_follower(url(primary), clock, spotify, failover=5)
    follower.calls = calls

    class Shown:
        def show(self, image: object) -> None: ...

        def close(self) -> None: ...

    runner = Runner(
        cfg,
        follower,
        Renderer(64, 32, cfg, cfg.paths.art_cache_dir),
        Shown(),  # type: ignore[arg-type]
        now=clock.t,
        calls=calls,
        pace=follower.pace,
        sharing=follower.sharing,
    )
    runner.step(clock.t)
    doc, _ = read_status(cfg.paths.status_file, cfg.paths.reauth_file, clock.t)
    assert doc["sharing"]["role"] == "follower" and doc["sharing"]["following"] == url(primary)
    assert doc["spotify_calls_last_hour"] == 0
    clock.t += 6  # the primary still fails at Spotify: this display asks Spotify itself
    runner.step(clock.t)
    doc, _ = read_status(cfg.paths.status_file, cfg.paths.reauth_file, clock.t)
    assert doc["sharing"]["polling_spotify"] and doc["spotify_calls_last_hour"] == 1
    assert sharing_line(doc) == (
        f"follower of {url(primary)} (polling Spotify itself); 1 Spotify calls in the last hour"
    )
    clock.t += 3601
    runner.write_status(clock.t, force=True)
    doc, _ = read_status(cfg.paths.status_file, cfg.paths.reauth_file, clock.t)
    assert doc["spotify_calls_last_hour"] == 0


def test_a_hung_primary_whose_observation_is_not_renewed_is_failed_over(
    primary: ShareServer, clock: Clock
):
    """The primary's server answers but its poll loop hangs: once it is ``failover_s`` past
    the poll it announced, its observation is stale and the follower asks Spotify."""
    calls: list[float] = []
    primary.hub.publish(Playback(ITEM, True, 0, clock.t), None, clock.t, next_poll_at=clock.t + 10)
    follower = make_follower(url(primary), clock, lambda now: calls.append(now) or None)
    start = clock.t
    assert follower.poll(start) is not None  # fresh
    clock.t = start + 39  # 29 s past the announced poll: still trusted
    assert follower.poll(clock.t) is not None and follower.following
    clock.t = start + 45  # stale, but the follower last saw it healthy only 6 s ago
    with pytest.raises(Offline, match="stopped polling"):
        follower.poll(clock.t)
    clock.t = start + 70
    follower.poll(clock.t)
    assert calls == [start + 70] and not follower.following
