"""Refusals a user can read (issue 15, item 7): real numbers, and both drives of a twin UID.

Plain values (panel 64x32, bit depth 4, poll 5 s) used to be masked like secrets wherever
they appeared in a message ("********0 bytes long", "******** KiB to keep free").
"""

from __future__ import annotations

import re
import string

import pytest
from boardsim import S3, board_host, dir_board, fat_board, run_playbook
from circuitpython_drive import FatImageDrive, ambiguity, choose
from hypothesis import given
from hypothesis import strategies as st

PLAIN = {
    "circuitpython_panel_width": 64,
    "circuitpython_panel_height": 32,
    "circuitpython_panel_bit_depth": 4,
    "circuitpython_poll_seconds": 5,
}


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("refusals")
    full = fat_board(
        tmp / "full.img",
        "9.2.1",
        S3,
        "21B2C3D4E5F6",
        size_kib=256,
        files={"fonts.bin": b"x" * 150_000},
    )
    old = fat_board(tmp / "old.img", "6.4.0", S3, "E1B2C3D4E5F6")
    ssid = fat_board(tmp / "ssid.img", "9.2.1", S3, "F1B2C3D4E5F6")
    twin_a = fat_board(tmp / "twin-a.img", "9.2.1", S3, "A1A2A3A4A5A6")
    twin_b = fat_board(tmp / "twin-b.img", "9.2.1", S3, "A1A2A3A4A5A6")
    media = tmp / "media"
    dir_board(media / "CIRCUITPY", "9.2.1", S3, "B1B2B3B4B5B6")
    dir_board(media / "CIRCUITPY1", "9.2.1", S3, "B1B2B3B4B5B6")
    hosts = {
        "full": board_host(circuitpython_drive_paths=[str(full)], **PLAIN),
        "old": board_host(circuitpython_drive_paths=[str(old)], **PLAIN),
        "ssid": board_host(
            circuitpython_drive_paths=[str(ssid)], circuitpython_wifi_ssid="é" * 20, **PLAIN
        ),
        "twin": board_host(
            circuitpython_uid="A1A2A3A4A5A6",
            circuitpython_drive_paths=[str(twin_a), str(twin_b)],
            **PLAIN,
        ),
        "mounted_twice": board_host(circuitpython_mount_roots=[str(media)], **PLAIN),
    }
    free = FatImageDrive(str(full)).free_bytes()
    return {"run": run_playbook(tmp, hosts), "free_kib": free // 1024, "tmp": tmp}


def test_no_space_message_shows_the_real_numbers(refused):
    message = refused["run"].failure_of("full")
    found = re.search(r"(\d+) KiB free, (\d+) KiB to write and (\d+) KiB to keep free", message)
    assert found, message
    assert int(found[1]) == refused["free_kib"]
    assert int(found[2]) > int(found[1])
    assert int(found[3]) == 64
    assert "*" not in message


def test_too_old_version_message_shows_the_version(refused):
    message = refused["run"].failure_of("old")
    assert "runs CircuitPython 6.4.0; needledrop needs 8.2.1" in message
    assert "*" not in message


def test_too_long_ssid_is_refused_by_name_with_its_byte_count(refused):
    message = refused["run"].failure_of("ssid")
    assert "circuitpython_wifi_ssid of ssid is 40 bytes long" in message
    assert "at most 32 bytes" in message


def test_twin_uid_names_the_uid_and_both_drives(refused):
    message = refused["run"].failure_of("twin")
    tmp = refused["tmp"]
    assert "UID A1A2A3A4A5A6 is on 2 drives" in message, message
    assert f"{tmp / 'twin-a.img'} (label CIRCUITPY)" in message
    assert f"{tmp / 'twin-b.img'} (label CIRCUITPY)" in message
    assert "set circuitpython_uid" not in message  # it is set already


def test_a_board_mounted_twice_names_both_labels(refused):
    message = refused["run"].failure_of("mounted_twice")
    media = refused["tmp"] / "media"
    assert f"{media / 'CIRCUITPY'} (label CIRCUITPY)" in message, message
    assert f"{media / 'CIRCUITPY1'} (label CIRCUITPY1)" in message
    assert "UID B1B2B3B4B5B6 is on 2 drives" in message


def test_refused_boards_are_left_untouched(refused):
    for name in ("full", "old", "ssid", "twin", "mounted_twice"):
        assert refused["run"].recap[name]["failed"] == 1, name


# ---- every drive layout --------------------------------------------------------------------

UIDS = st.sampled_from(["A1B2C3D4E5F6", "B1B2C3D4E5F6", "C1B2C3D4E5F6"])
LABELS = st.text(string.ascii_uppercase + string.digits, min_size=0, max_size=11)


@st.composite
def layouts(draw):
    count = draw(st.integers(min_value=0, max_value=6))
    drives = [
        {
            "path": f"/media/pi/drive{i}",
            "label": draw(LABELS),
            "state": draw(st.sampled_from(["circuitpython", "circuitpython", "bootloader"])),
            "uid": draw(UIDS),
        }
        for i in range(count)
    ]
    uid = draw(st.one_of(st.just(""), UIDS.map(str.lower), UIDS))
    return drives, uid


@given(layouts())
def test_every_layout_gets_one_drive_or_a_message_naming_each_candidate(layout):
    drives, uid = layout
    candidates, bootloaders = choose(drives, uid)
    running = [d for d in drives if d["state"] == "circuitpython"]
    assert candidates == [d for d in running if not uid or d["uid"] == uid.upper()]
    assert bootloaders == [d for d in drives if d["state"] == "bootloader"]
    message = ambiguity(candidates, uid, "kitchen", "pi.local")
    if len(candidates) < 2:
        assert message == ""
        return
    for drive in candidates:
        where = f"label {drive['label']}" if drive["label"] else "no label"
        assert f"{drive['path']} ({where})" in message
    uids = [d["uid"] for d in candidates]
    for twin in {u for u in uids if uids.count(u) > 1}:
        assert f"UID {twin} is on {uids.count(twin)} drives" in message
    if uid:  # set already: the fix is never "set circuitpython_uid"
        assert "set circuitpython_uid" not in message
    elif len(set(uids)) == len(uids):
        assert all(u in message for u in uids) and "set circuitpython_uid" in message


def test_choose_reads_the_uid_case_insensitively():
    drives = [{"path": "/m/a", "label": "CIRCUITPY", "state": "circuitpython", "uid": "ABC"}]
    assert choose(drives, "abc")[0] == drives
    assert choose(drives, "abd")[0] == []
