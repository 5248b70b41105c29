#!/usr/bin/python
# Copyright: needledrop contributors
# SPDX-License-Identifier: MIT
"""Write files and settings.toml onto a CircuitPython drive, only what changed."""

from __future__ import annotations

DOCUMENTATION = r"""
module: circuitpython_write
short_description: Write files and settings.toml onto a CircuitPython drive, only what changed
description:
  - Compares the SHA-256 of each file on the drive with the wanted content and writes only those
    that differ, libraries first, then C(settings.toml), then C(code.py) last (a board reloads
    when its drive is written), each through a temporary name and a rename; then syncs.
  - Checks the free space for everything it is about to write before writing anything.
  - C(settings) are merged into the drive's C(settings.toml): keys the user added by hand stay.
  - The drive may be a mounted directory or a FAT image (mtools).
options:
  drive:
    description: The drive (directory or FAT image).
    type: path
    required: true
  src_root:
    description: Directory holding the files to copy, under the same relative paths.
    type: path
  files:
    description: Paths relative to C(src_root) (and to the drive root) to copy.
    type: list
    elements: str
    default: []
  settings:
    description: Keys and values (strings, integers) that settings.toml must hold.
    type: dict
  settings_path:
    description: Where the settings file is on the drive.
    type: str
    default: settings.toml
  backup_unless_marked:
    description: >-
      Files to copy aside as C(<name>.orig) once before replacing them when they don't contain
      C(marker) (a user's own code.py).
    type: list
    elements: str
    default: []
  marker:
    description: Text that marks a file as written by this project.
    type: str
    default: needledrop
  min_free_bytes:
    description: Space that must stay free on the drive after writing.
    type: int
    default: 65536
author: needledrop contributors
"""

RETURN = r"""
changed_files:
  description: Drive paths written (or that would be, in check mode).
  type: list
  returned: always
dropped_keys:
  description: Keys set by hand outside the managed block that the inventory now sets.
  type: list
  returned: always
"""

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.circuitpython_drive import DriveError, open_drive
from ansible.module_utils.circuitpython_settings import SettingsError, merge

# FAT allocates whole clusters; count every file as at least this much.
CLUSTER = 4096


def rounded(size):
    return ((size + CLUSTER - 1) // CLUSTER) * CLUSTER


def order(path, settings_path):
    # Libraries first, settings next, code.py last: the board reloads on each write and
    # should find complete libraries and settings when it runs the new code.py.
    return (path == "code.py", path == settings_path, path)


def main():
    module = AnsibleModule(
        argument_spec={
            "drive": {"type": "path", "required": True},
            "src_root": {"type": "path"},
            "files": {"type": "list", "elements": "str", "default": []},
            "settings": {"type": "dict", "no_log": True},
            "settings_path": {"type": "str", "default": "settings.toml"},
            "backup_unless_marked": {"type": "list", "elements": "str", "default": []},
            "marker": {"type": "str", "default": "needledrop"},
            "min_free_bytes": {"type": "int", "default": 65536},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        drive = open_drive(params["drive"])
        wanted = {}
        for rel in params["files"]:
            src = os.path.join(params["src_root"] or "", rel)
            with open(src, "rb") as handle:
                wanted[rel.lstrip("/")] = handle.read()
        dropped = []
        if params["settings"] is not None:
            current = drive.read(params["settings_path"])
            content, dropped = merge(current, params["settings"])
            wanted[params["settings_path"]] = content

        plan = []
        needed = 0
        backups = {}
        for rel in sorted(wanted, key=lambda p: order(p, params["settings_path"])):
            old = drive.read(rel)
            new = wanted[rel]
            if old is not None and hashlib.sha256(old).digest() == hashlib.sha256(new).digest():
                continue
            plan.append(rel)
            needed += rounded(len(new)) - (rounded(len(old)) if old is not None else 0)
            marker = params["marker"].encode()
            if (
                rel in params["backup_unless_marked"]
                and old is not None
                and marker not in old
                and not drive.exists(rel + ".orig")
            ):
                backups[rel + ".orig"] = old
                needed += rounded(len(old))

        free = drive.free_bytes()
        if plan and free - needed < params["min_free_bytes"]:
            module.fail_json(
                msg=(
                    f"Not enough space on {params['drive']}: {free // 1024} KiB free, "
                    f"{max(needed, 0) // 1024} KiB to write and "
                    f"{params['min_free_bytes'] // 1024} KiB to keep free. Nothing was written. "
                    "Delete what the board no longer needs (old libraries in lib/, unused "
                    "fonts or images) and run the playbook again."
                ),
                free_bytes=free,
                needed_bytes=needed,
            )
        if not module.check_mode and plan:
            for rel, data in backups.items():
                drive.write(rel, data)
            for rel in plan:
                drive.write(rel, wanted[rel])
            drive.sync()
    except (DriveError, OSError, SettingsError) as err:
        module.fail_json(msg=str(err))
    module.exit_json(
        changed=bool(plan),
        changed_files=plan,
        backups=sorted(backups),
        dropped_keys=dropped,
        free_bytes=free,
    )


if __name__ == "__main__":
    main()
