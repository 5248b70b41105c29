"""playbooks/status.yml's pieces: the host probe and the filters that make the fleet table.

The probe runs here as on a display, against a release directory whose `needledrop` prints a
status document; the filters get every mix of present and missing status fields (older
releases lack the newer ones) and must print '-' for what is missing, never fail.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

TOP = Path(__file__).resolve().parents[2]
PROBE = TOP / "playbooks/files/fleet_status_probe.py"
_spec = importlib.util.spec_from_file_location(
    "fleet_status", TOP / "playbooks/filter_plugins/fleet_status.py"
)
assert _spec and _spec.loader
fleet_status = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fleet_status)

NOW = "2026-11-30T12:00:00Z"
FULL_STATUS = {
    "healthy": True,
    "backend": "png",
    "showing": {"screen": "track", "title": "Song", "artist": "Band", "is_playing": True},
    "last_poll_ok_at": "2026-11-30T11:59:30Z",
    "last_error": None,
    "reauth_needed": False,
    "spotify_calls_last_hour": 412,
    "sharing": {"role": "follower", "following": "kitchen"},
    "token": {
        "authorized_at": "2026-06-10T12:00:00Z",
        "refresh_token_expires_about": "2026-12-09T12:00:00Z",
        "expiry_warning": True,
    },
}


def probe(status: dict | None = None, **extra: object) -> dict:
    doc = {
        "release": "0.4.0-1a2b3c4d5e",
        "release_record": {"rgbmatrix_commit": "cf60d08" + "0" * 33},
        "bindings_record": {"commit": "cf60d08" + "0" * 33},
        "status": FULL_STATUS if status is None else status,
        "unit": "active",
        "isolcpus": "3",
        "reboot_required": False,
        "cpu_temp_c": 48.3,
        "throttled": 0,
        "vcgencmd": True,
    }
    doc.update(extra)
    return doc


def test_full_row_shows_every_column_in_words() -> None:
    row = fleet_status.fleet_row(probe(), "kitchen", "anna", NOW)
    assert row["shows"] == "Band - Song"
    assert row["last_poll"] == "30s ago"
    assert row["calls"] == "412"
    assert row["account_text"] == "anna (follower of kitchen)"
    assert row["token"] == "173d RENEW: dies ~2026-12-09"
    assert row["reauth"] == "no"
    assert row["temp"] == "48C"
    assert row["throttle_text"] == "no"
    assert row["isolcpus_text"] == "3"
    assert row["rgbmatrix"] == "cf60d0800000"


def test_token_without_warning_shows_its_age_only() -> None:
    status = dict(FULL_STATUS, token={"authorized_at": "2026-11-01T12:00:00Z"})
    row = fleet_status.fleet_row(probe(status), "kitchen", "anna", NOW)
    assert row["token"] == "29d"
    assert row["token_expiry_warning"] is False


FIELDS = sorted(FULL_STATUS)


@given(st.sets(st.sampled_from(FIELDS)), st.sets(st.sampled_from(sorted(probe()))))
def test_missing_fields_are_dashes_never_errors(status_drop: set, probe_drop: set) -> None:
    status = {k: v for k, v in FULL_STATUS.items() if k not in status_drop}
    doc = {k: v for k, v in probe(status).items() if k not in probe_drop}
    row = fleet_status.fleet_row(doc, "hall", None, NOW)
    lines = fleet_status.fleet_table([row])
    assert len(lines) == 2
    for key, _ in fleet_status.COLUMNS:
        assert isinstance(row[key], str) and row[key], key
    if "spotify_calls_last_hour" in status_drop or "status" in probe_drop:
        assert row["calls"] == "-" and row["spotify_calls_last_hour"] is None
    if "sharing" in status_drop or "status" in probe_drop:
        assert row["sharing"] is None and row["account_text"] == "-"


def test_unreachable_host_is_a_row() -> None:
    row = fleet_status.fleet_row(None, "attic", "anna", NOW)
    assert row["reachable"] is False
    assert row["shows"] == "UNREACHABLE"
    assert fleet_status.fleet_table([row])[1].startswith("attic ")


def test_unit_not_active_is_said_before_what_it_shows() -> None:
    status = {"error": "status file unreadable"}
    row = fleet_status.fleet_row(probe(status, unit="failed"), "hall", None, NOW)
    assert row["shows"] == "[failed] (status file unreadable)"


@given(st.integers(min_value=0, max_value=0xFFFFF))
def test_throttle_words_name_each_bit_now_and_since_boot(value: int) -> None:
    words = fleet_status.throttle_words(value)
    parts = dict(p.rsplit(" ", 1)[::-1] for p in words.split("; ")) if words != "no" else {}
    now = parts.get("now", "").split(", ")
    before = parts.get("boot", "").removesuffix(" since").split(", ")
    assert (words == "no") == (value & 0xF000F == 0)
    for bit, word in fleet_status.THROTTLE_BITS.items():
        assert (word in now) == bool(value & (1 << bit)), words
        assert (word in before) == bool(value & (1 << (bit + 16))), words


@given(st.lists(st.text(min_size=1, max_size=50), min_size=1, max_size=6))
def test_table_columns_line_up(hosts: list[str]) -> None:
    rows = [fleet_status.fleet_row(probe(), h, "anna", NOW) for h in hosts]
    lines = fleet_status.fleet_table(rows)
    width = max(len(line.split("  RELEASE")[0]) for line in lines[:1])
    for line in lines[1:]:
        assert line[width : width + 2] == "  "
        assert line[width + 2 :].startswith("0.4.0-1a2b3c4d5e")


def test_probe_reads_release_status_boot_line_and_temperature(tmp_path: Path) -> None:
    release = tmp_path / "releases" / "0.4.0-abc"
    (release / "bin").mkdir(parents=True)
    (release / "needledrop-release.json").write_text(json.dumps({"rgbmatrix_commit": "f" * 40}))
    needledrop = release / "bin" / "needledrop"
    needledrop.write_text(f"#!/bin/sh\necho '{json.dumps(FULL_STATUS)}'\nexit 1\n")
    needledrop.chmod(0o755)
    (tmp_path / "current").symlink_to(release)
    cmdline = tmp_path / "cmdline.txt"
    cmdline.write_text("console=tty1 root=PARTUUID=1 isolcpus=3 rootwait\n")
    out = subprocess.run(
        [
            sys.executable,
            str(PROBE),
            str(tmp_path),
            "/nonexistent.toml",
            str(tmp_path / "none.json"),
            str(cmdline),
            "needledrop-test-unit",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(out.stdout)
    assert doc["release"] == "0.4.0-abc"
    assert doc["release_record"] == {"rgbmatrix_commit": "f" * 40}
    assert doc["bindings_record"] is None
    assert doc["status"]["spotify_calls_last_hour"] == 412
    assert doc["isolcpus"] == "3"
    row = fleet_status.fleet_row(doc, "kitchen", "anna", NOW)
    assert row["release"] == "0.4.0-abc" and row["rgbmatrix"] == "f" * 12


def test_probe_without_a_release_says_so(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(PROBE), str(tmp_path), "/x.toml", "/x.json", "/x/cmdline.txt", "x"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(out.stdout)
    assert doc["release"] is None and doc["status"] == {"error": "no release installed"}
    assert doc["isolcpus"] is None
    row = fleet_status.fleet_row(doc, "new", None, NOW)
    assert row["shows"].endswith("(no release installed)")


def test_renew_line_names_the_displays_that_need_it_and_the_command() -> None:
    warned = dict(FULL_STATUS, token=dict(FULL_STATUS["token"], renew_command="RENEW-CMD"))
    young = dict(FULL_STATUS, token={"authorized_at": "2026-11-01T12:00:00Z"})
    dead = dict(young, reauth_needed=True)
    rows = [
        fleet_status.fleet_row(probe(warned), "kitchen", "anna", NOW),
        fleet_status.fleet_row(probe(young), "hall", "anna", NOW),
        fleet_status.fleet_row(probe(dead), "studio", "ben", NOW),
    ]
    assert fleet_status.fleet_renew_hint(rows) == [
        "Spotify sign-in to renew on kitchen, studio: run RENEW-CMD (docs/reauth.md)."
    ]


def test_no_renew_line_when_every_sign_in_is_young() -> None:
    young = dict(FULL_STATUS, token={"authorized_at": "2026-11-01T12:00:00Z"})
    rows = [fleet_status.fleet_row(probe(young), "hall", "anna", NOW)]
    assert fleet_status.fleet_renew_hint(rows) == []
