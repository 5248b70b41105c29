#!/usr/bin/env python3
"""Boot the appliance image in qemu-system-aarch64 and check its first boot (make image-boot-test).

A copy of the built image gets a test ``needledrop.toml`` on its FAT partition (mtools); the
image's own kernel and initrd (read from its ext4 root with debugfs) boot it on qemu's ``virt``
machine with the root on partition 2. The project's fake Spotify serves on this machine's
loopback; the guest reaches it through qemu's user networking as 10.0.2.2. Passes when the
first boot personalised the display (settings deleted from the FAT, secrets in 0600/0640
files) and the app drew frames of what the fake plays; prints the figures for docs/image.md.

    python scripts/image-boot-test.py [--image .cache/image/out/needledrop-display-trixie-arm64.img]
                                      [--timeout 1500] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP / "tests"))

from fakes.spotify import SCOPES, FakeSpotify, _Grant, fake_track  # noqa: E402

REFRESH_TOKEN = "rt-image-boot-test"
SECRET = "client-secret-boot-test"
MIB = 1024 * 1024


def fail(msg: str) -> None:
    print(f"image-boot-test: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def partitions(image: Path) -> list[dict[str, Any]]:
    out = subprocess.run(["sfdisk", "-J", str(image)], check=True, capture_output=True, text=True)
    parts: list[dict[str, Any]] = json.loads(out.stdout)["partitiontable"]["partitions"]
    return parts


def extract_partition(image: Path, part: dict[str, Any], dest: Path) -> None:
    subprocess.run(
        [
            "dd",
            f"if={image}",
            f"of={dest}",
            "bs=512",
            f"skip={part['start']}",
            f"count={part['size']}",
            "conv=sparse",
            "status=none",
        ],
        check=True,
    )


def debugfs(fs: Path, request: str) -> str:
    out = subprocess.run(["debugfs", "-R", request, str(fs)], capture_output=True, text=True)
    return out.stdout


def power_down(monitor: Path, qemu: subprocess.Popen[bytes]) -> None:
    """Press the guest's power button (logind shuts it down cleanly), else stop qemu."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(monitor))
            s.sendall(b"system_powerdown\n")
            time.sleep(1)
        qemu.wait(240)
        return
    except (OSError, subprocess.TimeoutExpired):
        pass
    qemu.terminate()
    try:
        qemu.wait(30)
    except subprocess.TimeoutExpired:
        qemu.kill()
        qemu.wait()


