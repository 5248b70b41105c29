# Copyright: needledrop contributors
# SPDX-License-Identifier: MIT
"""Check and normalise one display's Spotify account before anything is written.

``spotify_accounts | spotify_credentials_account(name, now)`` returns a dict:
``problems`` (sentences naming the variable and the fix, never a secret) and, when there are
none, ``account`` (client id/secret, redirect URI, the token as a dict with ``authorized_at``
in epoch seconds) ready for the env file and the token seed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

DEFAULT_REDIRECT = "http://127.0.0.1:8888/callback"
# What the app needs in the cache (needledrop.spotify.read_token_file).
TOKEN_KEYS = ("access_token", "refresh_token", "expires_at")
# Refresh tokens die 6 months after the sign-in, whatever refreshes happen (Spotify, 2026).
REFRESH_TOKEN_LIFETIME_S = 182 * 86400
# A systemd EnvironmentFile value written unquoted: no blanks, quotes, backslashes or $.
ENV_SAFE = re.compile(r"^[!#%&(-\[\]-~]+$")


class Missing(Exception):
    """A field's value could not be templated (an undefined vault variable)."""


def redirect_uri_problem(uri: Any) -> str | None:
    """Why Spotify would refuse this redirect URI, or None. http only on a loopback IP+port."""
    if not isinstance(uri, str) or not uri:
        return "must be a URL such as http://127.0.0.1:8888/callback"
    if any(c.isspace() for c in uri) or not ENV_SAFE.match(uri):
        return "must be a URL without blanks, quotes, backslashes or $"
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return f"is not a valid URL ({uri!r}); use e.g. http://127.0.0.1:8888/callback"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http(s) URL such as http://127.0.0.1:8888/callback, not {uri!r}"
    if parts.hostname == "localhost":
        return (
            "must not use 'localhost' (Spotify refuses it); "
            f"use http://127.0.0.1:{port or 8888}{parts.path or '/callback'}"
        )
    if parts.scheme == "http":
        if parts.hostname not in ("127.0.0.1", "::1"):
            return (
                f"may use http only on a loopback address (http://127.0.0.1:PORT/... or "
                f"http://[::1]:PORT/...), not {uri!r}; use https for anything else"
            )
        if port is None:
            return f"needs a port on the loopback address, e.g. http://127.0.0.1:8888{parts.path}"
    return None


def parse_authorized_at(value: Any, now: float) -> int | str:
    """Epoch seconds of a sign-in date, or a problem sentence.

    Accepts epoch seconds, an ISO date (``2026-11-29``, midnight UTC) or an ISO date-time
    (``2026-11-29T21:48:00Z``; without a zone: UTC)."""
    when: datetime
    if isinstance(value, bool):
        return "is not a date"
    if isinstance(value, int | float):
        when = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, date):
        when = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str) and re.fullmatch(r"\d{9,11}", value.strip()):
        when = datetime.fromtimestamp(int(value.strip()), UTC)
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return (
                f"is not a date ({value!r}); write the sign-in date as 2026-11-29 or epoch seconds"
            )
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    else:
        return "is not a date; write the sign-in date as 2026-11-29 or epoch seconds"
    stamp = int(when.timestamp())
    if stamp < 1_200_000_000:  # 2008: before Spotify's Web API existed
        return f"({value!r}) is before Spotify's Web API existed; write the sign-in date"
    if stamp > now + 86400:
        return f"({value!r}) is in the future; write the date the account signed in"
    return stamp


def _get(entry: Any, key: str) -> Any:
    """entry[key], turning a failed template (undefined vault variable) into Missing."""
    try:
        return entry.get(key) if isinstance(entry, Mapping) else None
    except Exception as e:  # AnsibleUndefinedVariable and friends: name the variable
        found = re.search(r"'([A-Za-z_][A-Za-z0-9_]*)' is undefined", str(e))
        raise Missing(found.group(1) if found else "a variable it names") from None


