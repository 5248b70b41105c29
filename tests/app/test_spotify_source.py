"""The Spotify source against the loopback fake, through real spotipy."""

from __future__ import annotations

import builtins
import json
import stat
import time
import webbrowser
from pathlib import Path

import pytest
from fakes.spotify import (
    Reply,
    fake_ad,
    fake_episode,
    fake_private_session,
    fake_track,
)
from needledrop.spotify import (
    CredentialsRejected,
    Offline,
    RateLimited,
    ReauthNeeded,
    TokenUnavailable,
    retry_after_seconds,
    write_token_file,
)


def expire_cached_access_token(path: Path) -> None:
    """Make spotipy think the cached access token has run out (forces a refresh)."""
    token = json.loads(path.read_text())
    token["expires_at"] = int(time.time()) - 10
    path.write_text(json.dumps(token))


# --- what can play --------------------------------------------------------------------------


def test_track_is_parsed_with_artists_album_and_largest_image(fake, make_source):
    fake.player = fake_track(
        title="Xtal",
        artists=("Aphex Twin", "Richard D. James"),
        album="Selected Ambient Works 85-92",
        duration_ms=294_000,
        progress_ms=12_000,
        image_url=fake.image_url("saw.jpg"),
    )
    pb = make_source().poll(now=100.0)
    assert pb is not None and pb.item is not None
    assert pb.item.kind == "track"
    assert pb.item.title == "Xtal"
    assert pb.item.artist == "Aphex Twin, Richard D. James"
    assert pb.item.album == "Selected Ambient Works 85-92"
    assert pb.item.duration_ms == 294_000
    assert pb.item.art_url == fake.image_url("saw.jpg") + "?s=640"
    assert (pb.is_playing, pb.progress_ms, pb.observed_at) == (True, 12_000, 100.0)
    assert pb.device_name == "Kitchen"


def test_poll_asks_for_episodes_too(fake, make_source):
    fake.player = fake_track()
    make_source().poll(now=0.0)
    [call] = fake.calls_to("player")
    assert call.query["additional_types"] == ["episode"]


def test_episode_shows_show_name_episode_title_and_show_image(fake, make_source):
    fake.player = fake_episode(
        title="Ep. 12: Hum",
        show="Twenty Thousand Hertz",
        show_image_url=fake.image_url("show.jpg"),
        episode_image_url=fake.image_url("ep.jpg"),
    )
    pb = make_source().poll(now=0.0)
    assert pb is not None and pb.item is not None
    assert pb.item.kind == "episode"
    assert pb.item.title == "Ep. 12: Hum"
    assert pb.item.artist == "Twenty Thousand Hertz"
    assert pb.item.art_url == fake.image_url("show.jpg") + "?s=640"


def test_episode_without_show_image_falls_back_to_episode_image(fake, make_source):
    fake.player = fake_episode(show_image_url=None, episode_image_url=fake.image_url("ep.jpg"))
    pb = make_source().poll(now=0.0)
    assert pb is not None and pb.item is not None
    assert pb.item.art_url == fake.image_url("ep.jpg") + "?s=640"


def test_local_file_has_no_id_and_no_art(fake, make_source):
    fake.player = fake_track(title="demo-tape.mp3", is_local=True)
    pb = make_source().poll(now=0.0)
    assert pb is not None and pb.item is not None
    assert (pb.item.kind, pb.item.title, pb.item.item_id, pb.item.art_url) == (
        "local",
        "demo-tape.mp3",
        None,
        None,
    )


def test_ad_is_an_ad_item_not_a_crash(fake, make_source):
    fake.player = fake_ad()
    pb = make_source().poll(now=0.0)
    assert pb is not None and pb.item is not None
    assert pb.item.kind == "ad"
    assert pb.item.art_url is None


def test_nothing_playing_204_is_none(fake, make_source):
    fake.player = None
    assert make_source().poll(now=0.0) is None
    assert [c.status for c in fake.calls_to("player")] == [204]


def test_private_session_without_item_is_none(fake, make_source):
    fake.player = fake_private_session()
    assert make_source().poll(now=0.0) is None


def test_track_without_images_has_no_art_url(fake, make_source):
    fake.player = fake_track(image_url=None)
    pb = make_source().poll(now=0.0)
    assert pb is not None and pb.item is not None
    assert pb.item.art_url is None


def test_device_filter_hides_playback_on_other_devices(fake, make_source):
    src = make_source(devices=("kitchen", "Hallway"))
    fake.player = fake_track(device="Phone")
    assert src.poll(now=0.0) is None
    fake.player = fake_track(device="Kitchen")
    pb = src.poll(now=1.0)
    assert pb is not None and pb.device_name == "Kitchen"


# --- faults -----------------------------------------------------------------------------------


