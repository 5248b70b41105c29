"""Every playbook runs in --check --diff, says what it would change and changes nothing.

Issue 15, item 6. Playbooks are discovered (playbooks/*.yml and site.yml). Here they run
against what the controller alone can host: a CircuitPython board on a FAT image and the
controller's own caches, all pointed at a fresh directory that must still not exist
afterwards. The displays get the same treatment against containers in molecule/check.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import roletags

sys.path.insert(0, str(roletags.TOP / "tests" / "boards"))
sys.path.insert(0, str(roletags.TOP / "roles" / "circuitpython" / "module_utils"))

from boardsim import S3, board_host, fat_board, fat_listing, run_playbook  # noqa: E402

SECRETS = ("canary-wifi-passphrase-7d1f", "canary-client-secret-93ab")


def controller_dirs(root: Path) -> dict:
    """Every controller-side directory a role writes, under one root that must stay absent."""
    return {
        "wheelhouse_dir": str(root / "wheelhouse"),
        "wheelhouse_targets": ["amd64-py3.11"],
        "circuitpython_controller_cache_dir": str(root / "circuitpython"),
        "circuitpython_wheelhouse_dir": str(root / "circuitpython-wheelhouse"),
        "rgb_matrix_controller_cache": str(root / "rgb_matrix"),
        "rgb_matrix_wheelhouse": str(root / "wheelhouse"),
    }


# What each role prints in --check when there is work to do (a role not named here only has
# to report changed tasks).
SAYS = {"circuitpython": "would write", "wheelhouse": "Would download"}


@pytest.mark.parametrize("playbook", roletags.PLAYBOOKS)
def test_playbook_in_check_mode_reports_and_changes_nothing(tmp_path: Path, playbook: str):
    image = fat_board(tmp_path / "board.img", "9.2.1", S3, "A1B2C3D4E5F6")
    before = hashlib.sha256(image.read_bytes()).hexdigest()
    listing = fat_listing(image)
    controller = tmp_path / "controller"
    host = board_host(circuitpython_drive_paths=[str(image)])
    run = run_playbook(
        tmp_path,
        {"board": host},
        playbook=playbook,
        args=("--check", "--diff", "-e", json.dumps(controller_dirs(controller))),
    )
    assert run.rc == 0, run.output[-4000:]
    assert hashlib.sha256(image.read_bytes()).hexdigest() == before
    assert fat_listing(image) == listing
    assert not controller.exists(), sorted(str(p) for p in controller.rglob("*"))
    for role in roletags.roles_of(roletags.TOP / playbook):
        if role in SAYS:
            assert SAYS[role] in run.output, f"{playbook}: {role} said nothing it would change"
    if roletags.roles_of(roletags.TOP / playbook) & {"circuitpython", "wheelhouse"}:
        assert any(r["changed"] for r in run.recap.values()), run.output[-3000:]
    for secret in SECRETS:
        assert secret not in run.output


def test_check_names_the_board_files_and_libraries_a_real_run_writes(tmp_path: Path):
    image = fat_board(tmp_path / "board.img", "9.2.1", S3, "A1B2C3D4E5F6")
    dirs = controller_dirs(tmp_path / "controller")
    host = board_host(circuitpython_drive_paths=[str(image)])
    run = run_playbook(tmp_path, {"board": host}, args=("--check", "-e", json.dumps(dirs)))
    assert run.rc == 0, run.output[-3000:]
    said = " ".join(run.output.split())
    assert "would write" in said
    for name in ("code.py", "settings.toml", "lib/needledrop_spotify.py"):
        assert name in said, said[-2000:]
    assert "lib/ files of adafruit-circuitpython-requests==4.1.17 (downloaded first)" in said


def test_check_after_a_real_run_says_up_to_date_and_changes_nothing(tmp_path: Path):
    image = fat_board(tmp_path / "board.img", "9.2.1", S3, "A1B2C3D4E5F6")
    host = board_host(
        circuitpython_drive_paths=[str(image)],
        circuitpython_controller_cache_dir=str(tmp_path / "cache"),
    )
    real = run_playbook(tmp_path, {"board": host})
    assert real.rc == 0, real.output[-3000:]
    written = fat_listing(image)
    staged = sorted((tmp_path / "cache").rglob("*"))
    check = run_playbook(tmp_path, {"board": host}, args=("--check", "--diff"))
    assert check.rc == 0, check.output[-3000:]
    assert check.recap["board"] == {"changed": 0, "failed": 0}
    assert "up to date" in check.output
    assert fat_listing(image) == written
    assert sorted((tmp_path / "cache").rglob("*")) == staged
