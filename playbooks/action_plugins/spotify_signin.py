# Copyright: needledrop contributors
# SPDX-License-Identifier: MIT
"""Sign a Spotify account in once, on the controller (authorization-code flow).

Used by playbooks/reauth.yml. Three steps, each an argument set of this action:

- ``step: url``: a fresh ``state`` and the authorize URL for the account (nothing secret in
  them but the client id, which every authorize URL carries).
- ``step: listen``: prints the URL and listens on the account's loopback redirect URI
  (``http://127.0.0.1:PORT/callback``; over SSH: ``ssh -L PORT:127.0.0.1:PORT controller``)
  until the browser arrives there, checks ``state`` and trades the code for a token.
- ``step: exchange``: the same from a pasted redirected address (``redirected_url``) and the
  ``state`` of an earlier ``step: url``: the fallback when no browser can reach the listener.

``want: token`` (displays) trades the code for the spotipy ``.cache`` token and returns it with
``authorized_at``; ``want: code`` (boards, which trade the one-time CODE themselves) returns the
code untouched. Every failure is one sentence naming the fix; nothing is written anywhere.

PKCE: the fleet's Spotify apps are confidential clients (the displays need the client secret to
refresh), so an intercepted code is useless without the secret; the ``state`` check binds the
answer to this run. PKCE would add nothing Spotify documents for secret-holding clients.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

try:  # the tests import this file without Ansible's plugin loader
    from ansible.plugins.action import ActionBase
    from ansible.utils.display import Display
except ImportError:  # pragma: no cover
    ActionBase = object  # type: ignore[assignment,misc]
    Display = None  # type: ignore[assignment,misc]

SCOPE = "user-read-currently-playing user-read-playback-state"
PAGE_OK = (
    b"<!doctype html><meta charset=utf-8><title>needledrop</title>"
    b"<p>needledrop: sign-in received. You can close this tab and go back to the playbook.</p>"
)
PAGE_BAD = (
    b"<!doctype html><meta charset=utf-8><title>needledrop</title>"
    b"<p>needledrop: this sign-in was not accepted; see the playbook's message.</p>"
)


class SigninError(Exception):
    """One sentence for the user."""


def authorize_url(
    accounts_url: str, client_id: str, redirect_uri: str, state: str, scope: str = SCOPE
) -> str:
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": scope,
            "show_dialog": "true",  # a new sign-in, even when the browser still has a session
        }
    )
    return f"{accounts_url.rstrip('/')}/authorize?{query}"


def parse_redirected(url: str) -> dict[str, str | None]:
    """code, state and error from the address the browser was sent to (or its query)."""
    text = url.strip()
    query = urlsplit(text).query if "?" in text or "://" in text else text
    found = parse_qs(query)
    return {k: (found.get(k) or [None])[0] for k in ("code", "state", "error")}


def check_redirected(got: dict[str, str | None], state: str, account: str) -> str:
    """The code from a redirect, or SigninError saying what went wrong."""
    if got.get("error"):
        why = "you pressed Cancel" if got["error"] == "access_denied" else "see Spotify's page"
        raise SigninError(
            f"Spotify did not authorize account {account} ({got['error']}: {why}); run the "
            "playbook again and press Agree."
        )
    if got.get("state") != state:
        raise SigninError(
            f"The redirect's state does not match this sign-in of account {account} (an old or "
            "someone else's authorize URL); nothing was changed: run the playbook again and use "
            "the URL it prints."
        )
    if not got.get("code"):
        raise SigninError(
            f"The redirect for account {account} carries no code; paste the whole address the "
            "browser was sent to."
        )
    return str(got["code"])


def loopback(redirect_uri: str) -> tuple[str, int, str]:
    parts = urlsplit(redirect_uri)
    host = parts.hostname or ""
    if parts.scheme != "http" or host not in ("127.0.0.1", "::1") or parts.port is None:
        raise SigninError(
            f"The redirect URI {redirect_uri} is not a loopback http://127.0.0.1:PORT/... "
            "address this controller can listen on; use -e reauth_paste=true and paste the "
            "redirected address."
        )
    return host, parts.port, parts.path or "/"


def listen(redirect_uri: str, timeout_s: float, ready: Callable[[], None]) -> dict[str, Any]:
    """Wait on the redirect URI until a browser arrives with ``code`` or ``error``."""
    host, port, path = loopback(redirect_uri)
    got: list[dict[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            if parts.path != path:
                self.send_error(404)
                return
            found = parse_redirected(parts.query)
            if not (found["code"] or found["error"]):
                self.send_error(400, "no code in the redirect")
                return
            got.append(found)
            body = PAGE_OK if found["code"] else PAGE_BAD
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # the request line holds the code

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (HTTPServer,), {"address_family": family})
    try:
        server = server_class((host, port), Handler)
    except OSError as e:
        raise SigninError(
            f"Cannot listen on {host} port {port} for the Spotify redirect "
            f"({e.strerror or e}): stop what uses that port, or use -e reauth_paste=true and "
            "paste the redirected address."
        ) from None
    server.timeout = 0.2
    deadline = time.monotonic() + timeout_s
    try:
        ready()
        while not got and time.monotonic() < deadline:
            server.handle_request()
    finally:
        server.server_close()
    if not got:
        raise SigninError(
            f"No sign-in arrived at {redirect_uri} within {timeout_s:.0f} s; run again (more "
            "time: -e reauth_timeout=600), or use -e reauth_paste=true and paste the address."
        )
    return got[0]


def exchange(
    accounts_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    code: str,
    account: str,
    now: float,
    timeout_s: float = 20.0,
) -> dict[str, Any]:
    """Trade the code for the spotipy ``.cache`` token (with expires_at)."""
    body = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
        }
    ).encode()
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    request = urllib.request.Request(
        f"{accounts_url.rstrip('/')}/api/token",
        data=body,
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310
            raw = answer.read()
    except urllib.error.HTTPError as e:
        try:
            said = json.loads(e.read() or b"{}")
        except ValueError:
            said = {}
        error = said.get("error") if isinstance(said, dict) else None
        if error == "invalid_grant":
            raise SigninError(
                f"Spotify refused the authorization code of account {account} (invalid_grant: "
                "a code works once and for minutes only); nothing was changed: run the playbook "
                "again and sign in anew."
            ) from None
        if error == "invalid_client":
            raise SigninError(
                f"Spotify rejected the client id/secret of account {account} (invalid_client); "
                "check its client_id and client_secret in the vault."
            ) from None
        raise SigninError(
            f"Spotify's token endpoint answered HTTP {e.code} ({error or 'no reason'}) for "
            f"account {account}; nothing was changed."
        ) from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise SigninError(
            f"Cannot reach Spotify's accounts service at {accounts_url} "
            f"({getattr(reason, 'strerror', None) or type(reason).__name__}); nothing was changed."
        ) from None
    try:
        token = json.loads(raw)
    except ValueError:
        token = None
    if not isinstance(token, dict) or not token.get("access_token"):
        raise SigninError(f"Spotify's answer for account {account} holds no access token.")
    if not token.get("refresh_token"):
        raise SigninError(
            f"Spotify's answer for account {account} carries no refresh token; nothing was changed."
        )
    token.setdefault("token_type", "Bearer")
    token["expires_at"] = int(now) + int(token.get("expires_in") or 3600)
    return {
        k: token[k]
        for k in (
            "access_token",
            "token_type",
            "expires_in",
            "scope",
            "expires_at",
            "refresh_token",
        )
        if k in token
    }


class ActionModule(ActionBase):  # type: ignore[misc,valid-type]
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self._task.args
        account = str(args.get("account") or "?")
        step = args.get("step", "listen")
        want = args.get("want", "token")
        accounts_url = str(args.get("accounts_url") or "https://accounts.spotify.com")
        redirect_uri = str(args.get("redirect_uri") or "")
        client_id = str(args.get("client_id") or "")
        result["changed"] = False
        try:
            if not client_id:
                raise SigninError(f"Account {account} has no client_id; check spotify_accounts.")
            if step == "url":
                state = secrets.token_urlsafe(24)
                result.update(
                    state=state,
                    url=authorize_url(
                        accounts_url, client_id, redirect_uri, state, args.get("scope") or SCOPE
                    ),
                )
                return result
            if step == "listen":
                state = secrets.token_urlsafe(24)
                url = authorize_url(
                    accounts_url, client_id, redirect_uri, state, args.get("scope") or SCOPE
                )
                port = urlsplit(redirect_uri).port
                lines = [
                    f"Sign in Spotify account {account}: open this URL in a browser",
                    f"  {url}",
                    f"and agree. This controller listens on {redirect_uri} for "
                    f"{float(args.get('timeout', 300)):.0f} s.",
                    f"On a headless controller: ssh -L {port}:127.0.0.1:{port} to it first, or "
                    "run again with -e reauth_paste=true.",
                ]
                ready = (lambda: Display().display("\n".join(lines))) if Display else (lambda: None)
                got = listen(redirect_uri, float(args.get("timeout", 300)), ready)
            elif step == "exchange":
                state = str(args.get("state") or "")
                got = parse_redirected(str(args.get("redirected_url") or ""))
            else:
                raise SigninError(f"Unknown step {step!r} (url, listen or exchange).")
            code = check_redirected(got, state, account)
            now = time.time()
            if want == "code":
                result.update(code=code, authorized_at=int(now))
                return result
            token = exchange(
                accounts_url,
                client_id,
                str(args.get("client_secret") or ""),
                redirect_uri,
                code,
                account,
                now,
            )
            result.update(
                token=token,
                authorized_at=int(now),
                fingerprint=refresh_fingerprint(token["refresh_token"]),
            )
        except SigninError as e:
            result.update(failed=True, msg=str(e))
        return result


def refresh_fingerprint(refresh_token: str) -> str:
    """The 8 hex digits spotify_credentials prints for a refresh token (never the token)."""
    import hashlib

    return hashlib.sha256(refresh_token.encode()).hexdigest()[:8]
