"""playbooks/boards.yml against simulated boards: FAT images and directories."""

from __future__ import annotations

from pathlib import Path

import pytest
from boardsim import (
    FEATHER_M4,
    M4,
    PICO_W,
    S3,
    board_host,
    dir_board,
    dir_listing,
    fat_board,
    fat_listing,
    run_playbook,
)
from circuitpython_settings import parse

USER_CODE = b"print('my own code')\n"
USER_SETTINGS = b'MY_OWN_KEY = "keep me"\nCIRCUITPY_WIFI_SSID = "old network"\n'


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fleet")
    media = tmp / "media"
    boards = {
        # Two boards mounted side by side by label, told apart by UID.
        "s3_first": dir_board(
            media / "CIRCUITPY", "9.2.1", S3, "A1B2C3D4E5F6", {"code.py": USER_CODE}
        ),
        "s3_second": dir_board(media / "CIRCUITPY1", "10.0.3", S3, "B1B2C3D4E5F6"),
        "s3_image": fat_board(
            tmp / "s3.img",
            "8.2.6",
            S3,
            "C1B2C3D4E5F6",
            files={"settings.toml": USER_SETTINGS},
        ),
        "pico_w": fat_board(tmp / "picow.img", "8.2.1", PICO_W, "D1B2C3D4E5F6"),
        "too_old": fat_board(tmp / "old.img", "8.1.0", S3, "E1B2C3D4E5F6"),
        "bad_certs": fat_board(tmp / "certs.img", "8.2.3", S3, "F1B2C3D4E5F6"),
        "airlift": fat_board(tmp / "m4.img", "9.2.1", M4, "01B2C3D4E5F6"),
        "no_wifi": dir_board(tmp / "feather", "9.2.1", FEATHER_M4, "11B2C3D4E5F6"),
        "full": fat_board(
            tmp / "full.img",
            "9.2.1",
            S3,
            "21B2C3D4E5F6",
            size_kib=256,
            files={"fonts.bin": b"x" * 150_000},
        ),
    }
    by_id = tmp / "by-id"
    by_id.mkdir()
    (by_id / "usb-Adafruit_MatrixPortal_S3_31B2C3D4E5F6-0:0").symlink_to("/dev/null-sdz")
    hosts = {
        "s3_first": board_host(
            circuitpython_uid="a1b2c3d4e5f6", circuitpython_mount_roots=[str(media)]
        ),
        "s3_second": board_host(
            circuitpython_uid="B1B2C3D4E5F6",
            circuitpython_mount_roots=[str(media)],
            circuitpython_spotify_code="code-second",
            circuitpython_panel_width=32,
        ),
        "unplugged": board_host(
            circuitpython_uid="31B2C3D4E5F6",
            circuitpython_mount_roots=[str(media)],
            circuitpython_by_id_dir=str(by_id),
        ),
    }
    for name in (
        "s3_image",
        "pico_w",
        "too_old",
        "bad_certs",
        "airlift",
        "no_wifi",
        "full",
    ):
        hosts[name] = board_host(circuitpython_drive_paths=[str(boards[name])])
    before = {name: snapshot(path) for name, path in boards.items()}
    first = run_playbook(tmp, hosts)
    after_first = {name: snapshot(path) for name, path in boards.items()}
    second = run_playbook(tmp, hosts)
    return {
        "boards": boards,
        "before": before,
        "after": after_first,
        "first": first,
        "second": second,
    }


def snapshot(path: Path) -> dict[str, bytes]:
    return dir_listing(path) if path.is_dir() else fat_listing(path)


GOOD = ["s3_first", "s3_second", "s3_image", "pico_w"]


@pytest.mark.parametrize("name", GOOD)
def test_supported_boards_get_libraries_client_code_and_settings(fleet, name):
    files = fleet["after"][name]
    assert fleet["first"].recap[name]["failed"] == 0, fleet["first"].output[-3000:]
    for rel in (
        "code.py",
        "lib/needledrop_spotify.py",
        "lib/adafruit_requests.py",
        "lib/adafruit_connection_manager.py",
        "lib/adafruit_display_text/scrolling_label.py",
        "lib/adafruit_ticks.py",
    ):
        assert rel in files, rel
    settings = parse(files["settings.toml"])
    assert settings["CIRCUITPY_WIFI_SSID"] == 'Café "Lounge" 2.4'
    assert settings["CIRCUITPY_WIFI_PASSWORD"] == "canary-wifi-passphrase-7d1f"
    assert settings["CIRCUITSPOTIFY_CLIENT_SECRET"] == "canary-client-secret-93ab"
    assert settings["CIRCUITSPOTIFY_REDIRECT_URL"] == "https%3A%2F%2Fopen.spotify.com%2F"
    assert not any(rel.endswith(".ndtmp") for rel in files)


