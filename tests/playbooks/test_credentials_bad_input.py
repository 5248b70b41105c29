"""Bad Spotify account input stops spotify_credentials before it changes anything on the host,
with one message naming the variable and the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from credentials_harness import CASES, GOOD, Fleet, token_json


def _snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _running_display(tmp_path: Path) -> Fleet:
    fleet = Fleet(tmp_path)
    # A display that runs: its env file from an earlier run, a token the app refreshed since.
    fleet.env_file.parent.mkdir(parents=True)
    fleet.env_file.write_text("SPOTIPY_CLIENT_ID=old\nSPOTIPY_CLIENT_SECRET=old\n")
    fleet.env_file.chmod(0o640)
    fleet.token_file.parent.mkdir(parents=True)
    fleet.token_file.write_text(token_json("refreshed-by-the-app", "refresh-1", 1796000000))
    fleet.token_file.chmod(0o600)
    return fleet


def test_good_input_on_the_same_display_does_change_it(tmp_path: Path) -> None:
    """The control: the harness sees a change when there is one."""
    fleet = _running_display(tmp_path)
    before = _snapshot(fleet.host)
    fleet.write(GOOD)
    good = fleet.run()
    assert good.rc == 0, good.output[-2000:]
    assert good.recap["display"]["changed"] >= 1
    assert _snapshot(fleet.host) != before
    assert "SPOTIPY_CLIENT_SECRET=bad-input-test-secret" in fleet.env_file.read_text()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_naming_the_variable_and_changes_nothing(tmp_path: Path, case: str) -> None:
    vault, accounts, host_vars, message = CASES[case]
    fleet = _running_display(tmp_path)
    before = _snapshot(fleet.host)

    fleet.write(vault, accounts, **host_vars)
    bad = fleet.run("--diff")

    assert bad.rc == 2, bad.output[-2000:]
    assert bad.recap["display"]["changed"] == 0
    assert bad.recap["display"]["failed"] == 1
    flat = " ".join(bad.output.split())
    assert re.search(message, flat), flat[-2000:]
    assert "Traceback" not in bad.output
    assert _snapshot(fleet.host) == before
