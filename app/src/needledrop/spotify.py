"""The Spotify source: spotipy, the token cache, faults and rate limits.

``SpotifySource.poll(now)`` asks ``GET /me/player?additional_types=episode`` once and returns a
``Playback`` (or None when nothing plays), or raises one of the ``SourceError`` kinds below. It
never sleeps, never retries on its own (the scheduler decides when to ask again), never calls
``input()`` and never opens a browser.

spotipy's defaults are wrong for a display that runs for months under systemd:

- its retry adapter sleeps through a 429's Retry-After (which can be an hour) and then turns
  the 429 into a header-less error; we hand it a plain ``requests.Session`` (no retry adapter)
  so the 429 and its Retry-After reach us;
- without a usable token it asks on stdin for a redirect URL (EOFError under systemd) or opens
  a browser; ``HeadlessOAuth`` raises ``ReauthNeeded`` instead;
- its file cache writes in place with the umask's mode; ``TokenFile`` writes atomically (one
  writer for every file, files.py), 0600, keeps the owner and group of the file it replaces, and
  refuses to touch a file it cannot parse;
- it reads a cache any user may read without a word; ``TokenFile`` sets such a cache to 0600
  (and says so once), or refuses it when it cannot;
- a refreshed token it cannot save (read-only state directory) makes it refresh on every call;
  ``TokenFile`` keeps it in memory, says once why it cannot be saved, and goes on.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import re
import stat
import unicodedata
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import spotipy
from spotipy.cache_handler import CacheHandler
from spotipy.oauth2 import SpotifyOAuth, SpotifyOauthError

from needledrop.config import SpotifyConfig
from needledrop.files import write_json_atomic
from needledrop.state import Item, Playback

log = logging.getLogger(__name__)

SCOPES = ("user-read-currently-playing", "user-read-playback-state")
SCOPE = " ".join(SCOPES)
TOKEN_KEYS = ("access_token", "token_type", "expires_in", "scope", "expires_at", "refresh_token")


# --- what can go wrong --------------------------------------------------------------------------


_URL = re.compile(r"(?i)([a-z0-9+.-]*://[^\s?#]*)[?#]\S*")  # query/fragment: tokens
_TOKENISH = re.compile(r"[A-Za-z0-9_\-]{40,}")  # access/refresh tokens, codes, long ids
_SPOTIPY_URL = re.compile(r"(?is)^\s*https?://\S*?:\s*\n")  # spotipy's "<url>:\n <message>"


def one_line(text: str) -> str:
    """``text`` as one line: control characters and line breaks as single spaces, URLs without
    their query strings (which may hold a token or a code)."""
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    return _URL.sub(r"\1", " ".join(text.split()))


def spotify_said(text: object, limit: int) -> str:
    """What Spotify (through spotipy) put in an error, fit to quote in one of our sentences:
    spotipy's leading URL dropped, one line, token-like runs cut, at most ``limit``
    characters (ending in "…" when cut)."""
    said = one_line(_SPOTIPY_URL.sub("", str(text)))
    said = _TOKENISH.sub("…", said)
    if len(said) > limit:
        said = said[: limit - 1].rstrip() + "…"
    return said


class SourceError(Exception):
    """A poll that produced no observation. ``str()`` is one sentence for the log and screen:
    one line without URL query strings (``one_line``), whatever went into it."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class Offline(SourceError):
    """Transient: network down, DNS, timeout, 5xx, an unexpected answer. Back off and retry;
    keep showing the last known state."""