def parse_token(value: Any) -> dict[str, Any] | str:
    """The spotipy cache as a dict, or a problem sentence (never quoting the value)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            where = f"line {e.lineno} column {e.colno}" if hasattr(e, "lineno") else "?"
            return (
                f"is not valid JSON ({type(e).__name__} at {where}); put the whole .cache file "
                "written by 'needledrop auth' into the vault with scripts/vault_spotify_token.py"
            )
    if not isinstance(value, Mapping):
        return "must be the spotipy .cache JSON object written by 'needledrop auth'"
    token = dict(value)
    # expires_at 0 (long expired) is a time like any other: the app refreshes such a token.
    missing = [
        k for k in TOKEN_KEYS if (token.get(k) is None if k == "expires_at" else not token.get(k))
    ]
    if "refresh_token" in missing:
        return (
            "has no refresh_token, so the display could not refresh it; sign in again with "
            "'needledrop auth' and put the new .cache into the vault"
        )
    if missing:
        return (
            f"lacks {', '.join(missing)}; "
            "put the whole .cache file from 'needledrop auth' into the vault"
        )
    if not isinstance(token["refresh_token"], str):
        return "has a refresh_token that is not a string; put the .cache file in unchanged"
    return token


def spotify_credentials_account(
    accounts: Any, name: Any = "", now: float | None = None, var: str = "spotify_accounts"
) -> dict[str, Any]:
    """Check the account a display names and return it normalised (see module docstring)."""
    now = time.time() if now is None else float(now)
    if not isinstance(accounts, Mapping) or not accounts:
        return {
            "problems": [
                f"{var} is empty or not a dict: define the Spotify accounts (name: client_id, "
                "client_secret, redirect_uri, token, authorized_at) as in docs/spotify-accounts.md"
            ]
        }
    names = sorted(str(k) for k in accounts)
    if not name:
        if len(names) != 1:
            return {
                "problems": [
                    f"{var} has {len(names)} accounts ({', '.join(names)}): set spotify_account "
                    "to one of them for this display"
                ]
            }
        name = names[0]
    if name not in accounts:
        return {
            "problems": [
                f"spotify_account names {name!r}, which is not in {var} "
                f"({', '.join(names)}): fix the name or add the account"
            ]
        }
    entry = accounts[name]
    where = f"{var}.{name}"
    if not isinstance(entry, Mapping):
        return {
            "problems": [
                f"{where} must be a dict with client_id, client_secret, token, authorized_at"
            ]
        }
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key in ("client_id", "client_secret", "redirect_uri", "token", "authorized_at"):
        try:
            values[key] = _get(entry, key)
        except Missing as m:
            problems.append(
                f"{where}.{key} uses {m}, which is undefined: add {m} to the vault "
                "(ansible-vault edit, or scripts/vault_spotify_token.py for the token) and pass "
                "its vault id (--vault-id fleet@prompt)"
            )
            values[key] = Missing
    for key in ("client_id", "client_secret"):
        v = values[key]
        if v is Missing:
            continue
        if not isinstance(v, str) or not v:
            problems.append(
                f"{where}.{key} is missing: copy it from the app's Spotify dashboard into the vault"
            )
        elif not ENV_SAFE.match(v):
            problems.append(
                f"{where}.{key} holds blanks, quotes, backslashes or $: "
                "copy it again from the Spotify dashboard"
            )
    redirect = values["redirect_uri"]
    if redirect is not Missing:
        redirect = DEFAULT_REDIRECT if redirect in (None, "") else redirect
        problem = redirect_uri_problem(redirect)
        if problem:
            problems.append(f"{where}.redirect_uri {problem}")
    token: Any = values["token"]
    if token is not Missing:
        if token in (None, ""):
            problems.append(
                f"{where}.token is missing: sign in with 'needledrop auth' and store the .cache "
                "with scripts/vault_spotify_token.py"
            )
        else:
            token = parse_token(token)
            if isinstance(token, str):
                problems.append(f"{where}.token {token}")
    stamp: Any = values["authorized_at"]
    if stamp is not Missing:
        if stamp in (None, ""):
            problems.append(
                f"{where}.authorized_at is missing: write the date the account signed in "
                "(2026-11-29); the refresh token dies 6 months later"
            )
        else:
            stamp = parse_authorized_at(stamp, now)
            if isinstance(stamp, str):
                problems.append(f"{where}.authorized_at {stamp}")
    if problems:
        return {"problems": problems, "name": name}
    seeded = dict(token)
    seeded["authorized_at"] = stamp
    expires = stamp + REFRESH_TOKEN_LIFETIME_S
    return {
        "problems": [],
        "name": name,
        "account": {
            "client_id": values["client_id"],
            "client_secret": values["client_secret"],
            "redirect_uri": redirect,
            "token": seeded,
        },
        "authorized_at": stamp,
        "authorized_on": datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d"),
        "refresh_token_dies_on": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d"),
        "days_left": int((expires - now) // 86400),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"spotify_credentials_account": spotify_credentials_account}
