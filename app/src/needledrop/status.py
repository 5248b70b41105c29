"""The status file (what the display shows, how polling goes) and ``needledrop status --json``.

The run loop writes ``<state_dir>/status.json`` when something a person would check changes,
and at least every ``HEARTBEAT_S`` (never per frame: SD cards wear). When the refresh token is
dead it also writes ``<state_dir>/reauth-needed.json``, which the re-auth playbook looks for, and
removes it once a poll succeeds again. Both are written atomically; neither holds a secret.

While Spotify rate-limits the display (429), status.json says ``"rate_limited": true``,
``"rate_limited_until"`` (the next poll, ISO 8601 UTC) and ``"rate_limit_reason"``: ``"quota"``
when the developer account's quota is spent (every display of the account waits), else
``"too_many_requests"``. ``needledrop status`` prints it as a line in local time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from needledrop.files import write_json_atomic
from needledrop.state import DisplayState, until_minute

STATUS_VERSION = 1
HEARTBEAT_S = 30.0  # the run loop rewrites status.json at least this often
STALE_AFTER_S = 120.0  # older than this: the service is not running (or hung)
REFRESH_TOKEN_LIFETIME_S = 182 * 24 * 3600  # Spotify's refresh tokens last about 6 months
EXPIRY_WARNING_DAYS = 14  # warn this long before that ([layout] token_warning_days)
DAY_S = 24 * 3600
RENEW_COMMAND = "ansible-playbook playbooks/reauth.yml"  # on the controller; finds what is due


def iso(ts: float | None) -> str | None:
    """Seconds since the epoch as ISO 8601 UTC, or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


RATE_LIMIT_REASONS = {True: "quota", False: "too_many_requests"}  # status.json's words


def refresh_token_deadline(authorized_at: float | None) -> float | None:
    """When the refresh token dies: 6 months (182 days) after the sign-in, however often it
    was refreshed (Spotify, 2026). None when the sign-in time is unknown."""
    return None if authorized_at is None else authorized_at + REFRESH_TOKEN_LIFETIME_S


def expiry_warning(authorized_at: float | None, now: float, warning_days: int) -> bool:
    """Whether the sign-in dies within ``warning_days`` of ``now`` (or has died)."""
    deadline = refresh_token_deadline(authorized_at)
    return deadline is not None and warning_days > 0 and deadline - now < warning_days * DAY_S


