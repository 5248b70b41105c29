"""status.json as `needledrop status --json` reads it: running, healthy, re-auth, token age."""

from __future__ import annotations

import json

from needledrop.state import DisplayState, Item, Playback
from needledrop.status import (
    REFRESH_TOKEN_LIFETIME_S,
    ReauthRecord,
    RunStatus,
    clear_reauth,
    iso,
    read_status,
    showing,
    write_json_atomic,
    write_reauth,
)

ITEM = Item("episode", "Hum", "Twenty Thousand Hertz", "Twenty Thousand Hertz", 1_800_000, "e1")


def written(tmp_path, now: float, state: DisplayState | None = None, **fields):
    st = RunStatus(backend="png", source="spotify", size=(64, 64), started_at=now - 60, **fields)
    path = tmp_path / "status.json"
    write_json_atomic(path, st.to_json(state or DisplayState(), 600.0, now))
    return path


def test_fresh_status_from_a_running_service_is_healthy(tmp_path):
    now = 1_800_000_000.0
    pb = Playback(ITEM, True, 60_000, now - 5)
    path = written(tmp_path, now, DisplayState(playback=pb, last_played_at=now - 5))
    doc, healthy = read_status(path, tmp_path / "reauth-needed.json", now + 10)
    assert healthy and doc["running"]
    assert doc["showing"]["screen"] == "episode"
    assert doc["showing"]["artist"] == "Twenty Thousand Hertz"
    assert doc["showing"]["progress_ms"] == 65_000


def test_status_not_updated_for_minutes_means_not_running(tmp_path):
    now = 1_800_000_000.0
    path = written(tmp_path, now)
    doc, healthy = read_status(path, tmp_path / "reauth-needed.json", now + 600)
    assert not doc["running"] and not healthy


def test_reauth_marker_makes_status_unhealthy_and_is_included(tmp_path):
    now = 1_800_000_000.0
    path = written(tmp_path, now)
    marker = tmp_path / "reauth-needed.json"
    write_reauth(marker, ReauthRecord("2027-01-01T00:00:00+00:00", "invalid_grant", "/t", "id"))
    doc, healthy = read_status(path, marker, now + 1)
    assert doc["reauth_needed"] and not healthy
    assert doc["reauth"]["reason"] == "invalid_grant"
    assert clear_reauth(marker) and not marker.exists()
    assert not clear_reauth(marker)


def test_refresh_token_age_warns_two_weeks_before_six_months(tmp_path):
    now = 1_800_000_000.0
    young = written(tmp_path, now, authorized_at=now - 30 * 86400)
    doc, _ = read_status(young, tmp_path / "none", now)
    assert doc["token"]["expiry_warning"] is False
    old = written(tmp_path, now, authorized_at=now - REFRESH_TOKEN_LIFETIME_S + 13 * 86400)
    doc, _ = read_status(old, tmp_path / "none", now)
    assert doc["token"]["expiry_warning"] is True


def test_unreadable_status_file_is_reported_not_raised(tmp_path):
    path = tmp_path / "status.json"
    path.write_text("[1, 2")
    doc, healthy = read_status(path, tmp_path / "none", 0.0)
    assert doc["error"] == "status file unreadable" and not healthy


def test_paused_for_longer_than_idle_after_shows_idle():
    pb = Playback(ITEM, False, 60_000, 0.0)
    state = DisplayState(playback=pb, last_played_at=0.0)
    assert showing(state, 600.0, 100.0)["screen"] == "episode"
    assert showing(state, 600.0, 601.0) == {"screen": "idle"}


def test_status_holds_no_token_even_when_given_the_whole_token_cache(tmp_path):
    """The status file and `status --json` show when the token expires, never the token."""
    now = 1_800_000_000.0
    cache = {
        "access_token": "AQB-secret-access-value",
        "refresh_token": "AQC-secret-refresh-value",
        "token_type": "Bearer",
        "expires_at": now + 3600,
        "authorized_at": now - 86400,
        "scope": "user-read-playback-state",
    }
    path = tmp_path / "status.json"
    write_json_atomic(path, {"updated_at": iso(now)})  # a service that has not reported tokens
    doc, _ = read_status(path, tmp_path / "none", now, token=cache)
    text = json.dumps(doc) + path.read_text()
    assert "secret-access-value" not in text and "secret-refresh-value" not in text
    assert doc["token"]["access_token_expires_at"] == iso(now + 3600)
    assert doc["token"]["authorized_at"] == iso(now - 86400)
