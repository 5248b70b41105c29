"""Filters of playbooks/status.yml: one row per display from its probe, and the fleet table.

``fleet_row(probe, host, account, now)`` turns what ``files/fleet_status_probe.py`` printed on
a display into one flat record (the JSON output and the HTML report use it as is);
``fleet_table(rows)`` lays the rows out as aligned text lines. A field the host's app does not
report (an older release; ``spotify_calls_last_hour`` and ``sharing`` are newer fields) is
``None`` in the record and ``-`` in the table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Bits of `vcgencmd get_throttled`: now (0-3) and since boot (16-19).
THROTTLE_BITS = {
    0: "under-voltage",
    1: "arm freq capped",
    2: "throttled",
    3: "soft temp limit",
}

COLUMNS = [
    ("host", "HOST"),
    ("release_text", "RELEASE"),
    ("rgbmatrix", "RGBMATRIX"),
    ("backend_text", "BACKEND"),
    ("shows", "SHOWS"),
    ("last_poll", "LAST GOOD POLL"),
    ("last_error_text", "LAST ERROR"),
    ("calls", "CALLS/H"),
    ("account_text", "ACCOUNT"),
    ("token", "TOKEN"),
    ("reauth", "REAUTH"),
    ("temp", "CPU"),
    ("throttle_text", "THROTTLED"),
    ("isolcpus_text", "ISOLCPUS"),
    ("reboot", "REBOOT"),
]


def _ts(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def age(seconds: float | None) -> str:
    """A duration as a person reads it in a table: 45s, 12m, 5h, 170d; '-' when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def throttle_words(value: int | None) -> str | None:
    """`get_throttled`'s bits in words: 'no', or 'throttled now; under-voltage since boot'."""
    if value is None:
        return None
    now = [w for bit, w in THROTTLE_BITS.items() if value & (1 << bit)]
    before = [w for bit, w in THROTTLE_BITS.items() if value & (1 << (bit + 16))]
    parts = []
    if now:
        parts.append(", ".join(now) + " now")
    if before:
        parts.append(", ".join(before) + " since boot")
    return "; ".join(parts) or "no"


def shows(showing: Any) -> str | None:
    """What the panel shows, in a few words."""
    if not isinstance(showing, dict) or not showing.get("screen"):
        return None
    screen = showing["screen"]
    if screen == "message":
        return f"message: {showing.get('message')}"
    if showing.get("title") is not None:
        state = "" if showing.get("is_playing", True) else " (paused)"
        return f"{showing.get('artist')} - {showing.get('title')}{state}"
    if screen == "rate_limited":
        return f"rate limited until {showing.get('until')}"
    return str(screen)


def _sharing(status: dict[str, Any]) -> str | None:
    sharing = status.get("sharing")
    if not isinstance(sharing, dict) or not sharing.get("role"):
        return None
    following = sharing.get("following")
    return f"{sharing['role']} of {following}" if following else str(sharing["role"])