class RateLimited(SourceError):
    """429: wait ``retry_after`` seconds before the next call. ``quota``: the answer said the
    developer account's quota is spent (``QUOTA_EXCEEDED``; shared by every client id of that
    account, so a whole fleet), not just too many calls in Spotify's rolling window."""

    def __init__(self, message: str, retry_after: float, quota: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.quota = quota


class ReauthNeeded(SourceError):
    """The refresh token is dead (``invalid_grant``) or lacks a scope: a person must sign in
    again. The source keeps watching the cache file for a pushed new token."""


class TokenUnavailable(SourceError):
    """The token cache is missing or cannot be parsed: an operator must provide one."""


class CredentialsRejected(SourceError):
    """The token endpoint rejected the client id/secret (``invalid_client``)."""


class CallLog:
    """Times of calls, to say how many fell in the last hour (status: spotify_calls_last_hour)."""

    def __init__(self, window_s: float = 3600.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self.total = 0

    def record(self, now: float) -> None:
        self._times.append(now)
        self.total += 1

    def count(self, now: float) -> int:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()
        return len(self._times)


# --- the token cache ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    """What status reports about the cached token (never the token itself)."""

    expires_at: int | None
    authorized_at: int | None
    scope: str
    save_error: str | None = None  # why a refreshed token could not be saved (None: saved)


def read_token_file(path: Path) -> dict[str, Any]:
    """Parse a spotipy ``.cache`` file. Raises TokenUnavailable (missing, unreadable, corrupt)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TokenUnavailable(
            f"Spotify token cache {path} is missing; run 'needledrop auth' and copy it here."
        ) from None
    except OSError as e:
        raise TokenUnavailable(
            f"Spotify token cache {path} cannot be read ({e.strerror or e})."
        ) from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise TokenUnavailable(
            f"Spotify token cache {path} is not valid JSON; it was left as it is."
        ) from None
    if not isinstance(data, dict):
        raise TokenUnavailable(f"Spotify token cache {path} is not a JSON object.")
    missing = [k for k in ("access_token", "refresh_token", "expires_at") if k not in data]
    if missing:
        raise TokenUnavailable(
            f"Spotify token cache {path} lacks {', '.join(missing)}; it was left as it is."
        )
    return data


UNSAFE_MODE_BITS = 0o137  # owner execute, group write/execute, anything for other users


def token_file_mode(old: os.stat_result | None) -> int:
    """The mode a rewritten token cache gets: 0640 if it was 0640 (shared read-only with the
    service group on purpose), else 0600."""
    if old is not None and stat.S_IMODE(old.st_mode) == 0o640:
        return 0o640
    return 0o600


def write_token_file(path: Path, token: Mapping[str, Any]) -> None:
    """Write a token atomically (files.write_atomic): the owner and group of the file it
    replaces, mode 0600 (0640 if it was 0640)."""
    try:
        old: os.stat_result | None = os.stat(path)
    except OSError:
        old = None
    write_json_atomic(path, token, token_file_mode(old), compact=True)


def secure_token_file(path: Path) -> None:
    """Make sure no other user can read or change the token cache.

    A cache open to other users (e.g. 0644) is set to 0600 and a warning logged (once: the next
    check finds 0600). When its mode cannot be changed (another owner, a read-only filesystem)
    the cache is refused: TokenUnavailable, naming the fix. A missing file is left to
    ``read_token_file`` to report.
    """
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return
    if not mode & UNSAFE_MODE_BITS:
        return
    try:
        os.chmod(path, 0o600)
    except OSError as e:
        raise TokenUnavailable(
            f"Spotify token cache {path} is open to other users (mode {mode:04o}) and "
            f"needledrop cannot change that ({e.strerror or e}); run: chmod 600 {path}"
        ) from None
    log.warning(
        "Spotify token cache %s was open to other users (mode %04o); set it to 0600", path, mode
    )


def fingerprint(path: Path) -> str | None:
    """A hash of the file's bytes (None if absent): tells a pushed token from the dead one."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class TokenFile(CacheHandler):
    """spotipy cache handler on an explicit path (never the working directory).

    Reads the file on every call, so a token pushed by the fleet is picked up without a
    restart. Keeps ``authorized_at`` (when a person last signed in; the 6-month refresh-token
    clock) across refreshes. Never overwrites a file it cannot parse.

    A refreshed token that cannot be saved (read-only or full state directory) is kept in
    memory and used until it can be saved, or until the file changes (a pushed token wins);
    the reason is logged once. Without this, every poll would refresh again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.unsaved: dict[str, Any] | None = None  # refreshed but not saved
        self.unsaved_over: str | None = None  # fingerprint of the file it supersedes
        self.save_error: str | None = None  # why the last save failed (None: saved)

    def _memory(self) -> dict[str, Any] | None:
        if self.unsaved is None:
            return None
        if fingerprint(self.path) == self.unsaved_over:
            return dict(self.unsaved)
        log.info("token cache %s changed; using it instead of the unsaved token", self.path)
        self.unsaved = self.unsaved_over = None
        return None

    def peek(self) -> dict[str, Any] | None:
        """The token in use (memory or file) without checking the file's mode; None if none."""
        memory = self._memory()
        if memory is not None:
            return memory
        try:
            return read_token_file(self.path)
        except TokenUnavailable:
            return None

    def get_cached_token(self) -> dict[str, Any]:
        memory = self._memory()
        if memory is not None:
            return memory
        secure_token_file(self.path)
        return read_token_file(self.path)

    def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
        token = dict(token_info)
        old = self._memory()
        if old is None and self.path.exists():
            old = read_token_file(self.path)  # raises if unparseable: leave it alone
        if old is not None and "authorized_at" not in token and "authorized_at" in old:
            token["authorized_at"] = old["authorized_at"]
        try:
            write_token_file(self.path, token)
        except OSError as e:
            reason = e.strerror or type(e).__name__
            if reason != self.save_error:
                log.warning(
                    "cannot save the refreshed Spotify token to %s (%s); using it from memory "
                    "until it can be saved (a restart before then refreshes again)",
                    self.path,
                    reason,
                )
            self.save_error = reason
            self.unsaved, self.unsaved_over = token, fingerprint(self.path)
            return
        if self.save_error is not None:
            log.info("saved the Spotify token to %s again", self.path)
        self.save_error = None
        self.unsaved = self.unsaved_over = None


class HeadlessOAuth(SpotifyOAuth):
    """SpotifyOAuth that never prompts: no stdin, no browser. URLs come from the config."""

    def get_auth_response(self, open_browser: bool | None = None) -> str:
        raise ReauthNeeded("No usable Spotify token; a person must sign in again.")

    def _open_auth_url(self) -> None:
        raise ReauthNeeded("No usable Spotify token; a person must sign in again.")

    @staticmethod
    def _get_user_input(prompt: str) -> str:
        raise ReauthNeeded("No usable Spotify token; a person must sign in again.")


def oauth_class(accounts_url: str) -> type[HeadlessOAuth]:
    """HeadlessOAuth aimed at an accounts server (Spotify's, or a loopback fake)."""
    base = accounts_url.rstrip("/")
    return type(
        "ConfiguredOAuth",
        (HeadlessOAuth,),
        {"OAUTH_TOKEN_URL": f"{base}/api/token", "OAUTH_AUTHORIZE_URL": f"{base}/authorize"},
    )


def make_oauth(
    cfg: SpotifyConfig,
    token_path: Path,
    timeout: float,
    session: requests.Session | None = None,
) -> HeadlessOAuth:
    client_id, client_secret = cfg.require_credentials()
    return oauth_class(cfg.accounts_url)(
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=cfg.redirect_uri,
        scope=SCOPE,
        cache_handler=TokenFile(token_path),
        open_browser=False,
        requests_timeout=timeout,
        requests_session=session if session is not None else requests.Session(),
    )


# --- parsing the player ---------------------------------------------------------------------------


def _largest_image(images: Any) -> str | None:
    if not isinstance(images, list) or not images:
        return None
    best = max(
        (i for i in images if isinstance(i, dict) and i.get("url")),
        key=lambda i: (i.get("width") or 0) * (i.get("height") or 0),
        default=None,
    )
    return best["url"] if best else None


def parse_playback(
    data: Mapping[str, Any] | None, observed_at: float, devices: tuple[str, ...] = ()
) -> Playback | None:
    """Turn a ``/me/player`` body into a Playback; None when nothing plays for us.

    None for: 204 (``data`` None), a private session (``item`` null, type not "ad"), and
    playback on a device not in ``devices`` (when given; compared case-insensitively).
    """
    if not data:
        return None
    device = data.get("device") or {}
    device_name = device.get("name") if isinstance(device, dict) else None
    if devices and (device_name or "").casefold() not in {d.casefold() for d in devices}:
        return None
    is_playing = bool(data.get("is_playing"))
    progress = int(data.get("progress_ms") or 0)
    kind = data.get("currently_playing_type")
    raw = data.get("item")
    if kind == "ad":
        item = Item(kind="ad", title="Advertisement", artist="", album="", duration_ms=0)
    elif not isinstance(raw, dict):
        return None
    elif raw.get("type") == "episode":
        show = raw.get("show") or {}
        item = Item(
            kind="episode",
            title=str(raw.get("name") or ""),
            artist=str(show.get("name") or ""),
            album=str(show.get("name") or ""),
            duration_ms=int(raw.get("duration_ms") or 0),
            item_id=raw.get("uri") or raw.get("id"),
            art_url=_largest_image(show.get("images")) or _largest_image(raw.get("images")),
        )
    else:
        is_local = bool(raw.get("is_local"))
        album = raw.get("album") or {}
        artists = raw.get("artists") or []
        item = Item(
            kind="local" if is_local else "track",
            title=str(raw.get("name") or ""),
            artist=", ".join(str(a.get("name")) for a in artists if a.get("name")),
            album=str(album.get("name") or ""),
            duration_ms=int(raw.get("duration_ms") or 0),
            item_id=None if is_local else (raw.get("uri") or raw.get("id")),
            art_url=None if is_local else _largest_image(album.get("images")),
        )
    return Playback(
        item=item,
        is_playing=is_playing,
        progress_ms=progress,
        observed_at=observed_at,
        device_name=device_name,
    )


def retry_after_seconds(headers: Mapping[str, str] | None, now_epoch: float) -> float:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); 5 if absent or odd."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if value is None:
        return 5.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 5.0
    return max(0.0, when.timestamp() - now_epoch)


def is_quota_exceeded(reason: Any, message: Any) -> bool:
    """Whether a 429 says the developer account's quota is spent (``"reason":
    "QUOTA_EXCEEDED"`` in the error body), not just too many calls in the rolling window."""
    if isinstance(reason, str) and reason.strip().upper() == "QUOTA_EXCEEDED":
        return True
    return isinstance(message, str) and "QUOTA_EXCEEDED" in message.upper()


# --- the source ---------------------------------------------------------------------------------


class SpotifySource:
    """One display's view of one Spotify account."""

    def __init__(
        self,
        cfg: SpotifyConfig,
        token_path: Path,
        timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        self.cfg = cfg
        self.token_path = token_path
        self.oauth = make_oauth(cfg, token_path, timeout)
        self.client = spotipy.Spotify(
            auth_manager=self.oauth,
            requests_session=session if session is not None else requests.Session(),
            requests_timeout=timeout,
            retries=0,
            status_retries=0,
        )
        self.client.prefix = cfg.api_url
        self.token_file: TokenFile = self.oauth.cache_handler
        self._dead_token: str | None = None  # fingerprint of a cache whose refresh token died
        self.calls = CallLog()  # Web API calls made (what the developer account's quota counts)

    def close(self) -> None:
        self.client._session.close()
        self.oauth._session.close()

    def token_info(self) -> TokenInfo | None:
        data = self.token_file.peek()
        if data is None:
            return None
        return TokenInfo(
            expires_at=_int_or_none(data.get("expires_at")),
            authorized_at=_int_or_none(data.get("authorized_at")),
            scope=str(data.get("scope") or ""),
            save_error=self.token_file.save_error,
        )

    def poll(self, now: float) -> Playback | None:
        """One observation at ``now`` (the caller's clock), or a SourceError."""
        if self._dead_token is not None:
            if fingerprint(self.token_path) == self._dead_token:
                raise ReauthNeeded(
                    "Spotify refused the refresh token (invalid_grant); sign in again and "
                    "push the new token."
                )
            self._dead_token = None  # the file changed: try the new token
            log.info("token cache %s changed; trying the new token", self.token_path)
        try:
            data = self._current_playback(now, allow_refresh=True)
        except SpotifyOauthError as e:
            raise self._oauth_failure(e) from None
        return parse_playback(data, now, self.cfg.devices)

    def _current_playback(self, now: float, allow_refresh: bool) -> Any:
        self.calls.record(now)
        try:
            return self.client.current_playback(additional_types="episode")
        except spotipy.SpotifyException as e:
            status = e.http_status
            if status == 401 and allow_refresh:
                token = self.token_file.get_cached_token()
                log.info("401 from Spotify; refreshing the access token once")
                try:
                    self.oauth.refresh_access_token(token["refresh_token"])
                except (requests.ConnectionError, requests.Timeout) as ne:
                    raise Offline(
                        f"Cannot reach Spotify's accounts service ({_short(ne)})."
                    ) from None
                return self._current_playback(now, allow_refresh=False)
            if status == 401:
                raise Offline("Spotify rejected a freshly refreshed access token (401).") from None
            if status == 429:
                wait = retry_after_seconds(e.headers, now)
                quota = is_quota_exceeded(e.reason, e.msg)
                why = "the developer account's quota is spent" if quota else "too many requests"
                raise RateLimited(
                    f"Spotify rate limit (429, {why}); not asking again for {wait:.0f} s.",
                    wait,
                    quota=quota,
                ) from None
            if status == 403:
                said = spotify_said(e.msg, 80) or "no reason given"
                raise Offline(f"Spotify refused the request (403): {said}") from None
            raise Offline(f"Spotify answered HTTP {status}.") from None
        except requests.Timeout:
            raise Offline("Spotify did not answer in time.") from None
        except requests.ConnectionError as e:
            raise Offline(f"Cannot reach Spotify ({_short(e)}).") from None
        except requests.RequestException as e:
            raise Offline(f"Request to Spotify failed ({_short(e)}).") from None
        except (AttributeError, TypeError, ValueError) as e:
            # spotipy reads an error body that is JSON but not an object ("0", "[]") this way
            raise Offline(f"Spotify sent an answer spotipy cannot read ({_short(e)}).") from None

    def _oauth_failure(self, e: SpotifyOauthError) -> SourceError:
        error = getattr(e, "error", None)
        if error == "invalid_grant":
            self._dead_token = fingerprint(self.token_path)
            return ReauthNeeded(
                "Spotify refused the refresh token (invalid_grant); sign in again and push "
                "the new token."
            )
        if error == "invalid_client":
            return CredentialsRejected(
                "Spotify rejected the client id/secret (invalid_client); check "
                "SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET."
            )
        said = spotify_said(error, 60) if error else "no answer"
        return Offline(f"Spotify's accounts service failed ({said or 'no answer'}).")


def _int_or_none(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _short(e: BaseException) -> str:
    """The innermost cause of a requests error by name (e.g. NameResolutionError)."""
    seen: set[int] = set()
    inner: BaseException = e
    while id(inner) not in seen:
        seen.add(id(inner))
        reason = getattr(inner.args[0], "reason", None) if inner.args else None
        nxt = reason if isinstance(reason, BaseException) else inner.__cause__ or inner.__context__
        if nxt is None:
            break
        inner = nxt
    return type(inner).__name__