def token_expiry(
    authorized_at: float | None, now: float, warning_days: int = EXPIRY_WARNING_DAYS
) -> dict[str, Any]:
    """The sign-in's age against the 6-month limit, as status.json's ``token`` reports it:
    ``authorized_at``, ``refresh_token_expires_about``, ``expiry_warning``, whole
    ``days_left`` (negative once dead) and, while warning, the ``renew_command``."""
    deadline = refresh_token_deadline(authorized_at)
    warn = expiry_warning(authorized_at, now, warning_days)
    return {
        "authorized_at": iso(authorized_at),
        "refresh_token_expires_about": iso(deadline),
        "expiry_warning": warn,
        "expiry_warning_days": warning_days,
        "days_left": None if deadline is None else int((deadline - now) // DAY_S),
        "renew_command": RENEW_COMMAND if warn else None,
    }


def expiry_line(doc: Mapping[str, Any]) -> str | None:
    """ "Spotify sign-in expires about 2027-05-30 (in 9 days): run ansible-playbook ..." when
    the status warns, else None."""
    tok = doc.get("token") or {}
    if not tok.get("expiry_warning") or not tok.get("refresh_token_expires_about"):
        return None
    day = str(tok["refresh_token_expires_about"])[:10]
    left = tok.get("days_left")
    if isinstance(left, int) and left < 0:
        when = f"expired about {day}"
    else:
        when = f"expires about {day}" + (f" (in {left} days)" if isinstance(left, int) else "")
    return (
        f"Spotify sign-in {when}: renew it on the controller with "
        f"'{tok.get('renew_command') or RENEW_COMMAND}'"
    )


def showing(state: DisplayState, idle_after_s: float, now: float) -> dict[str, Any]:
    """What the panel shows, in words a status table can print."""
    if state.reauth_needed:
        return {"screen": "reauth"}
    if state.message:
        return {"screen": "message", "message": state.message}
    paused = {"screen": "rate_limited", "until": iso(state.rate_limited_until)}
    if state.rate_limit_clock(now):
        return paused
    pb = state.playback
    if pb is None or pb.item is None:
        since = state.last_played_at
        idle = since is None or now - since >= idle_after_s
        return {"screen": "idle" if idle else "nothing"}
    if not pb.is_playing:
        since = state.last_played_at if state.last_played_at is not None else pb.observed_at
        if now - since >= idle_after_s:
            return paused if state.rate_limited_until is not None else {"screen": "idle"}
    item = pb.item
    return {
        "screen": item.kind,
        "title": item.title,
        "artist": item.artist,
        "album": item.album,
        "is_playing": pb.is_playing,
        "progress_ms": pb.progress_at(now),
        "duration_ms": item.duration_ms,
        "device": pb.device_name,
    }


@dataclass
class RunStatus:
    """What the run loop knows about itself; ``to_json`` is the status.json document."""

    backend: str
    source: str
    size: tuple[int, int]
    started_at: float
    pid: int = field(default_factory=os.getpid)
    polls: int = 0
    api_errors: int = 0
    last_poll_ok_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    next_poll_at: float | None = None
    token_expires_at: float | None = None
    authorized_at: float | None = None
    token_save_error: str | None = None  # a refreshed token could not be saved: why
    stopped_at: float | None = None  # set when the service shuts down cleanly
    frames_shown: int = 0  # frames the backend was given since the start
    last_frame_at: float | None = None
    warning_days: int = EXPIRY_WARNING_DAYS  # [layout] token_warning_days
    spotify_calls_last_hour: int = 0  # Web API calls this display made (the quota is shared)
    sharing: dict[str, Any] = field(  # share.py: primary, follower or solo, and of whom
        default_factory=lambda: {"role": "solo", "following": None}
    )

    def to_json(self, state: DisplayState, idle_after_s: float, now: float) -> dict[str, Any]:
        return {
            "version": STATUS_VERSION,
            "pid": self.pid,
            "updated_at": iso(now),
            "started_at": iso(self.started_at),
            "stopped_at": iso(self.stopped_at),
            "backend": self.backend,
            "source": self.source,
            "size": f"{self.size[0]}x{self.size[1]}",
            "showing": showing(state, idle_after_s, now),
            "offline": state.offline,
            "rate_limited": state.rate_limited_until is not None,
            "rate_limited_until": iso(state.rate_limited_until),
            "rate_limit_reason": (
                RATE_LIMIT_REASONS[state.rate_limit_quota]
                if state.rate_limited_until is not None
                else None
            ),
            "reauth_needed": state.reauth_needed,
            "polls": self.polls,
            "frames_shown": self.frames_shown,
            "last_frame_at": iso(self.last_frame_at),
            "api_errors": self.api_errors,
            "last_poll_ok_at": iso(self.last_poll_ok_at),
            "last_error": self.last_error,
            "last_error_at": iso(self.last_error_at),
            "next_poll_at": iso(self.next_poll_at),
            "spotify_calls_last_hour": self.spotify_calls_last_hour,
            "sharing": dict(self.sharing),
            "token": {
                "access_token_expires_at": iso(self.token_expires_at),
                **token_expiry(self.authorized_at, now, self.warning_days),
                "save_error": self.token_save_error,
            },
        }


@dataclass(frozen=True)
class ReauthRecord:
    """The machine-readable "a person must sign in again" marker."""

    since: str
    reason: str
    token_cache: str
    client_id: str | None
    reauth_needed: bool = True


def write_reauth(path: Path, record: ReauthRecord) -> None:
    write_json_atomic(path, asdict(record))


def clear_reauth(path: Path) -> bool:
    """Remove the marker; True if there was one. Raises OSError when the marker may be there
    but cannot be removed (the state directory unreadable, the marker a directory, ...)."""
    try:
        path.unlink()
    except (FileNotFoundError, NotADirectoryError):  # no marker (or no directory to hold one)
        return False
    return True


def file_fault(path: Path, e: OSError) -> str:
    """ "cannot remove /var/lib/needledrop/x: Permission denied" without errno or repr."""
    return f"{path}: {e.strerror or type(e).__name__}"


def read_status(
    status_file: Path,
    reauth_file: Path,
    now: float,
    token: Mapping[str, Any] | None = None,
    warning_days: int = EXPIRY_WARNING_DAYS,
) -> tuple[dict[str, Any], bool]:
    """The document ``needledrop status --json`` prints, and whether the display is healthy.

    Healthy: the service wrote status recently, no re-auth is needed and no problem message
    is shown. ``token`` (the cache's non-secret fields) fills in what the service has not
    reported yet.
    """
    doc: dict[str, Any]
    try:
        loaded = json.loads(status_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        loaded = {"status_file": str(status_file), "error": "no status file yet"}
    except (OSError, ValueError):
        loaded = None
    if not isinstance(loaded, dict):
        loaded = {"status_file": str(status_file), "error": "status file unreadable"}
    running = "error" not in loaded and loaded.get("stopped_at") is None
    doc = loaded
    updated = parse_iso(doc.get("updated_at"))
    stale = updated is None or now - updated > STALE_AFTER_S
    doc["running"] = running and not stale
    reauth = False
    try:
        marker = reauth_file.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as e:  # there may be a marker we cannot read: say so, claim nothing
        doc["reauth_file_error"] = f"cannot read {file_fault(reauth_file, e)}"
    else:
        reauth = True
        try:
            doc["reauth"] = json.loads(marker)
        except ValueError:
            doc["reauth"] = {"reauth_needed": True}
    doc["reauth_needed"] = bool(doc.get("reauth_needed")) or reauth
    if token is not None:
        tok = doc.setdefault("token", {})
        if tok.get("access_token_expires_at") is None and token.get("expires_at") is not None:
            tok["access_token_expires_at"] = iso(float(token["expires_at"]))
        if tok.get("authorized_at") is None and token.get("authorized_at") is not None:
            tok.update(token_expiry(float(token["authorized_at"]), now, warning_days))
    tok_doc = doc.get("token")
    if isinstance(tok_doc, dict) and parse_iso(tok_doc.get("authorized_at")) is not None:
        # status.json may be hours old (or from an older app): judge the sign-in at ``now``
        tok_doc.update(token_expiry(parse_iso(tok_doc["authorized_at"]), now, warning_days))
    showing_doc = doc.get("showing") or {}
    healthy = doc["running"] and not doc["reauth_needed"] and showing_doc.get("screen") != "message"
    doc["healthy"] = healthy
    return doc, healthy


RATE_LIMIT_WORDS = {"quota": "developer quota spent", "too_many_requests": "too many requests"}


def rate_limit_line(doc: Mapping[str, Any], now: float, tz: tzinfo | None = None) -> str | None:
    """ "rate-limited by Spotify until 14:05 (developer quota spent)" in ``tz`` (None: local
    time), or None when the status says no rate limit is running at ``now``."""
    until = parse_iso(doc.get("rate_limited_until"))
    if not doc.get("rate_limited") or until is None or until <= now:
        return None
    local = datetime.fromtimestamp(until_minute(until), tz)
    when = f"{local:%H:%M}" if until - now < 20 * 3600 else f"{local:%Y-%m-%d %H:%M}"
    reason = str(doc.get("rate_limit_reason") or "too_many_requests")
    return f"rate-limited by Spotify until {when} ({RATE_LIMIT_WORDS.get(reason, reason)})"
