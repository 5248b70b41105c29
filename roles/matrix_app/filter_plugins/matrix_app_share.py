"""Filters of the matrix_app role: who polls Spotify for an account (docs/sharing.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def matrix_app_share_primary(
    hosts: Iterable[str], hostvars: Mapping[str, Any], account: str
) -> str:
    """The first of ``hosts`` (the share group, in inventory order) showing ``account``
    (``spotify_account``; "" for the only account); "" when none does."""
    for host in hosts:
        vars_ = hostvars.get(host) or {}
        if str(vars_.get("spotify_account") or "") == str(account or ""):
            return str(host)
    return ""


def matrix_app_share_primary_of(
    host: str, hosts: Iterable[str], hostvars: Mapping[str, Any]
) -> str:
    """The primary ``host`` itself follows: its matrix_app_share_primary, else the first display
    of its account ("" when ``host`` is unknown)."""
    vars_ = hostvars.get(host) or {}
    chosen = str(vars_.get("matrix_app_share_primary") or "")
    return chosen or matrix_app_share_primary(hosts, hostvars, vars_.get("spotify_account") or "")


def matrix_app_share_url(host: str, port: int) -> str:
    """http://HOST:PORT, an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{int(port)}"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "matrix_app_share_primary": matrix_app_share_primary,
            "matrix_app_share_primary_of": matrix_app_share_primary_of,
            "matrix_app_share_url": matrix_app_share_url,
        }
