"""status.json and `needledrop status --json` at their edges: when a service counts as stopped,
when the six-month warning starts, what a fresh service reports, and how a status file and the
token cache combine. (Each of these let a small planted bug through before; docs/testing.md.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from needledrop.state import DisplayState, Item, Playback
from needledrop.status import (
    REFRESH_TOKEN_LIFETIME_S,
    STALE_AFTER_S,
    ReauthRecord,
    RunStatus,
    iso,
    parse_iso,
    rate_limit_line,
    read_status,
    showing,
    write_json_atomic,
    write_reauth,
)

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
DAY = 86_400
SONG = Item("track", "Song", "Band", "LP", 200_000, "t1")


def status_file(tmp_path, doc: dict) -> object:
    path = tmp_path / "status.json"
    write_json_atomic(path, doc)
    return path


def service(**fields) -> RunStatus:
    return RunStatus(backend="png", source="spotify", size=(64, 32), started_at=NOW - 60, **fields)


def test_iso_is_utc_with_a_z_to_the_second_and_parses_back():
    assert iso(NOW) == "2027-01-15T08:00:00Z"
    assert iso(NOW + 0.9) == "2027-01-15T08:00:00Z"
    assert iso(None) is None
    assert parse_iso(iso(NOW)) == NOW
    assert parse_iso(None) is None and parse_iso(12) is None and parse_iso("yesterday") is None


def test_a_fresh_service_reports_version_1_and_nothing_counted_yet():
    doc = service().to_json(DisplayState(), 600.0, NOW)
    assert doc["version"] == 1
    assert doc["polls"] == 0 and doc["api_errors"] == 0
    assert doc["last_poll_ok_at"] is None and doc["last_error"] is None
    assert doc["stopped_at"] is None and doc["started_at"] == iso(NOW - 60)
    assert doc["size"] == "64x32" and doc["updated_at"] == iso(NOW)
    token = doc["token"]
    assert token["access_token_expires_at"] is None and token["authorized_at"] is None
    assert token["refresh_token_expires_about"] is None and token["expiry_warning"] is False


@pytest.mark.parametrize(
    ("age_s", "running"), [(0, True), (STALE_AFTER_S, True), (STALE_AFTER_S + 0.5, False)]
)
def test_a_status_older_than_two_minutes_means_not_running(tmp_path, age_s, running):
    assert STALE_AFTER_S == 120
    path = status_file(tmp_path, service().to_json(DisplayState(), 600.0, NOW))
    doc, healthy = read_status(path, tmp_path / "none", NOW + age_s)
    assert doc["running"] is running and healthy is running


def test_a_status_without_a_time_is_not_running(tmp_path):
    path = status_file(tmp_path, {"pid": 1})
    doc, healthy = read_status(path, tmp_path / "none", NOW)
    assert doc["running"] is False and not healthy


def test_a_service_that_stopped_cleanly_is_not_running_even_if_fresh(tmp_path):
    path = status_file(tmp_path, service(stopped_at=NOW).to_json(DisplayState(), 600.0, NOW))
    doc, healthy = read_status(path, tmp_path / "none", NOW)
    assert doc["running"] is False and not healthy


def test_no_status_file_yet_is_reported_with_its_path(tmp_path):
    doc, healthy = read_status(tmp_path / "status.json", tmp_path / "none", NOW)
    assert doc["error"] == "no status file yet"
    assert doc["status_file"] == str(tmp_path / "status.json")
    assert doc["running"] is False and doc["reauth_needed"] is False and not healthy


def test_a_status_file_that_is_not_an_object_is_unreadable(tmp_path):
    path = tmp_path / "status.json"
    path.write_text("[1, 2]")
    doc, healthy = read_status(path, tmp_path / "none", NOW)
    assert doc["error"] == "status file unreadable" and not healthy


@pytest.mark.parametrize(
    ("left_s", "warning"),
    [(14 * DAY + 1, False), (14 * DAY, False), (14 * DAY - 1, True), (-DAY, True)],
)
def test_the_expiry_warning_starts_14_days_before_182_days_are_up(tmp_path, left_s, warning):
    authorized = NOW - REFRESH_TOKEN_LIFETIME_S + left_s
    doc = service(authorized_at=authorized).to_json(DisplayState(), 600.0, NOW)
    assert doc["token"]["expiry_warning"] is warning
    # The same answer when only the token cache knows the sign-in time (service not run yet).
    path = status_file(tmp_path, {"updated_at": iso(NOW)})
    merged, _ = read_status(path, tmp_path / "none", NOW, token={"authorized_at": authorized})
    assert merged["token"]["expiry_warning"] is warning


def test_the_refresh_token_lasts_182_days_from_sign_in(tmp_path):
    signed_in = datetime(2026, 7, 1, 12, 0, tzinfo=UTC).timestamp()
    doc = service(authorized_at=signed_in).to_json(DisplayState(), 600.0, NOW)
    assert doc["token"]["refresh_token_expires_about"] == "2026-12-30T12:00:00Z"
    path = status_file(tmp_path, {"updated_at": iso(NOW)})
    merged, _ = read_status(path, tmp_path / "none", NOW, token={"authorized_at": signed_in})
    assert merged["token"]["refresh_token_expires_about"] == "2026-12-30T12:00:00Z"
    assert merged["token"]["authorized_at"] == "2026-07-01T12:00:00Z"


def test_the_service_s_token_times_win_over_the_cache_s(tmp_path):
    doc = service(token_expires_at=NOW + 3600, authorized_at=NOW - DAY).to_json(
        DisplayState(), 600.0, NOW
    )
    path = status_file(tmp_path, doc)
    cache = {"expires_at": NOW + 60, "authorized_at": NOW - 2 * DAY}
    merged, _ = read_status(path, tmp_path / "none", NOW, token=cache)
    assert merged["token"]["access_token_expires_at"] == iso(NOW + 3600)
    assert merged["token"]["authorized_at"] == iso(NOW - DAY)


def test_a_cache_without_times_adds_nothing(tmp_path):
    path = status_file(tmp_path, {"updated_at": iso(NOW)})
    merged, _ = read_status(path, tmp_path / "none", NOW, token={"scope": "x"})
    assert merged["token"] == {}


def test_a_reauth_marker_that_cannot_be_read_still_means_reauth(tmp_path):
    path = status_file(tmp_path, service().to_json(DisplayState(), 600.0, NOW))
    marker = tmp_path / "reauth-needed.json"
    marker.write_text("{half")
    doc, healthy = read_status(path, marker, NOW)
    assert doc["reauth_needed"] is True and doc["reauth"] == {"reauth_needed": True}
    assert not healthy


def test_the_service_s_own_reauth_flag_counts_without_a_marker(tmp_path):
    state = DisplayState(reauth_needed=True)
    path = status_file(tmp_path, service().to_json(state, 600.0, NOW))
    doc, healthy = read_status(path, tmp_path / "none", NOW)
    assert doc["reauth_needed"] is True and "reauth" not in doc and not healthy


def test_a_reauth_record_says_reauth_needed(tmp_path):
    marker = tmp_path / "m.json"
    write_reauth(marker, ReauthRecord("2027-01-01T00:00:00Z", "invalid_grant", "/t", None))
    assert json.loads(marker.read_text())["reauth_needed"] is True


def test_a_message_on_the_panel_is_unhealthy_and_a_track_is_healthy(tmp_path):
    msg = status_file(tmp_path, service().to_json(DisplayState(message="x"), 600.0, NOW))
    assert read_status(msg, tmp_path / "none", NOW)[1] is False
    pb = Playback(SONG, True, 0, NOW)
    ok = status_file(tmp_path, service().to_json(DisplayState(playback=pb), 600.0, NOW))
    assert read_status(ok, tmp_path / "none", NOW)[1] is True


@pytest.mark.parametrize(("since_s", "screen"), [(599.5, "nothing"), (600.0, "idle")])
def test_nothing_playing_turns_idle_after_idle_after_s(since_s, screen):
    state = DisplayState(playback=None, last_played_at=NOW - since_s)
    assert showing(state, 600.0, NOW) == {"screen": screen}
    assert showing(DisplayState(), 600.0, NOW) == {"screen": "idle"}  # never played


@pytest.mark.parametrize(("since_s", "screen"), [(599.5, "track"), (600.0, "idle")])
def test_paused_turns_idle_after_idle_after_s_counted_from_the_last_play(since_s, screen):
    pb = Playback(SONG, False, 10_000, NOW - 5)
    state = DisplayState(playback=pb, last_played_at=NOW - since_s)
    assert showing(state, 600.0, NOW)["screen"] == screen
    # Without a last play, from when the pause was seen.
    assert showing(DisplayState(playback=pb), 600.0, NOW - 5 + since_s)["screen"] == screen


def test_playing_shows_what_and_where():
    pb = Playback(SONG, True, 10_000, NOW, "Kitchen")
    assert showing(DisplayState(playback=pb), 600.0, NOW + 2) == {
        "screen": "track",
        "title": "Song",
        "artist": "Band",
        "album": "LP",
        "is_playing": True,
        "progress_ms": 12_000,
        "duration_ms": 200_000,
        "device": "Kitchen",
    }
    assert showing(DisplayState(reauth_needed=True, message="m"), 600.0, NOW) == {
        "screen": "reauth"
    }


# --- the rate-limit line of `needledrop status` at its edges ---------------------------------

_UNTIL = datetime(2026, 11, 29, 13, 4, 30, tzinfo=UTC).timestamp()
_LIMITED = {"rate_limited": True, "rate_limited_until": iso(_UNTIL), "rate_limit_reason": "quota"}


@pytest.mark.parametrize(
    ("before_s", "when"),
    [
        (19.5 * 3600, "14:05"),
        (20 * 3600 - 1, "14:05"),
        (20 * 3600, "2026-11-29 14:05"),  # from 20 hours ahead the day is named too
        (20 * 3600 + 1, "2026-11-29 14:05"),
    ],
)
def test_the_rate_limit_line_names_the_day_from_20_hours_ahead(before_s, when):
    line = rate_limit_line(_LIMITED, _UNTIL - before_s, ZoneInfo("Europe/Berlin"))
    assert line == f"rate-limited by Spotify until {when} (developer quota spent)"


def test_the_rate_limit_line_is_gone_at_the_moment_the_limit_ends():
    assert rate_limit_line(_LIMITED, _UNTIL - 1, ZoneInfo("Europe/Berlin")) is not None
    assert rate_limit_line(_LIMITED, _UNTIL, ZoneInfo("Europe/Berlin")) is None


@pytest.mark.parametrize(
    "doc",
    [
        {**_LIMITED, "rate_limited": False},  # a time left behind once the limit was lifted
        {**_LIMITED, "rate_limited_until": None},
        {**_LIMITED, "rate_limited_until": "soon"},
    ],
)
def test_no_rate_limit_line_without_a_running_limit_and_its_end(doc):
    assert rate_limit_line(doc, _UNTIL - 60, ZoneInfo("Europe/Berlin")) is None
