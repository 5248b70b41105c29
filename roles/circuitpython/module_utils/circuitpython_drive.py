# Copyright: needledrop contributors
# SPDX-License-Identifier: MIT
"""A CircuitPython board's drive: a mounted directory, or a FAT image read with mtools.

Both kinds offer the same small interface (read, write, listing, free space, sync) so the
modules that detect boards and write files onto them don't care which one they have. FAT
images are what the tests use (this kernel has no vfat) and what a user can prepare offline.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

BOOT_OUT = "boot_out.txt"
INFO_UF2 = "INFO_UF2.TXT"

_FIRST_LINE = re.compile(
    r"^(?P<impl>.*?CircuitPython) (?P<version>\d+\.\d+\.\d+(?:[-.+][0-9A-Za-z.+-]*)?)"
    r" on (?P<date>[0-9-]+); (?P<board>.+?) with (?P<chip>\S+)\s*$"
)


class DriveError(Exception):
    """A drive that can't be read or written; the message says what to do."""


def parse_boot_out(text: str) -> dict:
    """Facts from boot_out.txt (CircuitPython writes it on every boot)."""
    lines = [line.strip() for line in text.replace("\r", "").split("\n")]
    info = {
        "version": None,
        "version_info": None,
        "build_date": None,
        "board_name": None,
        "chip": None,
        "board_id": None,
        "uid": None,
        "mac": None,
    }
    if lines:
        match = _FIRST_LINE.match(lines[0])
        if match:
            info["version"] = match.group("version")
            info["version_info"] = [
                int(x) for x in match.group("version").split("-")[0].split(".")[:3]
            ]
            info["build_date"] = match.group("date")
            info["board_name"] = match.group("board")
            info["chip"] = match.group("chip")
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "board id":
            info["board_id"] = value.strip()
        elif key == "uid":
            info["uid"] = value.strip().upper()
        elif key == "mac":
            info["mac"] = value.strip().upper()
    return info


def parse_info_uf2(text: str) -> dict:
    """Facts from INFO_UF2.TXT, which a UF2 bootloader drive shows."""
    info = {"bootloader": None, "model": None, "bootloader_board_id": None}
    for line in text.replace("\r", "").split("\n"):
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key.startswith("uf2 bootloader"):
            info["bootloader"] = (key[len("uf2 bootloader") :] + value).strip()
        elif key == "model":
            info["model"] = value.strip()
        elif key == "board-id":
            info["bootloader_board_id"] = value.strip()
    return info


