"""The player body → Playback, and Retry-After → seconds, field by field (pure functions; the
HTTP paths are in test_spotify_source.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from fakes.spotify import fake_ad, fake_episode, fake_private_session, fake_track
from needledrop.spotify import parse_playback, retry_after_seconds

NOW = 1_800_000_000.0


def test_a_track_becomes_its_title_artists_album_and_largest_art():
    body = fake_track(
        title="Song", artists=("A", "B"), album="LP", duration_ms=200_000, progress_ms=1500
    )
    body["item"]["artists"].append({"type": "artist"})  # an artist without a name is skipped
    body["item"]["album"]["images"] = [
        {"url": "http://x/small", "width": 64, "height": 64},
        {"url": "http://x/big", "width": 640, "height": 640},
        {"width": 1000, "height": 1000},  # no url: not an image to fetch
        {"url": "http://x/mid", "width": 300, "height": 300},
    ]
    pb = parse_playback(body, NOW)
    assert pb is not None and pb.item is not None
    assert (pb.item.kind, pb.item.title, pb.item.artist, pb.item.album) == (
        "track",
        "Song",
        "A, B",
        "LP",
    )
    assert pb.item.art_url == "http://x/big"
    assert pb.item.duration_ms == 200_000 and pb.progress_ms == 1500
    assert pb.item.item_id == body["item"]["uri"]
    assert pb.is_playing is True and pb.observed_at == NOW and pb.device_name == "Kitchen"


def test_an_item_without_a_uri_is_known_by_its_id():
    body = fake_track()
    del body["item"]["uri"]
    pb = parse_playback(body, NOW)
    assert pb is not None and pb.item is not None and pb.item.item_id == body["item"]["id"]


def test_images_without_sizes_or_none_at_all():
    body = fake_track()
    body["item"]["album"]["images"] = [{"url": "http://x/only"}]
    assert parse_playback(body, NOW).item.art_url == "http://x/only"
    body["item"]["album"]["images"] = []
    assert parse_playback(body, NOW).item.art_url is None
    body["item"]["album"]["images"] = "not a list"
    assert parse_playback(body, NOW).item.art_url is None


def test_a_local_file_has_no_id_and_no_art():
    pb = parse_playback(fake_track(title="demo.flac", is_local=True), NOW)
    assert pb is not None and pb.item is not None
    assert (pb.item.kind, pb.item.item_id, pb.item.art_url) == ("local", None, None)


def test_an_episode_shows_its_show_and_prefers_the_show_s_image():
    body = fake_episode(title="Hum", show="Twenty Thousand Hertz", is_playing=False)
    pb = parse_playback(body, NOW)
    assert pb is not None and pb.item is not None
    assert (pb.item.kind, pb.item.title, pb.item.artist, pb.item.album) == (
        "episode",
        "Hum",
        "Twenty Thousand Hertz",
        "Twenty Thousand Hertz",
    )
    assert pb.item.art_url is not None and "show" in pb.item.art_url
    assert pb.is_playing is False
    body["item"]["show"]["images"] = []
    body["item"]["images"] = [{"url": "http://x/episode", "width": 1, "height": 1}]
    assert parse_playback(body, NOW).item.art_url == "http://x/episode"


def test_an_ad_is_an_item_with_no_duration_and_a_private_session_is_nothing():
    pb = parse_playback(fake_ad(), NOW)
    assert pb is not None and pb.item is not None
    assert (pb.item.kind, pb.item.title, pb.item.duration_ms) == ("ad", "Advertisement", 0)
    assert parse_playback(fake_private_session(), NOW) is None
    assert parse_playback(None, NOW) is None and parse_playback({}, NOW) is None


@pytest.mark.parametrize(
    ("devices", "shown"),
    [((), True), (("kitchen",), True), (("Office", "KITCHEN"), True), (("Office",), False)],
)
def test_the_device_filter_is_case_insensitive(devices, shown):
    assert (parse_playback(fake_track(device="Kitchen"), NOW, devices) is not None) is shown


def test_with_a_device_filter_playback_on_no_named_device_is_hidden():
    body = fake_track()
    body["device"] = None
    assert parse_playback(body, NOW, ("Kitchen",)) is None
    assert parse_playback(body, NOW) is not None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "40"}, 40.0),
        ({"retry-after": " 7 "}, 7.0),
        ({"Retry-After": "0"}, 0.0),
        ({}, 5.0),
        (None, 5.0),
        ({"Retry-After": "soon"}, 5.0),
        ({"Retry-After": "-3"}, 5.0),
    ],
)
def test_retry_after_in_seconds(headers, seconds):
    assert retry_after_seconds(headers, NOW) == seconds


def test_retry_after_as_an_http_date():
    later = format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)
    assert retry_after_seconds({"Retry-After": later}, NOW) == 90.0
    earlier = format_datetime(datetime.fromtimestamp(NOW - 90, UTC), usegmt=True)
    assert retry_after_seconds({"Retry-After": earlier}, NOW) == 0.0


def test_missing_numbers_are_zero_and_an_episode_is_known_by_its_uri():
    body = fake_track()
    del body["progress_ms"], body["item"]["duration_ms"]
    pb = parse_playback(body, NOW)
    assert pb is not None and pb.item is not None
    assert pb.progress_ms == 0 and pb.item.duration_ms == 0
    episode = fake_episode()
    del episode["item"]["duration_ms"]
    pe = parse_playback(episode, NOW)
    assert pe is not None and pe.item is not None and pe.item.duration_ms == 0
    assert pe.item.item_id == episode["item"]["uri"] != episode["item"]["id"]


def test_an_image_missing_a_dimension_never_beats_one_with_both():
    for partial in ({"width": 5000}, {"height": 5000}):
        body = fake_track()
        body["item"]["album"]["images"] = [
            {"url": "http://x/partial", **partial},
            {"url": "http://x/sized", "width": 10, "height": 10},
        ]
        assert parse_playback(body, NOW).item.art_url == "http://x/sized"


def test_token_info_reports_times_and_scope_but_no_token(make_source, token_path):
    info = make_source().token_info()
    assert info is not None
    assert info.authorized_at == 1_760_000_000
    assert info.scope == json.loads(token_path.read_text())["scope"]
    token_path.write_text(json.dumps({"access_token": "a", "refresh_token": "r", "expires_at": 1}))
    info = make_source().token_info()
    assert info is not None and info.scope == "" and info.authorized_at is None
    assert info.expires_at == 1
    token_path.unlink()
    assert make_source().token_info() is None
