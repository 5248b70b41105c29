"""A fake Spotify on loopback: accounts (authorize + token) and the Web API's player endpoints.

A real HTTP server (ThreadingHTTPServer on 127.0.0.1, port 0), one per test, scriptable and
recording every call. Point real spotipy at it::

    with FakeSpotify() as fake:
        fake.player = fake_track(progress_ms=1000)
        sp = spotipy.Spotify(auth_manager=..., requests_session=requests.Session())
        sp.prefix = fake.api_url                  # "http://127.0.0.1:PORT/v1/"
        # auth manager: subclass with OAUTH_TOKEN_URL = fake.token_url

What it serves:

- ``GET /v1/me/player`` and ``GET /v1/me/player/currently-playing``: ``fake.player`` (a
  JSON-able dict in Spotify's shape, ``None`` for 204 No Content, or a callable returning
  either; ``currently-playing`` drops the ``device`` key). Needs ``Authorization: Bearer`` with
  an access token this server issued and has not revoked (else 401), unless
  ``fake.check_access_token`` is False.
- ``POST /api/token``: ``grant_type=refresh_token`` (known refresh token → new access token;
  unknown or revoked → 400 ``invalid_grant``; ``fake.rotate_refresh_tokens`` decides whether the
  answer carries a new refresh token) and ``grant_type=authorization_code`` (a code issued by
  ``/authorize`` with the same redirect_uri). Client id/secret checked from HTTP Basic or form.
- ``GET /authorize``: approves at once and answers 302 to ``redirect_uri?code=…&state=…`` (or
  ``?error=access_denied`` when ``fake.deny_authorization`` is set).
- ``GET /img/<name>``: bytes from ``fake.images[name]`` (404 otherwise).

Scripting faults: ``fake.script("player", Reply(429, headers={"Retry-After": "7"}))`` queues
one-shot replies for a route ("player", "token", "image"), used before the normal behaviour;
``Reply(delay_s=…)`` answers late (client timeouts), ``Reply(drop=True)`` closes the connection
without an answer. ``rate_limited(3600, quota=True)`` is the 429 Spotify sends when the developer
account's quota is spent (``Retry-After`` and ``"reason": "QUOTA_EXCEEDED"``).

TLS: pass an ``ssl.SSLContext`` (server side) and the socket is wrapped; URLs become https.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

PlayerState = dict[str, Any] | None

SCOPES = "user-read-currently-playing user-read-playback-state"


@dataclass
class Reply:
    """One scripted answer. ``body`` dicts are sent as JSON."""

    status: int = 200
    body: dict[str, Any] | bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # answer this late (the client's timeout fires first if shorter)
    drop: bool = False  # close the connection without answering


@dataclass(frozen=True)
class Call:
    """One request the server received."""

    at: float  # time.monotonic() on arrival
    method: str
    route: str  # "player", "currently-playing", "token", "authorize", "image", "unknown"
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    headers: dict[str, str]
    status: int  # what was answered (0 for dropped)


@dataclass
class _Grant:
    refresh_token: str
    scope: str


class FakeSpotify:
    """The server and its scriptable state. Start with ``with`` or ``start()``/``stop()``."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.ssl_context = ssl_context
        self.host, self.requested_port = host, port  # the demo serves on its own network
        self.client_id = client_id
        self.client_secret = client_secret
        self.player: PlayerState | Callable[[], PlayerState] = None
        self.images: dict[str, bytes] = {}
        self.calls: list[Call] = []
        self.check_access_token = True
        self.rotate_refresh_tokens = False
        self.deny_authorization = False
        self.expires_in = 3600
        self.access_tokens: set[str] = set()
        self.refresh_tokens: dict[str, _Grant] = {}  # valid refresh tokens
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (redirect_uri, scope)
        self._queues: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        server = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/v1/"

    @property
    def token_url(self) -> str:
        return self.url + "/api/token"

    @property
    def authorize_url(self) -> str:
        return self.url + "/authorize"

    def image_url(self, name: str) -> str:
        return f"{self.url}/img/{name}"

    # --- scripting ---------------------------------------------------------------------------

    def script(self, route: str, *replies: Reply) -> None:
        """Queue one-shot replies for a route: "player" (both player endpoints), "token",
        "image"."""
        with self._lock:
            self._queues.setdefault(route, deque()).extend(replies)

    def _next_scripted(self, route: str) -> Reply | None:
        with self._lock:
            q = self._queues.get(route)
            return q.popleft() if q else None

    def pending(self, route: str) -> int:
        with self._lock:
            return len(self._queues.get(route, ()))

    def grant(self, scope: str = SCOPES) -> dict[str, Any]:
        """Issue a fresh access + refresh token pair, as a spotipy ``.cache`` dict."""
        access, refresh = "at-" + secrets.token_hex(8), "rt-" + secrets.token_hex(8)
        with self._lock:
            self.access_tokens.add(access)
            self.refresh_tokens[refresh] = _Grant(refresh, scope)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": scope,
            "expires_at": int(time.time()) + self.expires_in,
            "refresh_token": refresh,
        }

    def revoke(self, refresh_token: str | None = None) -> None:
        """Forget one refresh token (or all) and every access token: the next refresh gets
        ``invalid_grant``, the next API call a 401."""
        with self._lock:
            if refresh_token is None:
                self.refresh_tokens.clear()
            else:
                self.refresh_tokens.pop(refresh_token, None)
            self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        """Access tokens stop working (401) while refresh tokens stay valid."""
        with self._lock:
            self.access_tokens.clear()

    def calls_to(self, route: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.route == route]

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeSpotify
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle + delayed ACK add
        # ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # --- plumbing ----------------------------------------------------------------------------

    def _send(self, route: str, reply: Reply, query: dict, form: dict) -> None:
        fake = self.server_fake
        fake._record(
            Call(
                at=time.monotonic(),
                method=self.command,
                route=route,
                path=urlsplit(self.path).path,
                query=query,
                form=form,
                headers={k.lower(): v for k, v in self.headers.items()},
                status=0 if reply.drop else reply.status,
            )
        )
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        body = reply.body
        headers = dict(reply.headers)
        if isinstance(body, dict):
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode()
            headers.setdefault("Content-Type", "text/plain")
        else:
            data = body or b""
        try:
            self.send_response(reply.status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_form(self) -> dict[str, list[str]]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        return parse_qs(raw)

    # --- routes ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        fake = self.server_fake
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        path = parts.path
        if path in ("/v1/me/player", "/v1/me/player/currently-playing"):
            route = "player" if path.endswith("/player") else "currently-playing"
            self._send(route, self._player(path), query, {})
        elif path == "/authorize":
            self._send("authorize", self._authorize(query), query, {})
        elif path.startswith("/img/"):
            scripted = fake._next_scripted("image")
            if scripted is None:
                img = fake.images.get(path[len("/img/") :])
                scripted = (
                    Reply(200, img, {"Content-Type": "image/jpeg"})
                    if img is not None
                    else Reply(404, {"error": {"status": 404, "message": "no such image"}})
                )
            self._send("image", scripted, query, {})
        else:
            self._send("unknown", Reply(404, {"error": {"status": 404}}), query, {})

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        form = self._read_form()
        if parts.path == "/api/token":
            self._send("token", self._token(form), parse_qs(parts.query), form)
        else:
            self._send("unknown", Reply(404, {"error": "not found"}), {}, form)

    def _player(self, path: str) -> Reply:
        fake = self.server_fake
        scripted = fake._next_scripted("player")
        if scripted is not None:
            return scripted
        if fake.check_access_token:
            auth = self.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ").strip()
            with fake._lock:
                valid = token in fake.access_tokens
            if not valid:
                return Reply(
                    401,
                    {"error": {"status": 401, "message": "The access token expired"}},
                )
        state = fake.player() if callable(fake.player) else fake.player
        if state is None:
            return Reply(204)
        if path.endswith("currently-playing"):
            state = {k: v for k, v in state.items() if k != "device"}
        return Reply(200, state)

    def _client_ok(self, form: dict[str, list[str]]) -> bool:
        fake = self.server_fake
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return False
        else:
            cid = (form.get("client_id") or [""])[0]
            secret = (form.get("client_secret") or [""])[0]
        return cid == fake.client_id and secret == fake.client_secret

    def _token(self, form: dict[str, list[str]]) -> Reply:
        fake = self.server_fake
        scripted = fake._next_scripted("token")
        if scripted is not None:
            return scripted
        if not self._client_ok(form):
            return Reply(400, {"error": "invalid_client", "error_description": "Invalid client"})
        grant_type = (form.get("grant_type") or [""])[0]
        if grant_type == "refresh_token":
            rt = (form.get("refresh_token") or [""])[0]
            with fake._lock:
                grant = fake.refresh_tokens.get(rt)
            if grant is None:
                return Reply(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "Refresh token revoked",
                    },
                )
            return Reply(200, self._issue(grant.scope, old_refresh=rt))
        if grant_type == "authorization_code":
            code = (form.get("code") or [""])[0]
            redirect = (form.get("redirect_uri") or [""])[0]
            with fake._lock:
                issued = fake.codes.pop(code, None)
            if issued is None or issued[0] != redirect:
                return Reply(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "Invalid authorization code",
                    },
                )
            return Reply(200, self._issue(issued[1], old_refresh=None))
        return Reply(400, {"error": "unsupported_grant_type"})

    def _issue(self, scope: str, old_refresh: str | None) -> dict[str, Any]:
        fake = self.server_fake
        access = "at-" + secrets.token_hex(8)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": fake.expires_in,
            "scope": scope,
        }
        with fake._lock:
            fake.access_tokens.add(access)
            if old_refresh is None or fake.rotate_refresh_tokens:
                new_rt = "rt-" + secrets.token_hex(8)
                fake.refresh_tokens[new_rt] = _Grant(new_rt, scope)
                if old_refresh is not None:
                    fake.refresh_tokens.pop(old_refresh, None)
                body["refresh_token"] = new_rt
        return body

    def _authorize(self, query: dict[str, list[str]]) -> Reply:
        fake = self.server_fake
        redirect = (query.get("redirect_uri") or [""])[0]
        state = (query.get("state") or [None])[0]
        if (query.get("client_id") or [""])[0] != fake.client_id or not redirect:
            return Reply(400, "INVALID_CLIENT: Invalid client")
        if urlsplit(redirect).hostname == "localhost":
            return Reply(400, "INVALID_CLIENT: Insecure redirect URI")
        params: dict[str, str]
        if fake.deny_authorization:
            params = {"error": "access_denied"}
        else:
            code = "code-" + secrets.token_hex(8)
            scope = " ".join((query.get("scope") or [SCOPES])[0].split())
            with fake._lock:
                fake.codes[code] = (redirect, scope)
            params = {"code": code}
        if state is not None:
            params["state"] = state
        return Reply(302, b"", {"Location": f"{redirect}?{urlencode(params)}"})


