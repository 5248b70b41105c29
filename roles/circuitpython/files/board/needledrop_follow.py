# SPDX-FileCopyrightText: needledrop contributors
# SPDX-License-Identifier: MIT
"""needledrop's board-side follower: shows what a needledrop display (the account's primary)
sees, without signing in to Spotify and without a Spotify call (docs/sharing.md).

Settings (settings.toml): NEEDLEDROP_FOLLOW_URL (http://HOST:PORT of the primary) and
NEEDLEDROP_SHARE_KEY (the account's key). Each request is signed like the displays' own:
``Authorization: ND1 ts=…,nonce=…,sig=…``, an HMAC-SHA256 over the method, the path, the time
and a random nonce. A board has no clock of its own: it takes the primary's (the ``Date`` header
of any answer, then the ``server_time`` of each good one) and counts from there.

The board draws the panel from its one thread, so it does not hold a long poll open: it asks
with ``wait=0`` every NEEDLEDROP_POLL_SECONDS (2 at least) — a few bytes on the LAN. Like
SpotifyClient, ``poll()`` never raises for anything the network or the primary does; its answer
is a Poll (what to show, and when to ask again). Runs on CircuitPython and on CPython (tests).
"""

import json
import os

try:
    import hashlib
except ImportError:  # a port without hashlib: the adafruit_hashlib library
    import adafruit_hashlib as hashlib

from needledrop_spotify import IDLE, OFFLINE, PAUSED, PLAYING, Poll

SETTING_URL = "NEEDLEDROP_FOLLOW_URL"
SETTING_KEY = "NEEDLEDROP_SHARE_KEY"
PATH = "/v1/now"
ERROR = "error"
MAX_BACKOFF = 60
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _sha256(data):
    return hashlib.sha256(data).digest()


def hmac_sha256_hex(key, message):
    """HMAC-SHA256 (RFC 2104) without the hmac module, which CircuitPython lacks."""
    if len(key) > 64:
        key = _sha256(key)
    key = key + b"\x00" * (64 - len(key))
    inner = _sha256(bytes(k ^ 0x36 for k in key) + message)
    outer = _sha256(bytes(k ^ 0x5C for k in key) + inner)
    return "".join(f"{b:02x}" for b in outer)


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a date (Howard Hinnant's algorithm)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def http_date(value):
    """Seconds since the epoch of an HTTP Date ("Mon, 30 Nov 2026 00:55:01 GMT"), or None."""
    try:
        _, day, month, year, clock, _ = value.split()
        hour, minute, second = (int(p) for p in clock.split(":"))
        days = days_from_civil(int(year), MONTHS.index(month) + 1, int(day))
    except (ValueError, AttributeError):
        return None
    return days * 86400 + hour * 3600 + minute * 60 + second


def nonce(urandom=os.urandom):
    return "".join(f"{b:02x}" for b in urandom(16))


class FollowClient:
    """Polls the primary display. ``poll(now)``: ``now`` is the board's monotonic clock."""

    def __init__(self, session, getenv=os.getenv, log=print, poll_seconds=2, urandom=os.urandom):
        self.session = session
        self.getenv = getenv
        self.log = log
        self.poll_seconds = max(2, int(poll_seconds))
        self.urandom = urandom
        self.offset = None  # the primary's clock minus ours (monotonic); None: not known yet
        self._failures = 0
        self._said = None

    def _setting(self, key):
        value = self.getenv(key)
        return "" if value is None else str(value)

    def _say(self, poll, line=None, always=False):
        key = (poll.state, poll.message)
        if always or key != self._said:
            self._said = key
            self.log("needledrop: " + (line or poll.message or poll.state))
        return poll

    def _backoff(self, state, why):
        self._failures += 1
        wait = min(MAX_BACKOFF, self.poll_seconds * (2 ** min(self._failures - 1, 5)))
        message = "no primary" if state == OFFLINE else "primary error"
        return self._say(
            Poll(state, wait, message), f"{message} ({why}), next try in {wait}s", True
        )

    def network_lost(self, err):
        return self._backoff(OFFLINE, f"{err}")

    def _request(self, now):
        url = self._setting(SETTING_URL).rstrip("/")
        key = self._setting(SETTING_KEY).encode("utf-8")
        target = PATH + "?wait=0"
        ts = int(now + (self.offset or 0))
        once = nonce(self.urandom)
        sig = hmac_sha256_hex(key, f"GET\n{target}\n{ts}\n{once}".encode())
        header = f"ND1 ts={ts},nonce={once},sig={sig}"
        return self.session.get(url + target, headers={"Authorization": header})

    def poll(self, now):
        if not self._setting(SETTING_URL) or len(self._setting(SETTING_KEY)) < 16:
            return self._say(
                Poll(ERROR, 60, "settings?"),
                "NEEDLEDROP_FOLLOW_URL and NEEDLEDROP_SHARE_KEY (16+ characters) must be set "
                "in settings.toml (run the playbook)",
            )
        try:
            return self._poll(now)
        except (OSError, RuntimeError) as err:
            return self._backoff(OFFLINE, f"{type(err).__name__}: {err}")
        except (ValueError, KeyError, TypeError) as err:
            return self._backoff(ERROR, f"{type(err).__name__}: {err}")

    def _poll(self, now):
        for attempt in (1, 2):
            response = self._request(now)
            try:
                status = response.status_code
                told = http_date(response.headers.get("date", ""))
                body = response.content if status == 200 else b""
            finally:
                response.close()
            if status == 401 and attempt == 1 and told is not None:
                known = self.offset
                self.offset = told - now
                if known is None or abs(known - self.offset) > 30:
                    continue  # our clock was off: ask once more with the primary's
            if status == 401:
                return self._say(
                    Poll(ERROR, 60, "wrong key"),
                    "the primary refused this board's key (401); check NEEDLEDROP_SHARE_KEY",
                )
            if status != 200:
                return self._backoff(ERROR, f"the primary answered {status}")
            doc = json.loads(body)
            self.offset = float(doc["server_time"]) - now
            self._failures = 0
            return self._shown(doc, float(doc["server_time"]))
        return self._backoff(ERROR, "no answer")

    def _shown(self, doc, server_time):
        pb = doc.get("playback")
        item = pb.get("item") if pb else None
        if not item or item.get("kind") == "ad":
            return self._say(Poll(IDLE, self.poll_seconds, "nothing playing"))
        playing = bool(pb.get("is_playing"))
        progress = int(pb.get("progress_ms") or 0)
        if playing:
            progress += int(max(0.0, server_time - float(pb["observed_at"])) * 1000)
        track = {
            "title": item.get("title") or "",
            "artist": item.get("artist") or "",
            "progress_ms": min(progress, int(item.get("duration_ms") or 0)),
            "duration_ms": int(item.get("duration_ms") or 0),
            "is_playing": playing,
        }
        if not playing:
            return self._say(Poll(PAUSED, self.poll_seconds, "paused", track))
        poll = Poll(PLAYING, self.poll_seconds, track["title"], track)
        return self._say(poll, "playing: {} - {}".format(track["artist"], track["title"]))