def settings_file(port: int) -> str:
    token = {
        "access_token": "expired",
        "token_type": "Bearer",
        "expires_in": 3600,
        "expires_at": 0,
        "refresh_token": REFRESH_TOKEN,
        "scope": SCOPES,
        "authorized_at": "2026-11-29",
    }
    return f"""# make image-boot-test: the fake Spotify on the host's loopback (10.0.2.2)
hostname = "qemu-display"
timezone = "Europe/Berlin"

[display]
backend = "png"

[matrix]
rows = 32
cols = 64

[spotify]
client_id = "fake-client-id"
client_secret = "{SECRET}"
redirect_uri = "http://127.0.0.1:8888/callback"
token = '''{json.dumps(token)}'''
accounts_url = "http://10.0.2.2:{port}"
api_url = "http://10.0.2.2:{port}/v1/"
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--image", type=Path, default=TOP / ".cache/image/out/needledrop-display-trixie-arm64.img"
    )
    p.add_argument("--timeout", type=float, default=1500.0, help="seconds to wait for frames")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = p.parse_args()
    if not args.image.is_file():
        fail(f"{args.image} is missing; run make image first")
    for tool in ("qemu-system-aarch64", "mcopy", "debugfs", "sfdisk"):
        if not shutil.which(tool):
            fail(f"{tool} is missing (make image-boot-test installs qemu-system-arm)")

    work = Path(tempfile.mkdtemp(prefix="needledrop-boot-", dir=TOP / ".cache/image"))
    try:
        disk = work / "disk.img"
        subprocess.run(["cp", "--sparse=always", str(args.image), str(disk)], check=True)
        boot, root = partitions(disk)[:2]

        # The image's own kernel and initrd, from its root.
        rootfs = work / "root.ext4"
        extract_partition(disk, root, rootfs)
        listing = debugfs(rootfs, "ls -l /boot")
        kernels = sorted(re.findall(r"(vmlinuz-\S+)", listing))
        if not kernels:
            fail(f"no /boot/vmlinuz-* in the image's root: {listing!r}")
        version = kernels[-1][len("vmlinuz-") :]
        for name, dest in ((f"vmlinuz-{version}", "vmlinuz"), (f"initrd.img-{version}", "initrd")):
            subprocess.run(
                ["debugfs", "-R", f"dump /boot/{name} {work / dest}", str(rootfs)],
                check=True,
                capture_output=True,
            )
            if not (work / dest).stat().st_size:
                fail(f"could not read /boot/{name} from the image")
        rootfs.unlink()

        with FakeSpotify(host="127.0.0.1", port=0, client_secret=SECRET) as fake:
            fake.refresh_tokens[REFRESH_TOKEN] = _Grant(REFRESH_TOKEN, SCOPES)
            fake.player = fake_track(
                title="Boot Test Anthem",
                artists=("The Qemu Four",),
                image_url=None,
                progress_ms=60_000,
                duration_ms=300_000,
            )
            (work / "needledrop.toml").write_text(settings_file(fake.port))
            env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
            subprocess.run(
                [
                    "mcopy",
                    "-o",
                    "-i",
                    f"{disk}@@{boot['start'] * 512}",
                    str(work / "needledrop.toml"),
                    "::/needledrop.toml",
                ],
                check=True,
                env=env,
            )

            console = work / "console.log"
            monitor = work / "monitor.sock"
            cmd = [
                "qemu-system-aarch64",
                "-M",
                "virt",
                "-cpu",
                "max",
                "-smp",
                "2",
                "-m",
                "1024",
                "-nographic",
                "-no-reboot",
                "-kernel",
                str(work / "vmlinuz"),
                "-initrd",
                str(work / "initrd"),
                "-append",
                "root=LABEL=rootfs rootwait console=ttyAMA0 "
                "systemd.journald.forward_to_console=1 panic=-1",
                "-drive",
                f"if=none,file={disk},format=raw,id=hd",
                "-device",
                "virtio-blk-pci,drive=hd",
                "-monitor",
                f"unix:{monitor},server,nowait",
                "-netdev",
                "user,id=net0",
                "-device",
                "virtio-net-pci,netdev=net0",
            ]
            start = time.monotonic()
            with console.open("wb") as log:
                qemu = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                )
            try:
                first_poll = None
                while time.monotonic() - start < args.timeout:
                    if qemu.poll() is not None:
                        fail(f"qemu exited ({qemu.returncode}); console: {console}")
                    polls = fake.calls_to("player") + fake.calls_to("currently-playing")
                    if polls and first_poll is None:
                        first_poll = polls[0].at - start
                        print(f"image-boot-test: first poll of the fake after {first_poll:.0f} s")
                    if first_poll is not None and len(polls) >= 3:
                        break
                    time.sleep(2)
                else:
                    fail(f"no poll of the fake within {args.timeout:.0f} s; console: {console}")
                time.sleep(20)  # let the app write frames and status, the journal flush
            finally:
                power_down(monitor, qemu)
            tokens = fake.calls_to("token")

        # What the first boot left on the disk.
        text = console.read_text(errors="replace")
        fb = re.findall(r"needledrop firstboot: [^\r\n]*", text)
        out = work / "boot.fat"
        extract_partition(disk, boot, out)
        fat = subprocess.run(
            ["mdir", "-b", "-i", str(out), "::/"], capture_output=True, text=True, env=env
        ).stdout
        rootfs = work / "root.ext4"
        extract_partition(disk, root, rootfs)
        # Replay the journal (in case the guest did not shut down cleanly) before reading.
        subprocess.run(["e2fsck", "-fy", str(rootfs)], capture_output=True)
        frame = work / "frame.png"
        subprocess.run(
            ["debugfs", "-R", f"dump /var/lib/needledrop/frames/frame.png {frame}", str(rootfs)],
            capture_output=True,
        )
        status_txt = debugfs(rootfs, "cat /var/lib/needledrop/status.json")
        token_stat = debugfs(rootfs, "stat /var/lib/needledrop/spotify-token.json")
        env_stat = debugfs(rootfs, "stat /etc/needledrop/spotify.env")
        hostname = debugfs(rootfs, "cat /etc/hostname").strip()
        build_dir = debugfs(rootfs, "ls /var/cache/needledrop")
        releases = debugfs(rootfs, "ls /opt/needledrop/releases")

        problems = []
        if "needledrop.toml" in fat.lower():
            problems.append("needledrop.toml is still on the boot partition")
        if hostname != "qemu-display":
            problems.append(f"hostname is {hostname!r}")
        if "Mode:  0600" not in token_stat:
            problems.append("the token cache is not 0600")
        if "Mode:  0640" not in env_stat:
            problems.append("spotify.env is not 0640")
        if not frame.exists() or frame.stat().st_size == 0:
            problems.append("no frame.png was drawn")
        if "Boot Test Anthem" not in status_txt:
            problems.append(f"status.json does not show the fake's track: {status_txt[:300]!r}")
        if "rgb_matrix" in build_dir:
            problems.append("a build directory exists: something was compiled on the Pi")
        if not tokens:
            problems.append("the app never refreshed its token at the fake")
        print(f"image-boot-test: firstboot said: {fb[:2]}")
        print(f"image-boot-test: boot to first poll {first_poll:.0f} s (qemu TCG, 2 vCPUs)")
        names = [n for n in re.findall(r"\(\d+\)\s+(\S+)", releases) if n not in (".", "..")]
        print(f"image-boot-test: releases on the disk: {names}")
        if frame.exists():
            dest = TOP / ".cache/image/out/boot-test-frame.png"
            shutil.copy(frame, dest)
            print(f"image-boot-test: the frame is {dest}")
        if problems:
            fail("; ".join(problems) + f" (console: {console})")
        print("image-boot-test: PASS")
        return 0
    finally:
        if not args.keep and sys.exc_info()[0] is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