# --- Spotify-shaped payloads ----------------------------------------------------------------


def _images(base: str | None, sizes: tuple[int, ...] = (640, 300, 64)) -> list[dict[str, Any]]:
    if base is None:
        return []
    return [{"url": f"{base}?s={s}", "width": s, "height": s} for s in sizes]


def _player(
    kind: str,
    item: dict[str, Any] | None,
    device: str,
    progress_ms: int,
    is_playing: bool,
    **extra: Any,
) -> dict[str, Any]:
    """The ``GET /me/player`` envelope around an item (or none)."""
    return {
        "device": {"name": device, "type": "Speaker", "is_active": True, "volume_percent": 50},
        "timestamp": int(time.time() * 1000),
        "progress_ms": progress_ms,
        "is_playing": is_playing,
        "currently_playing_type": kind,
        "item": item,
        **extra,
    }


def fake_track(
    title: str = "Windowlicker",
    artists: tuple[str, ...] = ("Aphex Twin",),
    album: str = "Windowlicker",
    duration_ms: int = 366_000,
    progress_ms: int = 0,
    is_playing: bool = True,
    track_id: str = "6tdp8sdXrXlPV6AZZN2PE8",
    image_url: str | None = "http://127.0.0.1:9/img/cover.jpg",
    device: str = "Kitchen",
    is_local: bool = False,
) -> dict[str, Any]:
    """A ``GET /me/player`` body for a track (``is_local``: a local file, no id, no images)."""
    item: dict[str, Any] = {
        "type": "track",
        "name": title,
        "duration_ms": duration_ms,
        "is_local": is_local,
        "id": None if is_local else track_id,
        "uri": f"spotify:local:{title}" if is_local else f"spotify:track:{track_id}",
        "artists": [{"name": a, "type": "artist"} for a in artists],
        "album": {
            "name": album,
            "type": "album",
            "images": [] if is_local else _images(image_url),
        },
    }
    return _player(
        "track", item, device, progress_ms, is_playing, shuffle_state=False, repeat_state="off"
    )


