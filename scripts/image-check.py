#!/usr/bin/env python3
"""Check a built appliance image without booting it (make image runs this after each build).

    python scripts/image-check.py IMAGE.img [--secret S ...] [--hostname H ...] [--shallow]

Reads the raw image's partition table, lists the FAT boot partition with mtools and opens the
ext4 root read-only (a loop mount, as root). Checks the shape (MBR, FAT32 "bootfs" then ext4
"rootfs", config.txt, a one-line cmdline.txt), that nothing personal is baked in (no settings
file, no Spotify env file or token, an empty machine id, no SSH host keys, none of the given
secrets in any file, none of the given display hostnames in any text file), and, unless
--shallow, that the roles' work is there (the app release with the rgbmatrix bindings, the
app and first-boot units enabled). Without --secret/--hostname it takes the secrets and
display hostnames of the project's inventories (demo, example, the boot test). Exit 1 with
every problem listed; 0 prints what was checked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
DEFAULT_SECRETS = (
    "fake-client-secret",  # inventory/demo
    "rt-needledrop-demo",
    "client-secret-boot-test",  # scripts/image-boot-test.py
    "rt-image-boot-test",
)
TEXT_DIRS = ("etc", "var/lib", "root", "home")  # where configuration lives


def inventory_hostnames() -> list[str]:
    import yaml

    names: list[str] = []
    for inv in ("inventory/demo/hosts.yml", "inventory/example/hosts.yml"):
        doc = yaml.safe_load((TOP / inv).read_text())
        hosts = ((doc.get("all", doc).get("children", doc) or {}).get("displays") or {}).get(
            "hosts"
        ) or {}
        names += list(hosts)
    return names


def partitions(image: Path) -> list[dict[str, object]]:
    out = subprocess.run(["sfdisk", "-J", str(image)], check=True, capture_output=True, text=True)
    table = json.loads(out.stdout)["partitiontable"]
    if table.get("label") != "dos":
        raise SystemExit(f"image-check: {image} has a {table.get('label')} table, not MBR")
    parts: list[dict[str, object]] = table["partitions"]
    return parts


def files_containing(root: Path, needle: bytes, dirs: tuple[str, ...] | None = None) -> list[str]:
    """Files under root (or its dirs) whose bytes contain needle (no symlinks followed)."""
    hits = []
    tops = [root / d for d in dirs] if dirs else [root]
    for top in tops:
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                p = Path(dirpath) / name
                if p.is_symlink() or not p.is_file():
                    continue
                try:
                    if needle in p.read_bytes():
                        hits.append(str(p.relative_to(root)))
                except OSError:
                    continue
    return hits


def check(
    image: Path, secrets: list[str], hostnames: list[str], shallow: bool = False
) -> list[str]:
    problems: list[str] = []
    parts = partitions(image)
    if len(parts) < 2:
        return [f"{image} has {len(parts)} partitions, not 2"]
    boot, root = parts[0], parts[1]
    if str(boot["type"]) not in ("c", "b"):
        problems.append(f"partition 1 has type {boot['type']}, not FAT32 (c)")
    if str(root["type"]) != "83":
        problems.append(f"partition 2 has type {root['type']}, not Linux (83)")
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    fat = f"{image}@@{int(str(boot['start'])) * 512}"
    label = subprocess.run(
        ["mlabel", "-s", "-i", fat, "::"], capture_output=True, text=True, env=env
    )
    if "BOOTFS" not in label.stdout.upper():
        problems.append(f"the boot partition is not labelled bootfs ({label.stdout.strip()!r})")
    with tempfile.TemporaryDirectory(prefix="needledrop-check-") as tmp:
        bootdir = Path(tmp) / "boot"
        bootdir.mkdir()
        subprocess.run(["mcopy", "-s", "-n", "-i", fat, "::/*", str(bootdir)], check=True, env=env)
        for name in ("config.txt", "cmdline.txt"):
            if not (bootdir / name).is_file():
                problems.append(f"the boot partition has no {name}")
        if (bootdir / "cmdline.txt").is_file():
            lines = (bootdir / "cmdline.txt").read_text().rstrip("\n").split("\n")
            if len(lines) != 1 or "root=" not in lines[0]:
                problems.append(f"cmdline.txt is not one line naming root=: {lines!r}")
        if (bootdir / "needledrop.toml").exists():
            problems.append("the boot partition holds a needledrop.toml (a display's settings)")
        for secret in secrets:
            for hit in files_containing(bootdir, secret.encode()):
                problems.append(f"secret {secret[:4]}… is in the boot partition's {hit}")

        mnt = Path(tmp) / "root"
        mnt.mkdir()
        start, size = int(str(root["start"])) * 512, int(str(root["size"])) * 512
        subprocess.run(
            [
                "mount",
                "-t",
                "ext4",
                "-o",
                f"ro,loop,offset={start},sizelimit={size}",
                str(image),
                str(mnt),
            ],
            check=True,
        )
        try:
            problems += check_root(mnt, secrets, hostnames, shallow)
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
    return problems


def check_root(r: Path, secrets: list[str], hostnames: list[str], shallow: bool) -> list[str]:
    problems = []
    for path in (
        "etc/needledrop/spotify.env",
        "var/lib/needledrop/spotify-token.json",
        "var/lib/needledrop/firstboot.json",
    ):
        if (r / path).exists():
            problems.append(f"/{path} is in the image: it belongs to one display")
    machine_id = r / "etc/machine-id"
    if machine_id.exists() and machine_id.read_text().strip():
        problems.append("/etc/machine-id is not empty: every display would share it")
    keys = (
        sorted(p.name for p in (r / "etc/ssh").glob("ssh_host_*"))
        if (r / "etc/ssh").is_dir()
        else []
    )
    if keys:
        problems.append(f"SSH host keys are in the image: {keys}")
    for secret in secrets:
        for hit in files_containing(r, secret.encode()):
            problems.append(f"secret {secret[:4]}… is in /{hit}")
    for name in hostnames:
        word = re.compile(rb"\b" + re.escape(name.encode()) + rb"\b")
        for top in TEXT_DIRS:
            for dirpath, _d, files in os.walk(r / top):
                for f in files:
                    p = Path(dirpath) / f
                    if p.is_symlink() or not p.is_file() or p.stat().st_size > 1_000_000:
                        continue
                    data = p.read_bytes()
                    if b"\0" not in data[:4096] and word.search(data):
                        problems.append(f"display hostname {name!r} is in /{p.relative_to(r)}")
    if shallow:
        return problems
    wants = r / "etc/systemd/system/multi-user.target.wants"
    for unit in ("needledrop.service", "needledrop-firstboot.service"):
        if not (wants / unit).is_symlink():
            problems.append(f"{unit} is not enabled")
    current = r / "opt/needledrop/current"
    if not current.is_symlink():
        problems.append("/opt/needledrop/current is missing: the app release is not installed")
    else:
        release = json.loads(
            (
                r
                / "opt/needledrop/releases"
                / os.readlink(current).rsplit("/", 1)[-1]
                / "needledrop-release.json"
            ).read_text()
        )
        if not release.get("rgbmatrix_wheel"):
            problems.append("the release has no rgbmatrix bindings")
    if (r / "var/cache/needledrop/rgb_matrix").exists():
        problems.append("the bindings' build directory is still in the image")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image", type=Path)
    p.add_argument("--secret", action="append", default=[])
    p.add_argument("--hostname", action="append", default=[])
    p.add_argument("--shallow", action="store_true", help="shape and secrets only")
    args = p.parse_args()
    secrets = args.secret or list(DEFAULT_SECRETS)
    hostnames = args.hostname or inventory_hostnames()
    problems = check(args.image, secrets, hostnames, args.shallow)
    if problems:
        for problem in problems:
            print(f"image-check: {problem}", file=sys.stderr)
        return 1
    print(
        f"image-check: {args.image.name}: MBR with bootfs (FAT32) and rootfs (ext4); no settings, "
        f"token, env file, machine id or host keys; none of {len(secrets)} secrets nor "
        f"{len(hostnames)} display hostnames inside"
        + ("" if args.shallow else "; app release with bindings, units enabled")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
