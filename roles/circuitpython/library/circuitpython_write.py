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
  secrets:
    description: >-
      Further keys whose values are secrets (Wi-Fi password, client secret, code). Only these
      are masked in the module's output: ordinary values such as panel sizes stay readable.
    type: dict
    default: {}
  digests:
    description: >-
      The sha256 and size of each of C(files) (C(circuitpython_bundle) returns them). In check
      mode they stand in for files that were not staged, so nothing needs writing to compare.
    type: dict
    default: {}
  pending:
    description: >-
      Requirements whose wheels a real run downloads first (check mode on a fresh controller):
      reported as files that would be written.
    type: list
    elements: str
    default: []
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
            # Only the secrets are no_log: Ansible masks every value of a no_log parameter
            # wherever it appears in the output, so a panel width of 64 would turn "65 KiB"
            # into "********5 KiB" in every message.
            "settings": {"type": "dict"},
            "secrets": {"type": "dict", "no_log": True, "default": {}},
            "digests": {"type": "dict", "default": {}},
            "pending": {"type": "list", "elements": "str", "default": []},
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
        # rel -> (sha256 hex, size, content); content is None when check mode compares the
        # digest of a file that was not staged.
        wanted = {}
        for rel in params["files"]:
            src = os.path.join(params["src_root"] or "", rel)
            digest = params["digests"].get(rel)
            if module.check_mode and digest and not os.path.exists(src):
                wanted[rel.lstrip("/")] = (digest["sha256"], int(digest["size"]), None)
                continue
            with open(src, "rb") as handle:
                data = handle.read()
            wanted[rel.lstrip("/")] = (hashlib.sha256(data).hexdigest(), len(data), data)
        dropped = []
        if params["settings"] is not None or params["secrets"]:
            current = drive.read(params["settings_path"])
            content, dropped = merge(current, {**(params["settings"] or {}), **params["secrets"]})
            wanted[params["settings_path"]] = (
                hashlib.sha256(content).hexdigest(),
                len(content),
                content,
            )

        plan = []
        needed = 0
        backups = {}
        for rel in sorted(wanted, key=lambda p: order(p, params["settings_path"])):
            old = drive.read(rel)
            sha256, size, _ = wanted[rel]
            if old is not None and hashlib.sha256(old).hexdigest() == sha256:
                continue
            plan.append(rel)
            needed += rounded(size) - (rounded(len(old)) if old is not None else 0)
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
                drive.write(rel, wanted[rel][2])
            drive.sync()
    except (DriveError, OSError, SettingsError) as err:
        module.fail_json(msg=str(err))
    pending = [f"lib/ files of {req} (downloaded first)" for req in params["pending"]]
    module.exit_json(
        changed=bool(plan or pending),
        changed_files=plan + pending,
        backups=sorted(backups),
        dropped_keys=dropped,
        free_bytes=free,
    )


if __name__ == "__main__":
    main()