def fake_episode(
    title: str = "The Loudness War",
    show: str = "Twenty Thousand Hertz",
    duration_ms: int = 1_800_000,
    progress_ms: int = 60_000,
    is_playing: bool = True,
    episode_id: str = "4rOoJ6Egrf8K2IrywzwOMk",
    show_image_url: str | None = "http://127.0.0.1:9/img/show.jpg",
    episode_image_url: str | None = "http://127.0.0.1:9/img/episode.jpg",
    device: str = "Kitchen",
) -> dict[str, Any]:
    """A ``GET /me/player?additional_types=episode`` body for a podcast episode."""
    item = {
        "type": "episode",
        "name": title,
        "duration_ms": duration_ms,
        "id": episode_id,
        "uri": f"spotify:episode:{episode_id}",
        "images": _images(episode_image_url),
        "show": {
            "name": show,
            "publisher": show,
            "type": "show",
            "images": _images(show_image_url),
        },
    }
    return _player("episode", item, device, progress_ms, is_playing)


def fake_ad(progress_ms: int = 5_000, device: str = "Kitchen") -> dict[str, Any]:
    """What the API sends during an ad: no item."""
    return _player("ad", None, device, progress_ms, True)


def fake_private_session(device: str = "Kitchen") -> dict[str, Any]:
    """Some clients answer 200 with ``item: null`` and type "unknown" in a private session."""
    return _player("unknown", None, device, 0, True)


def rate_limited(retry_after: int | str = 5, quota: bool = False) -> Reply:
    """A 429 with ``Retry-After`` (seconds or an HTTP date). ``quota``: the developer account's
    quota is spent (``"reason": "QUOTA_EXCEEDED"``; since July 2026 counted across all of that
    account's client ids), else the rolling 30-second window is full."""
    error: dict[str, Any] = {"status": 429, "message": "API rate limit exceeded"}
    if quota:
        error = {"status": 429, "message": "Quota exceeded", "reason": "QUOTA_EXCEEDED"}
    return Reply(429, {"error": error}, {"Retry-After": str(retry_after)})
