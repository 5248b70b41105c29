#!/usr/bin/python
# Copyright: needledrop contributors
# SPDX-License-Identifier: MIT
"""Find CircuitPython drives (and UF2 bootloader drives) on this host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: circuitpython_drives
short_description: Find mounted CIRCUITPY drives and read their boot_out.txt
description:
  - Looks for drives labelled C(CIRCUITPY), C(CIRCUITPY1), ... under the mount roots, at the
    paths given, and through C(/dev/disk/by-id) and the mount table; reads C(boot_out.txt)
    (version, board, chip, Board ID, UID) or C(INFO_UF2.TXT) (bootloader mode) and the free space.
  - A path may be a mounted directory or a FAT image file (read with mtools).
  - Never writes.
options:
  roots:
    description: Directories under which drives are mounted (one or two levels deep).
    type: list
    elements: path
    default: [/media, /run/media, /mnt]
  paths:
    description: Drives to look at whatever their label (directories or FAT images).
    type: list
    elements: path
    default: []
  label_prefix:
    description: Drive labels that count as CircuitPython drives when found under C(roots).
    type: str
    default: CIRCUITPY
  by_id_dir:
    description: Where udev keeps the by-id links of block devices.
    type: path
    default: /dev/disk/by-id
  by_id_patterns:
    description: Shell patterns of by-id names that are CircuitPython boards.
    type: list
    elements: str
    default: ["usb-*CircuitPy*", "usb-Adafruit*", "usb-Raspberry_Pi_Pico*"]
  mounts_file:
    description: The mount table to read.
    type: path
    default: /proc/mounts
  uid:
    description: The board's UID; empty takes any CircuitPython drive as a candidate.
    type: str
    default: ""
  board:
    description: The board's inventory name, for the messages.
    type: str
    default: the board
  host:
    description: The host the board is plugged into, for the messages.
    type: str
    default: this host
author: needledrop contributors
"""

RETURN = r"""
drives:
  description: One entry per drive found, with state circuitpython, bootloader or unknown.
  type: list
  returned: always
unmounted:
  description: CircuitPython block devices seen in by-id that are not mounted.
  type: list
  returned: always
candidates:
  description: CircuitPython drives with the board's UID (every one when no UID is given).
  type: list
  returned: always
bootloaders:
  description: Drives in UF2 bootloader mode.
  type: list
  returned: always
ambiguity:
  description: When several candidates qualify, why, naming each drive and the fix; else "".
  type: str
  returned: always
"""

import fnmatch
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.circuitpython_drive import (
    BOOT_OUT,
    INFO_UF2,
    DriveError,
    ambiguity,
    choose,
    describe,
)


def read_mounts(path):
    mounts = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 2:
                    mountpoint = fields[1].replace("\\040", " ")
                    mounts.setdefault(os.path.realpath(fields[0]), mountpoint)
    except OSError:
        pass
    return mounts


def candidates_under(root, prefix):
    found = []
    if not os.path.isdir(root):
        return found
    for level1 in sorted(os.listdir(root)):
        path1 = os.path.join(root, level1)
        if not os.path.isdir(path1):
            continue
        inner = [path1]
        if not level1.startswith(prefix) and not os.path.exists(os.path.join(path1, INFO_UF2)):
            # /media/<user>/CIRCUITPY
            try:
                inner = [os.path.join(path1, name) for name in sorted(os.listdir(path1))]
            except OSError:
                inner = []
        for path in inner:
            name = os.path.basename(path)
            if os.path.isdir(path) and (
                name.startswith(prefix)
                or os.path.exists(os.path.join(path, INFO_UF2))
                or os.path.exists(os.path.join(path, BOOT_OUT))
            ):
                found.append(path)
    return found


def main():
    module = AnsibleModule(
        argument_spec={
            "roots": {
                "type": "list",
                "elements": "path",
                "default": ["/media", "/run/media", "/mnt"],
            },
            "paths": {"type": "list", "elements": "path", "default": []},
            "label_prefix": {"type": "str", "default": "CIRCUITPY"},
            "by_id_dir": {"type": "path", "default": "/dev/disk/by-id"},
            "by_id_patterns": {
                "type": "list",
                "elements": "str",
                "default": [
                    "usb-*CircuitPy*",
                    "usb-Adafruit*",
                    "usb-Raspberry_Pi_Pico*",
                ],
            },
            "mounts_file": {"type": "path", "default": "/proc/mounts"},
            "uid": {"type": "str", "default": ""},
            "board": {"type": "str", "default": "the board"},
            "host": {"type": "str", "default": "this host"},
        },
        supports_check_mode=True,
    )
    params = module.params
    seen = set()
    ordered = []

    def add(path):
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            ordered.append(path)

    for path in params["paths"]:
        if not os.path.exists(path):
            module.fail_json(
                msg=f"circuitpython drive path {path} does not exist: plug the board in "
                "and mount it, or fix circuitpython_drive_paths"
            )
        add(path)
    for root in params["roots"]:
        for path in candidates_under(root, params["label_prefix"]):
            add(path)

    mounts = read_mounts(params["mounts_file"])
    unmounted = []
    if os.path.isdir(params["by_id_dir"]):
        for name in sorted(os.listdir(params["by_id_dir"])):
            if "-part" in name and not name.endswith("-part1"):
                continue
            if not any(fnmatch.fnmatch(name, pattern) for pattern in params["by_id_patterns"]):
                continue
            device = os.path.realpath(os.path.join(params["by_id_dir"], name))
            if device in mounts:
                add(mounts[device])
            else:
                unmounted.append({"by_id": name, "device": device})

    drives = []
    skipped = []
    for path in ordered:
        try:
            drives.append(describe(path))
        except (DriveError, OSError) as err:
            skipped.append({"path": path, "reason": str(err)})
    candidates, bootloaders = choose(drives, params["uid"])
    module.exit_json(
        changed=False,
        drives=drives,
        unmounted=unmounted,
        skipped=skipped,
        candidates=candidates,
        bootloaders=bootloaders,
        ambiguity=ambiguity(candidates, params["uid"], params["board"], params["host"]),
    )


if __name__ == "__main__":
    main()