class DirDrive:
    """A mounted drive (or a plain directory standing in for one)."""

    kind = "dir"

    def __init__(self, path: str):
        self.path = path

    def _abs(self, rel: str) -> str:
        rel = rel.lstrip("/")
        if ".." in rel.split("/"):
            raise DriveError(f"refusing path outside the drive: {rel}")
        return os.path.join(self.path, rel)

    def label(self) -> str:
        return os.path.basename(os.path.normpath(self.path))

    def exists(self, rel: str) -> bool:
        return os.path.exists(self._abs(rel))

    def read(self, rel: str):
        try:
            with open(self._abs(rel), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write(self, rel: str, data: bytes) -> None:
        """Write to a temporary name, fsync, then rename over the old file.

        A board resets when its drive is written, and FAT corrupts when it is unplugged
        mid-write: a rename leaves either the old file or the whole new one.
        """
        target = self._abs(rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = os.path.join(os.path.dirname(target), "." + os.path.basename(target) + ".ndtmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)

    def free_bytes(self) -> int:
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def sync(self) -> None:
        os.sync()


class FatImageDrive:
    """A FAT image file, read and written with mtools (no mount, no root)."""

    kind = "image"

    def __init__(self, path: str):
        self.path = path
        self._env = dict(os.environ, MTOOLS_SKIP_CHECK="1", LC_ALL="C")
        self._listing = None

    def _run(self, args, data=None, check=True):
        tool = shutil.which(args[0])
        if tool is None:
            raise DriveError(f"{args[0]} is missing: install mtools to use FAT image drives")
        result = subprocess.run(
            [tool, "-i", self.path, *args[1:]],
            input=data,
            capture_output=True,
            env=self._env,
            check=False,
        )
        if check and result.returncode != 0:
            raise DriveError(
                f"{args[0]} on {self.path} failed: {result.stderr.decode(errors='replace').strip()}"
            )
        return result

    def label(self) -> str:
        out = self._run(["mlabel", "-s", "::"], check=False).stdout.decode(errors="replace")
        match = re.search(r"Volume label is (.*)$", out.strip())
        return match.group(1).strip() if match else ""

    def _paths(self) -> set:
        if self._listing is None:
            out = self._run(["mdir", "-/", "-b", "::/"], check=False).stdout.decode(
                errors="replace"
            )
            self._listing = {
                line.strip()[3:].rstrip("/").lower()
                for line in out.splitlines()
                if line.startswith("::/")
            }
        return self._listing

    def exists(self, rel: str) -> bool:
        return rel.strip("/").lower() in self._paths()

    def read(self, rel: str):
        if not self.exists(rel):
            return None
        return self._run(["mcopy", "-n", "::/" + rel.lstrip("/"), "-"]).stdout

    def write(self, rel: str, data: bytes) -> None:
        rel = rel.strip("/")
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if not self.exists(folder):
                self._run(["mmd", "::/" + folder])
                self._paths().add(folder.lower())
        with tempfile.NamedTemporaryFile(delete=False) as handle:
            handle.write(data)
            local = handle.name
        try:
            self._run(["mcopy", "-o", "-m", local, "::/" + rel])
        finally:
            os.unlink(local)
        self._paths().add(rel.lower())

    def free_bytes(self) -> int:
        out = self._run(["mdir", "::/"]).stdout.decode(errors="replace")
        match = re.search(r"([\d ,.]+) bytes free", out)
        if not match:
            raise DriveError(f"could not read the free space of {self.path}")
        return int(re.sub(r"\D", "", match.group(1)))

    def sync(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def open_drive(path: str):
    if os.path.isdir(path):
        return DirDrive(path)
    if os.path.isfile(path):
        return FatImageDrive(path)
    raise DriveError(f"{path} is neither a mounted drive nor a FAT image")


def describe(path: str) -> dict:
    """Everything the role checks about one drive, without writing to it."""
    drive = open_drive(path)
    facts = {
        "path": path,
        "kind": drive.kind,
        "label": drive.label(),
        "state": "unknown",
    }
    boot_out = drive.read(BOOT_OUT)
    info_uf2 = drive.read(INFO_UF2)
    facts.update(parse_boot_out(boot_out.decode("utf-8", "replace") if boot_out else ""))
    facts.update(parse_info_uf2(info_uf2.decode("utf-8", "replace") if info_uf2 else ""))
    if info_uf2 is not None:
        facts["state"] = "bootloader"
    elif boot_out is not None and facts["version"]:
        facts["state"] = "circuitpython"
    facts["free_bytes"] = drive.free_bytes()
    return facts


def _where(drive: dict) -> str:
    label = drive.get("label")
    return f"{drive['path']} ({'label ' + label if label else 'no label'})"


def choose(drives: list, uid: str) -> tuple[list, list]:
    """The CircuitPython drives that can be this board's (its UID, or any), and bootloaders."""
    wanted = (uid or "").strip().upper()
    running = [d for d in drives if d.get("state") == "circuitpython"]
    candidates = [d for d in running if not wanted or d.get("uid") == wanted]
    bootloaders = [d for d in drives if d.get("state") == "bootloader"]
    return candidates, bootloaders


def ambiguity(candidates: list, uid: str, board: str, host: str) -> str:
    """Why several drives qualify, naming every one of them and the fix; empty for one."""
    if len(candidates) < 2:
        return ""
    by_uid: dict = {}
    for drive in candidates:
        by_uid.setdefault(drive.get("uid"), []).append(drive)
    twins = {key: group for key, group in by_uid.items() if len(group) > 1}
    if twins:
        parts = [
            f"UID {key} is on {len(group)} drives: " + ", ".join(_where(d) for d in group)
            for key, group in twins.items()
        ]
        message = (
            f"{board} can't tell its drive on {host}: "
            + "; ".join(parts)
            + ". A UID belongs to one board, so one of these is a copy (a FAT image or a backup "
            "of the drive) or the same drive mounted twice: unmount or move the copy, or name "
            f"the right one in circuitpython_drive_paths of {board}."
        )
        others = [d for d in candidates if d.get("uid") not in twins]
        if not uid and len(by_uid) > 1:
            message += (
                " Other boards are plugged in too ("
                + ", ".join(f"{_where(d)} with UID {d.get('uid')}" for d in others)
                + f"): set circuitpython_uid of {board} to its UID (the UID line of boot_out.txt)."
            )
        return message
    listing = ", ".join(f"{_where(d)} with UID {d.get('uid')}" for d in candidates)
    return (
        f"Several CircuitPython drives on {host} ({listing}): set circuitpython_uid of {board} "
        f"to one of {', '.join(str(d.get('uid')) for d in candidates)} "
        "(the UID line of boot_out.txt)."
    )
