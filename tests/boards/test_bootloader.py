"""A board found in UF2 bootloader mode gets CircuitPython from a local UF2, then is configured."""

from __future__ import annotations

import shutil
import threading
import time

from boardsim import S3, board_host, boot_out, run_playbook

INFO_UF2 = "UF2 Bootloader 0.18.0\r\nModel: MatrixPortal S3\r\nBoard-ID: ESP32S3-revB\r\n"


def test_bootloader_drive_gets_the_uf2_and_the_board_is_configured_after_it_reboots(
    tmp_path,
):
    media = tmp_path / "media"
    boot_drive = media / "MATRXS3BOOT"
    boot_drive.mkdir(parents=True)
    (boot_drive / "INFO_UF2.TXT").write_text(INFO_UF2)
    firmware = tmp_path / "adafruit-circuitpython-matrixportal_s3-en_US-9.2.1.uf2"
    firmware.write_bytes(b"UF2\n" + bytes(1024))
    flashed = []
    stop = threading.Event()

    def bootloader():
        # What the board does: take the .uf2, reboot, come back as CIRCUITPY.
        while not stop.is_set():
            uf2 = list(boot_drive.glob("*.uf2")) if boot_drive.exists() else []
            if uf2:
                flashed.append(uf2[0].read_bytes())
                shutil.rmtree(boot_drive)
                (media / "CIRCUITPY").mkdir()
                (media / "CIRCUITPY" / "boot_out.txt").write_text(
                    boot_out("9.2.1", S3, "C0FFEE123456")
                )
                return
            time.sleep(0.05)

    thread = threading.Thread(target=bootloader, daemon=True)
    thread.start()
    try:
        run = run_playbook(
            tmp_path,
            {
                "fresh": board_host(
                    circuitpython_uid="c0ffee123456",
                    circuitpython_mount_roots=[str(media)],
                    circuitpython_uf2_path=str(firmware),
                    circuitpython_uf2_wait_seconds=30,
                )
            },
        )
    finally:
        stop.set()
    assert run.rc == 0, run.output[-3000:]
    assert flashed == [firmware.read_bytes()]
    assert (media / "CIRCUITPY" / "code.py").exists()
    assert (media / "CIRCUITPY" / "lib" / "adafruit_requests.py").exists()


def test_bootloader_drive_without_a_uf2_path_is_reported(tmp_path):
    media = tmp_path / "media"
    (media / "MATRXS3BOOT").mkdir(parents=True)
    (media / "MATRXS3BOOT" / "INFO_UF2.TXT").write_text(INFO_UF2)
    run = run_playbook(tmp_path, {"fresh": board_host(circuitpython_mount_roots=[str(media)])})
    message = run.failure_of("fresh")
    assert "bootloader mode" in message and "circuitpython_uf2_path" in message, message