def test_each_board_is_matched_by_uid_among_several_mounted(fleet):
    first = parse(fleet["after"]["s3_first"]["settings.toml"])
    second = parse(fleet["after"]["s3_second"]["settings.toml"])
    assert "CIRCUITSPOTIFY_CODE" not in first
    assert second["CIRCUITSPOTIFY_CODE"] == "code-second"
    assert (first["NEEDLEDROP_PANEL_WIDTH"], second["NEEDLEDROP_PANEL_WIDTH"]) == (
        64,
        32,
    )


def test_users_code_py_is_kept_aside_and_hand_added_keys_stay(fleet):
    first = fleet["after"]["s3_first"]
    assert first["code.py.orig"] == USER_CODE
    assert b"needledrop" in first["code.py"]
    settings = parse(fleet["after"]["s3_image"]["settings.toml"])
    assert settings["MY_OWN_KEY"] == "keep me"
    assert settings["CIRCUITPY_WIFI_SSID"] == 'Café "Lounge" 2.4'
    assert "old network" not in fleet["after"]["s3_image"]["settings.toml"].decode()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        (
            "too_old",
            [
                "8.1.0",
                "needs 8.2.1",
                "circuitpython.org/board/adafruit_matrixportal_s3",
            ],
        ),
        ("bad_certs", ["8.2.3", "certificate bundle", "8.2.5 or later"]),
        ("airlift", ["AirLift", "MatrixPortal S3"]),
        ("no_wifi", ["no Wi-Fi", "samd51j19"]),
        ("full", ["Not enough space", "Nothing was written"]),
        (
            "unplugged",
            [
                "No CircuitPython drive with UID 31B2C3D4E5F6",
                "not mounted",
                "/dev/null-sdz",
            ],
        ),
    ],
)
def test_unsupported_boards_are_refused_naming_the_fix_and_left_untouched(fleet, name, words):
    run = fleet["first"]
    assert run.recap[name]["failed"] == 1
    message = run.failure_of(name)
    for word in words:
        assert word in message, message
    if name in fleet["boards"]:
        assert fleet["after"][name] == fleet["before"][name]


def test_second_run_changes_nothing(fleet):
    assert fleet["first"].rc == 2  # refused boards fail their host, the others go on
    for name in GOOD:
        assert fleet["first"].recap[name]["changed"] > 0
        assert fleet["second"].recap[name] == {"changed": 0, "failed": 0}, fleet["second"].output[
            -3000:
        ]


def test_secrets_never_reach_the_output(fleet):
    for run in (fleet["first"], fleet["second"]):
        for secret in (
            "canary-wifi-passphrase-7d1f",
            "canary-client-secret-93ab",
            "code-second",
        ):
            assert secret not in run.output


def test_authorization_url_is_printed_with_redirect_uri_for_boards_without_a_code(
    fleet,
):
    out = fleet["first"].output
    assert (
        "https://accounts.spotify.com/authorize?client_id=fake-client-id&response_type=code"
        "&redirect_uri=https%3A%2F%2Fopen.spotify.com%2F"
        "&scope=user-read-currently-playing%20user-read-playback-state"
    ) in out
    assert "s3_second has no Spotify authorization code" not in out


def test_several_boards_without_uid_are_refused_listing_their_uids(tmp_path):
    media = tmp_path / "media"
    dir_board(media / "CIRCUITPY", "9.2.1", S3, "A1B2C3D4E5F6")
    dir_board(media / "CIRCUITPY1", "9.2.1", S3, "B1B2C3D4E5F6")
    run = run_playbook(tmp_path, {"anyboard": board_host(circuitpython_mount_roots=[str(media)])})
    message = run.failure_of("anyboard")
    assert "Several CircuitPython drives" in message
    assert "A1B2C3D4E5F6" in message and "B1B2C3D4E5F6" in message
