# Copyright: needledrop contributors
# SPDX-License-Identifier: MIT
"""The before/after table of playbooks/reauth.yml.

``rows | reauth_table`` takes one dict per display (``host``, ``account``, ``status``: what
``needledrop status --json`` said before, ``renewed``: whether its account was signed in again,
``after_rc``: the exit code of the status after the push, ``chosen``, ``check_mode``,
``signed_in``) and per board (``host``, ``board: true``) and returns the table as lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FORMAT = "%-20s %-12s %-30s %s"


def before(status: Mapping[str, Any] | None) -> str:
    """What the display said before the run, in a few words."""
    if not status:
        return "no status"
    token = status.get("token") or {}
    if status.get("reauth_needed"):
        return "re-auth needed"
    if token.get("expiry_warning"):
        day = str(token.get("refresh_token_expires_about") or "?")[:10]
        return f"expires {day} ({token.get('days_left', '?')} days)"
    return "healthy" if status.get("healthy") else "not healthy"


def after(row: Mapping[str, Any]) -> str:
    if row.get("board"):
        return "new CODE in settings.toml"
    if row.get("renewed"):
        if row.get("after_rc") == 0:
            return f"healthy, signed in {str(row.get('signed_in') or '?')[:10]}"
        return "NOT healthy"
    if row.get("chosen"):
        return "would sign in again" if row.get("check_mode") else "not signed in"
    return "unchanged"


def reauth_table(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = [FORMAT % ("host", "account", "before", "after")]
    for row in rows:
        if row.get("board"):
            lines.append(FORMAT % (row["host"], "board", "asked to re-auth", after(row)))
        else:
            lines.append(
                FORMAT
                % (row["host"], row.get("account") or "?", before(row.get("status")), after(row))
            )
    return "\n".join(lines)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"reauth_table": reauth_table}
