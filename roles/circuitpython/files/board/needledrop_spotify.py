# SPDX-FileCopyrightText: needledrop contributors
# SPDX-License-Identifier: MIT
"""needledrop's board-side Spotify client: what plays now, for a CircuitPython board.

Written onto the board by the needledrop playbook (display mode); runs on CircuitPython 8.2.1,
8.2.5 and later, and on CPython for the tests. It reads the same settings.toml keys as
CircuitSpotify (CIRCUITSPOTIFY_CLIENT_ID, _CLIENT_SECRET, _REDIRECT_URL, _CODE) and uses the same
one-time CODE flow, so a board set up for one works with the other, and:

* exchanges the CODE on first boot and keeps the tokens in NVM, length-prefixed, with a
  checksum and a fingerprint of the CODE they came from: a new CODE in settings.toml replaces
  them; tokens of any length fit;
* refreshes the access token on any 401, once per poll;
* treats 204 / no item as "nothing playing", waits out 429 Retry-After, backs off on network
  loss and server errors;
* on ``invalid_grant`` (revoked token, used or wrong CODE) says "re-auth needed" and stops
  calling Spotify until settings.toml holds a new CODE: no crash loop, no hammering.

It never raises out of ``poll()`` for anything Spotify or the network does.
"""

import json
import os

TOKEN_URL = "https://accounts.spotify.com/api/token"
PLAYING_URL = "https://api.spotify.com/v1/me/player/currently-playing?additional_types=episode"

SETTING_CLIENT_ID = "CIRCUITSPOTIFY_CLIENT_ID"
SETTING_CLIENT_SECRET = "CIRCUITSPOTIFY_CLIENT_SECRET"
SETTING_REDIRECT_URL = "CIRCUITSPOTIFY_REDIRECT_URL"
SETTING_CODE = "CIRCUITSPOTIFY_CODE"

# Where CircuitSpotify keeps its tokens: nvm[0:208] access token, nvm[208:339] refresh token.
LEGACY_REFRESH_SLOT = (208, 339)

PLAYING = "playing"
PAUSED = "paused"
IDLE = "idle"
REAUTH = "reauth"
AUTHORIZE = "authorize"
OFFLINE = "offline"
ERROR = "error"

MAX_BACKOFF = 300


def fnv1a(data):
    """32-bit FNV-1a: a small fingerprint that needs no hashlib on the board."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"


def quote(text):
    """Percent-encode a form value (CircuitPython has no urllib)."""
    out = []
    for byte in str(text).encode("utf-8"):
        if byte in _UNRESERVED:
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def _u16(value):
    return bytes(((value >> 8) & 0xFF, value & 0xFF))


def _u32(value):
    return bytes(((value >> 24) & 0xFF, (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF))


def _read_u(data, offset, size):
    value = 0
    for index in range(size):
        value = (value << 8) | data[offset + index]
    return value


class TokenStore:
    """Tokens in NVM: ``NDT1``, flags, CODE fingerprint, length-prefixed tokens, checksum.

    Layout: magic (4) | flags (1: bit 0 = re-auth needed) | fnv1a(CODE) (4) |
    len (2) access | len (2) refresh | fnv1a of all before (4). Written with one slice
    assignment of exactly its own length (what microcontroller.nvm allows).
    """

    MAGIC = b"NDT1"

    def __init__(self, nvm):
        self.nvm = nvm

    def load(self):
        """The stored record as a dict, or None when there is none (or it is damaged)."""
        nvm = self.nvm
        try:
            if bytes(nvm[0:4]) != self.MAGIC:
                return None
            head = bytes(nvm[0:11])
            access_len = _read_u(head, 9, 2)
            refresh_at = 11 + access_len
            if refresh_at + 2 > len(nvm):
                return None
            refresh_len = _read_u(bytes(nvm[refresh_at : refresh_at + 2]), 0, 2)
            end = refresh_at + 2 + refresh_len
            if end + 4 > len(nvm):
                return None
            body = bytes(nvm[0:end])
            if _read_u(bytes(nvm[end : end + 4]), 0, 4) != fnv1a(body):
                return None
            return {
                "reauth": bool(body[4] & 1),
                "code_mark": _read_u(body, 5, 4),
                "access": body[11:refresh_at].decode("utf-8"),
                "refresh": body[refresh_at + 2 : end].decode("utf-8"),
            }
        except (ValueError, IndexError, UnicodeError):
            return None

    def save(self, access, refresh, code, reauth=False):
        access_b = access.encode("utf-8")
        refresh_b = refresh.encode("utf-8")
        body = (
            self.MAGIC
            + bytes((1 if reauth else 0,))
            + _u32(fnv1a(code.encode("utf-8")))
            + _u16(len(access_b))
            + access_b
            + _u16(len(refresh_b))
            + refresh_b
        )
        record = body + _u32(fnv1a(body))
        if len(record) > len(self.nvm):
            raise ValueError(f"tokens too long for NVM ({len(record)} of {len(self.nvm)} bytes)")
        self.nvm[0 : len(record)] = record

    def legacy_refresh_token(self):
        """A refresh token CircuitSpotify left in its fixed slot, or None."""
        start, end = LEGACY_REFRESH_SLOT
        if len(self.nvm) < end:
            return None
        raw = bytes(self.nvm[start:end])
        allowed = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        if all(byte in allowed for byte in raw):
            return raw.decode("ascii")
        return None

    def clear_legacy(self):
        """Wipe CircuitSpotify's refresh token slot (its token was refused)."""
        start, end = LEGACY_REFRESH_SLOT
        if len(self.nvm) >= end:
            self.nvm[start:end] = b"\xff" * (end - start)