def fleet_row(probe: Any, host: str, account: str | None, now: str) -> dict[str, Any]:
    """One display's record; ``probe`` is the probe's JSON (or None when unreachable)."""
    now_s = _ts(now) or 0.0
    if not isinstance(probe, dict):
        probe = {"unreachable": True}
    status = probe.get("status") if isinstance(probe.get("status"), dict) else {}
    token = status.get("token") if isinstance(status.get("token"), dict) else {}
    record = probe.get("release_record") or {}
    bindings = probe.get("bindings_record") or {}
    authorized = _ts(token.get("authorized_at"))
    last_ok = _ts(status.get("last_poll_ok_at"))
    calls = status.get("spotify_calls_last_hour")
    row: dict[str, Any] = {
        "host": host,
        "reachable": not probe.get("unreachable", False),
        "unit": probe.get("unit"),
        "healthy": status.get("healthy"),
        "status_error": status.get("error"),
        "release": probe.get("release"),
        "rgbmatrix_commit": record.get("rgbmatrix_commit") or bindings.get("commit"),
        "bindings_commit": bindings.get("commit"),
        "backend": status.get("backend"),
        "showing": status.get("showing"),
        "last_poll_ok_at": status.get("last_poll_ok_at"),
        "last_error": status.get("last_error"),
        "spotify_calls_last_hour": calls if isinstance(calls, int) else None,
        "account": account,
        "sharing": _sharing(status),
        "token_authorized_at": token.get("authorized_at"),
        "token_age_days": int((now_s - authorized) // 86400) if authorized else None,
        "refresh_token_expires_about": token.get("refresh_token_expires_about"),
        "token_expiry_warning": bool(token.get("expiry_warning")),
        "token_days_left": token.get("days_left"),
        "renew_command": token.get("renew_command"),
        "reauth_needed": status.get("reauth_needed"),
        "cpu_temp_c": probe.get("cpu_temp_c"),
        "throttled": probe.get("throttled"),
        "vcgencmd": probe.get("vcgencmd"),
        "isolcpus": probe.get("isolcpus"),
        "reboot_required": probe.get("reboot_required"),
    }
    # The table's words for the same record.
    row["release_text"] = row["release"] or "-"
    row["backend_text"] = row["backend"] or "-"
    row["rgbmatrix"] = (row["rgbmatrix_commit"] or "-")[:12]
    row["shows"] = (
        "UNREACHABLE"
        if not row["reachable"]
        else shows(row["showing"]) or (f"({row['status_error']})" if row["status_error"] else "-")
    )
    if row["unit"] not in (None, "active") and row["reachable"]:
        row["shows"] = f"[{row['unit']}] {row['shows']}"
    row["last_poll"] = age(now_s - last_ok) + " ago" if last_ok else "-"
    row["last_error_text"] = row["last_error"] or "-"
    row["calls"] = "-" if row["spotify_calls_last_hour"] is None else str(calls)
    row["account_text"] = (account or "-") + (f" ({row['sharing']})" if row["sharing"] else "")
    token_text = f"{row['token_age_days']}d" if row["token_age_days"] is not None else "-"
    if row["token_expiry_warning"]:
        token_text += f" RENEW: dies ~{(row['refresh_token_expires_about'] or '?')[:10]}"
    row["token"] = token_text
    row["reauth"] = {True: "YES", False: "no"}.get(row["reauth_needed"], "-")
    row["temp"] = "-" if row["cpu_temp_c"] is None else f"{row['cpu_temp_c']:.0f}C"
    row["throttle_text"] = throttle_words(row["throttled"]) or "-"
    row["isolcpus_text"] = row["isolcpus"] or ("-" if row["isolcpus"] is None else "none")
    row["reboot"] = {True: "yes", False: "no"}.get(row["reboot_required"], "-")
    return row


def _cell(value: Any, width: int = 40) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "~"


def fleet_table(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as aligned text lines, a header first."""
    cells = [[title for _, title in COLUMNS]] + [
        [_cell(r.get(key, "-")) for key, _ in COLUMNS] for r in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]


def fleet_renew_hint(rows: list[dict[str, Any]]) -> list[str]:
    """A line naming the displays whose Spotify sign-in is dying or dead, and the command."""
    due = [r for r in rows if r.get("token_expiry_warning") or r.get("reauth_needed") is True]
    if not due:
        return []
    command = next(
        (r["renew_command"] for r in due if isinstance(r.get("renew_command"), str)),
        "ansible-playbook playbooks/reauth.yml",
    )
    hosts = ", ".join(str(r.get("host")) for r in due)
    return [f"Spotify sign-in to renew on {hosts}: run {command} (docs/reauth.md)."]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "fleet_row": fleet_row,
            "fleet_table": fleet_table,
            "fleet_renew_hint": fleet_renew_hint,
        }