def test_429_raises_rate_limited_with_retry_after_and_no_retry(fake, make_source):
    fake.script("player", Reply(429, {"error": {"status": 429}}, {"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as err:
        make_source().poll(now=0.0)
    assert err.value.retry_after == 3600
    assert len(fake.calls_to("player")) == 1  # spotipy/urllib3 did not retry or sleep


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_offline_without_retries(fake, make_source, status):
    fake.script("player", Reply(status, {"error": {"status": status}}))
    with pytest.raises(Offline, match=str(status)):
        make_source().poll(now=0.0)
    assert len(fake.calls_to("player")) == 1


def test_slow_answer_times_out_as_offline(fake, make_source):
    fake.player = fake_track()
    fake.script("player", Reply(200, fake_track(), delay_s=1.5))
    with pytest.raises(Offline, match="in time"):
        make_source(timeout=0.2).poll(now=0.0)


def test_dropped_connection_is_offline(fake, make_source):
    fake.script("player", Reply(drop=True))
    with pytest.raises(Offline):
        make_source().poll(now=0.0)


def test_connection_refused_is_offline(fake, make_source):
    src = make_source()
    fake.stop()
    with pytest.raises(Offline, match="Cannot reach Spotify"):
        src.poll(now=0.0)


def test_401_refreshes_once_and_retries(fake, make_source, token_path):
    fake.player = fake_track(title="After refresh")
    old = json.loads(token_path.read_text())
    fake.expire_access_tokens()
    pb = make_source().poll(now=0.0)
    assert pb is not None and pb.item is not None and pb.item.title == "After refresh"
    assert [c.status for c in fake.calls_to("player")] == [401, 200]
    assert len(fake.calls_to("token")) == 1
    new = json.loads(token_path.read_text())
    assert new["access_token"] != old["access_token"]


def test_second_401_after_refresh_is_offline_and_refreshes_only_once(fake, make_source):
    unauthorized = Reply(401, {"error": {"status": 401, "message": "bad token"}})
    fake.script("player", unauthorized, unauthorized)
    with pytest.raises(Offline, match="401"):
        make_source().poll(now=0.0)
    assert len(fake.calls_to("token")) == 1


def test_refresh_without_new_refresh_token_keeps_the_old_one(fake, make_source, token_path):
    fake.player = fake_track()
    fake.rotate_refresh_tokens = False
    old = json.loads(token_path.read_text())
    expire_cached_access_token(token_path)
    make_source().poll(now=0.0)
    new = json.loads(token_path.read_text())
    assert new["refresh_token"] == old["refresh_token"]
    assert new["access_token"] != old["access_token"]
    assert new["expires_at"] > time.time()
    assert set(new) >= {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "expires_at",
    }
    assert new["authorized_at"] == old["authorized_at"]
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600


def test_refresh_with_rotated_refresh_token_saves_the_new_one(fake, make_source, token_path):
    fake.player = fake_track()
    fake.rotate_refresh_tokens = True
    old = json.loads(token_path.read_text())
    expire_cached_access_token(token_path)
    src = make_source()
    src.poll(now=0.0)
    new = json.loads(token_path.read_text())
    assert new["refresh_token"] != old["refresh_token"]
    expire_cached_access_token(token_path)
    assert src.poll(now=1.0) is not None  # the rotated token works for the next refresh


def test_invalid_grant_raises_reauth_and_stops_asking_until_the_file_changes(
    fake, make_source, token_path
):
    fake.player = fake_track(title="Fresh token")
    fake.revoke()
    expire_cached_access_token(token_path)
    src = make_source()
    with pytest.raises(ReauthNeeded, match="invalid_grant"):
        src.poll(now=0.0)
    with pytest.raises(ReauthNeeded):
        src.poll(now=30.0)
    assert len(fake.calls_to("token")) == 1  # the dead token is not sent again

    write_token_file(token_path, fake.grant())  # the fleet pushes a new token
    pb = src.poll(now=60.0)
    assert pb is not None and pb.item is not None and pb.item.title == "Fresh token"


def test_invalid_grant_leaves_the_token_file_untouched(fake, make_source, token_path):
    fake.revoke()
    expire_cached_access_token(token_path)
    before = token_path.read_bytes()
    with pytest.raises(ReauthNeeded):
        make_source().poll(now=0.0)
    assert token_path.read_bytes() == before


def test_token_without_needed_scope_needs_reauth_without_prompting(
    fake, make_source, token_path, monkeypatch
):
    def forbidden(*args, **kwargs):
        raise AssertionError("the service must never prompt or open a browser")

    monkeypatch.setattr(builtins, "input", forbidden)
    monkeypatch.setattr(webbrowser, "open", forbidden)
    write_token_file(token_path, fake.grant(scope="user-library-read"))
    with pytest.raises(ReauthNeeded):
        make_source().poll(now=0.0)


def test_invalid_client_is_reported_as_rejected_credentials(fake, make_source, token_path):
    expire_cached_access_token(token_path)
    with pytest.raises(CredentialsRejected, match="SPOTIPY_CLIENT_ID"):
        make_source(client_secret="wrong").poll(now=0.0)


def test_token_endpoint_outage_during_refresh_is_offline(fake, make_source, token_path):
    fake.script("token", Reply(503, "Service Unavailable"))
    expire_cached_access_token(token_path)
    with pytest.raises(Offline, match="accounts"):
        make_source().poll(now=0.0)


def test_missing_token_cache_is_reported_and_not_created(fake, make_source, token_path):
    token_path.unlink()
    with pytest.raises(TokenUnavailable, match="missing"):
        make_source().poll(now=0.0)
    assert not token_path.exists()
    assert fake.calls_to("player") == []


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"access_token": "x"}', b"\xff\xfe"])
def test_corrupt_token_cache_is_reported_and_never_overwritten(
    fake, make_source, token_path, content
):
    token_path.write_bytes(content)
    with pytest.raises(TokenUnavailable):
        make_source().poll(now=0.0)
    assert token_path.read_bytes() == content


def test_token_file_is_written_atomically_with_mode_0600(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("{}")
    path.chmod(0o644)
    write_token_file(path, {"access_token": "a", "refresh_token": "r", "expires_at": 1})
    assert json.loads(path.read_text())["refresh_token"] == "r"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]  # no temp file left behind


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds({"Retry-After": "42"}, 0.0) == 42
    assert retry_after_seconds({"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, 40.0) == 60
    assert retry_after_seconds({}, 0.0) == 5