class Poll:
    """What to show after one poll, and when to poll again."""

    def __init__(self, state, retry_in, message="", track=None):
        self.state = state
        self.retry_in = retry_in
        self.message = message
        self.track = track  # dict: title, artist, progress_ms, duration_ms, is_playing

    def __repr__(self):
        return f"Poll({self.state}, retry_in={self.retry_in}, {self.message!r})"


class SpotifyClient:
    """Polls Spotify's currently-playing endpoint. ``poll(now)`` never raises for Spotify's or
    the network's faults; its answer says what to show and how long to wait."""

    def __init__(self, session, store, getenv=os.getenv, log=print, poll_seconds=5):
        self.session = session
        self.store = store
        self.getenv = getenv
        self.log = log
        self.poll_seconds = max(2, int(poll_seconds))
        self._record = store.load()
        self._failures = 0
        self._said = None
        if self._record is None:
            legacy = store.legacy_refresh_token()
            if legacy:
                # A board that ran CircuitSpotify: keep its refresh token, drop the access token.
                self._record = {
                    "reauth": False,
                    "code_mark": self._code_mark(),
                    "access": "",
                    "refresh": legacy,
                    "legacy": True,
                }
                self.log("needledrop: using the refresh token CircuitSpotify stored")

    # --- settings -----------------------------------------------------------------------------

    def _setting(self, key):
        value = self.getenv(key)
        return "" if value is None else str(value)

    def _code_mark(self):
        return fnv1a(self._setting(SETTING_CODE).encode("utf-8"))

    def _redirect_uri(self):
        value = self._setting(SETTING_REDIRECT_URL)
        # settings.toml holds it URL-encoded (as CircuitSpotify wants); encode a plain one.
        return quote(value) if "://" in value else value

    # --- tokens -------------------------------------------------------------------------------

    def _token_request(self, fields):
        body = "&".join(key + "=" + value for key, value in fields)
        body += "&client_id=" + quote(self._setting(SETTING_CLIENT_ID))
        body += "&client_secret=" + quote(self._setting(SETTING_CLIENT_SECRET))
        response = self.session.post(
            TOKEN_URL,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            status = response.status_code
            try:
                data = json.loads(response.content or b"{}")
            except ValueError:
                data = {}
        finally:
            response.close()
        return status, data

    def _save(self, access, refresh, reauth=False):
        code = self._setting(SETTING_CODE)
        self._record = {
            "reauth": reauth,
            "code_mark": fnv1a(code.encode("utf-8")),
            "access": access,
            "refresh": refresh,
        }
        try:
            self.store.save(access, refresh, code, reauth)
        except ValueError as err:
            self.log(f"needledrop: tokens kept in RAM only: {err}")

    def _need_reauth(self, why):
        self._save("", "", reauth=True)
        return self._say(
            Poll(REAUTH, 60, "re-auth needed"),
            "re-auth needed: "
            + why
            + " Put a new CIRCUITSPOTIFY_CODE into settings.toml (run the playbook).",
        )

    def _exchange_code(self):
        status, data = self._token_request(
            (
                ("grant_type", "authorization_code"),
                ("code", quote(self._setting(SETTING_CODE))),
                ("redirect_uri", self._redirect_uri()),
            )
        )
        if status == 200 and data.get("access_token") and data.get("refresh_token"):
            self._save(data["access_token"], data["refresh_token"])
            self.log("needledrop: authorization code exchanged, tokens stored")
            return None
        if data.get("error") in ("invalid_grant", "invalid_client", "invalid_request"):
            return self._need_reauth(
                "the authorization code was refused ({}).".format(data.get("error"))
            )
        return self._backoff(ERROR, f"token endpoint answered {status}")

    def _refresh(self):
        status, data = self._token_request(
            (
                ("grant_type", "refresh_token"),
                ("refresh_token", quote(self._record["refresh"])),
            )
        )
        if status == 200 and data.get("access_token"):
            self._save(
                data["access_token"],
                data.get("refresh_token") or self._record["refresh"],
            )
            return None
        if data.get("error") in ("invalid_grant", "invalid_client"):
            if self._record.get("legacy") and self._setting(SETTING_CODE):
                # Re-authorized since CircuitSpotify ran: its revoked token must not shadow the
                # new CODE, nor come back at the next start.
                self.store.clear_legacy()
                self._record = None
                self.log(
                    "needledrop: the refresh token CircuitSpotify stored was refused; "
                    "trading CIRCUITSPOTIFY_CODE instead"
                )
                return self._exchange_code()
            return self._need_reauth(
                "Spotify refused the refresh token ({}).".format(data.get("error"))
            )
        if status == 429:
            return self._rate_limited(None)
        return self._backoff(ERROR, f"token refresh answered {status}")

    # --- results ------------------------------------------------------------------------------

    def _say(self, poll, line=None, always=False):
        """Log a line on the serial console when what the board shows changes."""
        key = (poll.state, poll.message)
        if always or key != self._said:
            self._said = key
            self.log("needledrop: " + (line or poll.message or poll.state))
        return poll

    def _backoff(self, state, why):
        self._failures += 1
        wait = min(MAX_BACKOFF, 5 * (2 ** min(self._failures - 1, 8)))
        message = "no network" if state == OFFLINE else "spotify error"
        return self._say(
            Poll(state, wait, message),
            f"{message} ({why}), next try in {wait}s",
            always=True,
        )

    def _rate_limited(self, response):
        wait = 30
        if response is not None:
            try:
                wait = max(1, int(response.headers.get("retry-after", "30")))
            except ValueError:
                wait = 30
        return self._say(
            Poll(self._last_state(), wait, "rate limited"),
            f"rate limited, waiting {wait}s",
        )

    def _last_state(self):
        return self._said[0] if self._said and self._said[0] in (PLAYING, PAUSED, IDLE) else IDLE

    def network_lost(self, err):
        """What to show when Wi-Fi could not be joined."""
        return self._backoff(OFFLINE, f"{err}")

    # --- the poll -----------------------------------------------------------------------------

    def poll(self, now=None):
        try:
            return self._poll()
        except (OSError, RuntimeError) as err:
            # Sockets, DNS, TLS, a dropped connection: adafruit_requests raises these.
            return self._backoff(OFFLINE, f"{type(err).__name__}: {err}")
        except (ValueError, KeyError, TypeError) as err:
            return self._backoff(ERROR, f"{type(err).__name__}: {err}")

    def _poll(self):
        code = self._setting(SETTING_CODE)
        record = self._record
        if record is not None and code and record["code_mark"] != fnv1a(code.encode("utf-8")):
            self.log(
                "needledrop: a new authorization code in settings.toml replaces the stored tokens"
            )
            record = self._record = None
        if record is not None and record["reauth"]:
            return self._say(
                Poll(REAUTH, 60, "re-auth needed"),
                "re-auth needed: put a new CIRCUITSPOTIFY_CODE into settings.toml",
            )
        if record is None or not record["refresh"]:
            if not code:
                return self._say(
                    Poll(AUTHORIZE, 60, "authorize me"),
                    "no CIRCUITSPOTIFY_CODE in settings.toml: run the playbook and open "
                    "the authorization URL it prints",
                )
            failed = self._exchange_code()
            if failed is not None:
                return failed
        if not self._record["access"]:
            failed = self._refresh()
            if failed is not None:
                return failed
        for attempt in (1, 2):
            response = self.session.get(
                PLAYING_URL,
                headers={"Authorization": "Bearer " + self._record["access"]},
            )
            try:
                status = response.status_code
                if status == 401 and attempt == 1:
                    pass
                elif status == 429:
                    return self._rate_limited(response)
                elif status == 204:
                    self._failures = 0
                    return self._say(Poll(IDLE, max(30, self.poll_seconds), "nothing playing"))
                elif status == 200:
                    body = response.content
                    self._failures = 0
                    return self._playing(json.loads(body) if body else None)
                else:
                    return self._backoff(ERROR, f"currently-playing answered {status}")
            finally:
                response.close()
            failed = self._refresh()
            if failed is not None:
                return failed
        return self._backoff(ERROR, "access token refused after refresh")

    def _playing(self, data):
        item = data.get("item") if data else None
        if not item:
            return self._say(Poll(IDLE, max(30, self.poll_seconds), "nothing playing"))
        if item.get("type") == "episode":
            artist = (item.get("show") or {}).get("name", "")
        else:
            artist = ", ".join(a.get("name", "") for a in item.get("artists") or [])
        track = {
            "title": item.get("name") or "",
            "artist": artist,
            "progress_ms": int(data.get("progress_ms") or 0),
            "duration_ms": int(item.get("duration_ms") or 0),
            "is_playing": bool(data.get("is_playing")),
        }
        if not track["is_playing"]:
            return self._say(Poll(PAUSED, max(15, self.poll_seconds), "paused", track))
        remaining = (track["duration_ms"] - track["progress_ms"]) / 1000
        wait = self.poll_seconds
        if 0 < remaining + 1 < wait:
            wait = max(2, remaining + 1)
        poll = Poll(PLAYING, wait, track["title"], track)
        return self._say(poll, "playing: {} - {}".format(track["artist"], track["title"]))
