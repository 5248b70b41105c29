#!/usr/bin/python
# Copyright: needledrop contributors
# SPDX-License-Identifier: MIT
"""Stage what one board mode needs: .py files from wheels into lib/, plus extra files."""

from __future__ import annotations

DOCUMENTATION = r"""
module: circuitpython_bundle
short_description: Stage the files a CircuitPython board needs, from wheels and local files
description:
  - For each pinned requirement, finds its wheel in C(wheelhouse) and copies the Python modules
    and packages in it (not the metadata) under C(lib/) in C(dest).
  - Copies C(extra) files (a source and a path relative to C(dest)).
  - Writes only files whose content changed; returns the relative paths of everything staged.
  - In check mode writes nothing and returns what it would stage, with each file's digest.
options:
  wheelhouse:
    description: Directory holding the downloaded wheels.
    type: path
    required: true
  requirements:
    description: Pinned requirements, C(name==version).
    type: list
    elements: str
    default: []
  extra:
    description: Further files, each a dict with C(src) and C(dest).
    type: list
    elements: dict
    default: []
  dest:
    description: Staging directory (one per board mode).
    type: path
    required: true
author: needledrop contributors
"""

RETURN = r"""
files:
  description: Staged paths relative to C(dest), also their paths on the board.
  type: list
  returned: always
digests:
  description: The sha256 and size of each staged file, by path.
  type: dict
  returned: always
missing:
  description: >-
    Check mode: requirements without a wheel yet and extra files not fetched yet (a real run
    downloads them first); nothing is staged in check mode.
  type: list
  returned: always
"""

import glob
import hashlib
import os
import re
import tempfile
import zipfile

from ansible.module_utils.basic import AnsibleModule


def normalise(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def put(path, data, check_mode=False):
    """Write data to path unless it holds it already; True when it (would have) changed."""
    try:
        with open(path, "rb") as handle:
            if hashlib.sha256(handle.read()).digest() == hashlib.sha256(data).digest():
                return False
    except FileNotFoundError:
        pass
    if check_mode:
        return True
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Boards of the same mode stage into the same place at once: unique temporary names.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".stage-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True


def main():
    module = AnsibleModule(
        argument_spec={
            "wheelhouse": {"type": "path", "required": True},
            "requirements": {"type": "list", "elements": "str", "default": []},
            "extra": {"type": "list", "elements": "dict", "default": []},
            "dest": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    check = module.check_mode
    files = []
    digests = {}
    missing = []
    changed = False

    def stage(rel, data):
        digests[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        files.append(rel)
        return put(os.path.join(params["dest"], rel), data, check)

    for requirement in params["requirements"]:
        name, sep, version = requirement.partition("==")
        if not sep:
            module.fail_json(msg=f"{requirement} is not pinned: write it as name==version")
        pattern = os.path.join(params["wheelhouse"], f"{normalise(name)}-{version}-*.whl")
        wheels = sorted(glob.glob(pattern))
        if not wheels and check:
            # --check downloads nothing: a real run fetches it first.
            missing.append(requirement)
            continue
        if not wheels:
            module.fail_json(
                msg=f"No wheel for {requirement} in {params['wheelhouse']}: run the playbook with "
                "PyPI reachable from the controller, or put the wheel there by hand"
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            for member in wheel.namelist():
                top = member.split("/", 1)[0]
                if member.endswith("/") or top.endswith((".dist-info", ".data")):
                    continue
                if not member.endswith((".py", ".mpy")) or "__pycache__" in member:
                    continue
                changed |= stage("lib/" + member, wheel.read(member))
    for item in params["extra"]:
        if "src" not in item or "dest" not in item:
            module.fail_json(msg="each extra file needs src and dest")
        if check and not os.path.exists(item["src"]):
            missing.append(item["dest"])
            continue
        with open(item["src"], "rb") as handle:
            changed |= stage(item["dest"], handle.read())
    module.exit_json(
        changed=changed or bool(missing),
        files=sorted(set(files)),
        digests=digests,
        missing=missing,
        src_root=params["dest"],
    )


if __name__ == "__main__":
    main()
