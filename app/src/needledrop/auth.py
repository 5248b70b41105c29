"""One-time sign-in (authorization-code flow) that writes the token cache the service uses.

Run on a machine with a browser: ``needledrop auth`` listens on the loopback redirect URI
(``http://127.0.0.1:PORT/callback``; Spotify rejects ``localhost`` since November 2025), opens
the authorize page, takes the code from the redirect and writes the spotipy ``.cache`` JSON
(atomically, 0600) with an ``authorized_at`` stamp for the 6-month refresh-token clock.

Headless: ``needledrop auth --paste`` prints the authorize URL; open it anywhere, sign in, and
paste back the URL the browser was sent to (the page itself will not load; its address is
enough).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyOauthError

from needledrop.config import SpotifyConfig, redirect_uri_problem
from needledrop.spotify import SCOPE, oauth_class, write_token_file

PAGE = (
    b"<!doctype html><meta charset=utf-8><title>needledrop</title>"
    b"<p>needledrop: sign-in received. You can close this tab.</p>"
)


class AuthError(Exception):
    """The sign-in did not complete; ``str()`` is one sentence for the user."""


@dataclass(frozen=True)
class AuthResult:
    token_path: Path
    authorized_at: int
    scope: str


@dataclass(frozen=True)
class Redirect:
    """What came back on the redirect URI."""

    code: str | None
    state: str | None
    error: str | None


def parse_redirect(url: str) -> Redirect:
    query = parse_qs(urlsplit(url.strip()).query)

    def one(k: str) -> str | None:
        v = query.get(k)
        return v[0] if v else None

    return Redirect(code=one("code"), state=one("state"), error=one("error"))


def wait_for_redirect(redirect_uri: str, ready: Callable[[], object], timeout_s: float) -> Redirect:
    """Listen on the redirect URI's loopback address until the browser arrives there."""
    parts = urlsplit(redirect_uri)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    received: list[Redirect] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if urlsplit(self.path).path != path:
                self.send_error(404)
                return
            received.append(parse_redirect(self.path))
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    try:
        server = HTTPServer((host, port), Handler)
    except OSError as e:
        raise AuthError(
            f"Cannot listen on {host}:{port} for the redirect ({e.strerror or e}); "
            "free the port, set another SPOTIPY_REDIRECT_URI, or use --paste."
        ) from None
    server.timeout = 0.2
    deadline = time.monotonic() + timeout_s
    try:
        opener = threading.Thread(target=ready, daemon=True)
        opener.start()
        while not received and time.monotonic() < deadline:
            server.handle_request()
    finally:
        server.server_close()
    if not received:
        raise AuthError(f"No sign-in arrived at {redirect_uri} within {timeout_s:.0f} s.")
    return received[0]


def authorize(
    cfg: SpotifyConfig,
    token_path: Path,
    *,
    open_url: Callable[[str], object],
    paste: bool = False,
    read_line: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
    timeout_s: float = 300.0,
    clock: Callable[[], float] = time.time,
) -> AuthResult:
    """Run the authorization-code flow once and write the token cache."""
    client_id, client_secret = cfg.require_credentials()
    problem = redirect_uri_problem(cfg.redirect_uri)
    if problem:
        raise AuthError(f"SPOTIPY_REDIRECT_URI {problem}.")
    state = secrets.token_urlsafe(16)
    memory = MemoryCacheHandler()
    oauth = oauth_class(cfg.accounts_url)(
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=cfg.redirect_uri,
        scope=SCOPE,
        state=state,
        cache_handler=memory,
        open_browser=False,
        requests_session=requests.Session(),
    )
    url = oauth.get_authorize_url(state=state)
    if paste:
        say(f"Open this URL in any browser and sign in:\n\n  {url}\n")
        say("The browser then goes to a page that does not load; copy its address.")
        redirect = parse_redirect(read_line("Paste that address here: "))
    else:
        say(f"Opening the Spotify sign-in page. If no browser opens, visit:\n\n  {url}\n")
        redirect = wait_for_redirect(cfg.redirect_uri, lambda: open_url(url), timeout_s)
    if redirect.error:
        raise AuthError(f"Spotify did not authorize needledrop ({redirect.error}).")
    if redirect.state != state:
        raise AuthError("The redirect's state does not match this sign-in; start again.")
    if not redirect.code:
        raise AuthError("The redirect carries no authorization code; paste the full address.")
    try:
        oauth.get_access_token(code=redirect.code, as_dict=False, check_cache=False)
    except SpotifyOauthError as e:
        raise AuthError(
            f"Spotify refused the authorization code ({getattr(e, 'error', None) or e})."
        ) from None
    except requests.RequestException as e:
        raise AuthError(f"Cannot reach Spotify's accounts service ({type(e).__name__}).") from None
    token = dict(memory.get_cached_token() or {})
    if not token.get("refresh_token"):
        raise AuthError("Spotify's answer carries no refresh token; nothing was written.")
    authorized_at = int(clock())
    token["authorized_at"] = authorized_at
    write_token_file(token_path, token)
    return AuthResult(token_path, authorized_at, str(token.get("scope") or ""))
