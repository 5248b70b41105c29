"""The appliance image's packing and unpacking, on a small root (docs/image.md).

Real tools, no mocks: scripts/image-assemble.sh (mkfs.fat + mtools, mkfs.ext4 -d, sfdisk, xz,
bmaptool), scripts/image-root.sh pios (the path a Raspberry Pi OS Lite download takes, fed with
an image packed here) and scripts/image-check.py (what `make image` checks after each build).
Needs root (the ext4 root is loop-mounted read-only), as CI has.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

TOP = Path(__file__).resolve().parents[2]
DISK_ID = "0xabcd1234"
CMDLINE = "console=serial0,115200 root=PARTUUID=abcd1234-02 rootfstype=ext4 rootwait\n"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="loop-mounts the ext4 root: needs root"),
]


def small_root(path: Path, extra: dict[str, str] | None = None) -> Path:
    files = {
        "etc/os-release": "ID=debian\nVERSION_CODENAME=trixie\n",
        "etc/machine-id": "",
        "etc/hostname": "raspberrypi\n",
        "opt/needledrop/marker": "baked\n",
        "boot/firmware/config.txt": "[all]\ndtparam=audio=off\n",
        "boot/firmware/cmdline.txt": CMDLINE,
        "boot/firmware/overlays/README": "overlays\n",
    } | (extra or {})
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    return path


def assemble(root: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BOOT_MIB="64", ROOT_FREE_MIB="8", IMAGE_COMPRESS="xz")
    return subprocess.run(
        [str(TOP / "scripts/image-assemble.sh"), str(root), str(out), *args],
        capture_output=True,
        text=True,
        env=env,
    )


def image_check(image: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOP / "scripts/image-check.py"), str(image), "--shallow", *args],
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("image")
    root = small_root(base / "root")
    out = base / "out" / "test.img"
    out.parent.mkdir()
    done = assemble(root, out, DISK_ID)
    assert done.returncode == 0, done.stderr
    # The root directory is left as it was (its boot files moved back).
    assert (root / "boot/firmware/cmdline.txt").read_text() == CMDLINE
    return out


def test_the_image_is_laid_out_as_raspberry_pi_os_with_the_source_disk_id(packed: Path) -> None:
    table = subprocess.run(["sfdisk", "-d", str(packed)], capture_output=True, text=True).stdout
    assert f"label-id: {DISK_ID}" in table
    starts = [ln for ln in table.splitlines() if ln.startswith(str(packed))]
    assert "start=        8192" in starts[0] and "type=c" in starts[0]
    assert "type=83" in starts[1]


def test_the_boot_files_are_on_the_fat_and_the_rest_on_the_ext4(
    packed: Path, tmp_path: Path
) -> None:
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    fat = f"{packed}@@{8192 * 512}"
    subprocess.run(["mcopy", "-s", "-n", "-i", fat, "::/*", str(tmp_path)], check=True, env=env)
    assert (tmp_path / "cmdline.txt").read_text() == CMDLINE
    assert (tmp_path / "overlays/README").read_text() == "overlays\n"
    ext4 = tmp_path / "root.ext4"
    subprocess.run(
        ["dd", f"if={packed}", f"of={ext4}", "bs=1M", f"skip={4 + 64}", "status=none"], check=True
    )
    cat = subprocess.run(
        ["debugfs", "-R", "cat /opt/needledrop/marker", str(ext4)], capture_output=True, text=True
    )
    assert cat.stdout == "baked\n"
    ls = subprocess.run(
        ["debugfs", "-R", "ls /boot/firmware", str(ext4)], capture_output=True, text=True
    )
    assert "cmdline.txt" not in ls.stdout  # the mount point stays empty on the root


def test_the_compressed_image_its_sha256_and_bmap_match_the_raw_image(packed: Path) -> None:
    xz = packed.with_name(packed.name + ".xz")
    assert lzma.decompress(xz.read_bytes()) == packed.read_bytes()
    line = packed.with_name(packed.name + ".xz.sha256").read_text().split()
    assert line == [hashlib.sha256(xz.read_bytes()).hexdigest(), xz.name]
    if shutil.which("bmaptool"):
        bmap = packed.with_name(packed.name + ".bmap").read_text()
        assert "<BlockMap>" in bmap and f"<ImageSize> {packed.stat().st_size} </ImageSize>" in bmap


def test_the_check_passes_a_clean_image_and_names_a_baked_secret(
    packed: Path, tmp_path: Path
) -> None:
    ok = image_check(packed, "--secret", "sekrit-canary-5", "--hostname", "kitchen")
    assert ok.returncode == 0, ok.stderr
    root = small_root(
        tmp_path / "root",
        {
            "etc/needledrop/spotify.env": "SPOTIPY_CLIENT_SECRET=sekrit-canary-5\n",
            "etc/hosts": "127.0.1.1\tkitchen\n",
            "boot/firmware/needledrop.toml": 'hostname = "kitchen"\n',
        },
    )
    bad = tmp_path / "bad.img"
    assert assemble(root, bad).returncode == 0
    found = image_check(bad, "--secret", "sekrit-canary-5", "--hostname", "kitchen")
    assert found.returncode == 1
    assert "secret seks… is in /etc/needledrop/spotify.env" in found.stderr.replace("sekr", "seks")
    assert "/etc/needledrop/spotify.env is in the image" in found.stderr
    assert "display hostname 'kitchen' is in /etc/hosts" in found.stderr
    assert "holds a needledrop.toml" in found.stderr


def test_a_pios_download_unpacks_into_a_root_with_its_boot_files_and_disk_id(
    packed: Path, tmp_path: Path
) -> None:
    xz = packed.with_name(packed.name + ".xz")
    sha = hashlib.sha256(xz.read_bytes()).hexdigest()
    dest = tmp_path / "root"
    env = dict(os.environ, IMAGE_NO_BINFMT="1")
    done = subprocess.run(
        [str(TOP / "scripts/image-root.sh"), "pios", str(dest), str(xz), sha],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert (dest / "opt/needledrop/marker").read_text() == "baked\n"
    assert (dest / "boot/firmware/cmdline.txt").read_text() == CMDLINE
    assert Path(f"{dest}.disk-id").read_text().strip() == DISK_ID


def test_a_pios_download_with_another_sha256_is_refused_before_unpacking(
    packed: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "root"
    env = dict(os.environ, IMAGE_NO_BINFMT="1")
    done = subprocess.run(
        [str(TOP / "scripts/image-root.sh"), "pios", str(dest), str(packed), "0" * 64],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2
    assert "image_source_sha256" in done.stderr and "Traceback" not in done.stderr
    assert not any(dest.iterdir())


def test_a_boot_file_the_fat_cannot_hold_stops_the_packing_with_its_reason(
    tmp_path: Path,
) -> None:
    # What Ansible's backup: true leaves next to an edited file (found in a real build).
    root = small_root(tmp_path / "root", {"boot/firmware/cmdline.txt.1.2026-11-30@04:31:39~": "x"})
    done = assemble(root, tmp_path / "out" / "disk.img")
    assert done.returncode == 2
    assert "could not copy" in done.stderr and "FAT" in done.stderr
    assert (root / "boot/firmware/cmdline.txt").read_text() == CMDLINE  # the root is as it was


# Architecture names image-root.sh must refuse: anything but arm64 and amd64 that an
# environment variable can hold (no NUL; empty means the arm64 default).
OTHER_ARCHES = st.text(
    alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), min_size=1
).filter(lambda a: a not in ("arm64", "amd64"))


@settings(max_examples=25)
@given(arch=OTHER_ARCHES)
def test_an_unknown_image_arch_is_refused_before_anything_is_created(arch: str) -> None:
    dest = TOP / ".cache" / "image-arch-refusal" / "root"
    done = subprocess.run(
        [str(TOP / "scripts/image-root.sh"), "debian", str(dest)],
        capture_output=True,
        text=True,
        env=dict(os.environ, IMAGE_ARCH=arch, IMAGE_NO_BINFMT="1"),
    )
    assert done.returncode == 2
    assert "IMAGE_ARCH must be arm64" in done.stderr and "Traceback" not in done.stderr
    assert not dest.parent.exists()


def test_a_pios_download_is_arm64_only(packed: Path, tmp_path: Path) -> None:
    dest = tmp_path / "root"
    done = subprocess.run(
        [str(TOP / "scripts/image-root.sh"), "pios", str(dest), str(packed), "0" * 64],
        capture_output=True,
        text=True,
        env=dict(os.environ, IMAGE_ARCH="amd64", IMAGE_NO_BINFMT="1"),
    )
    assert done.returncode == 2
    assert "Raspberry Pi OS image is arm64" in done.stderr
    assert not dest.exists()


@pytest.mark.parametrize(
    "extra",
    [
        {"image_arch": "armhf"},
        {
            "image_arch": "amd64",
            "image_source": "pios",
            "image_source_path": "/x.img.xz",
            "image_source_sha256": "0" * 64,
        },
        {"image_compress": "gzip"},
    ],
    ids=["armhf", "amd64-from-pios", "gzip"],
)
def test_image_yml_refuses_bad_settings_before_any_change(
    extra: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "build" / "root"
    env = {**os.environ, "ANSIBLE_CONFIG": str(TOP / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(TOP / "inventory/image")]
        + ["-e", json.dumps({**extra, "image_root": str(root)})]
        + [str(TOP / "playbooks/image.yml")],
        cwd=TOP,
        env=env,
        capture_output=True,
        text=True,
    )
    out = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2, out[-2000:]
    assert "fix them in the inventory" in out and "Traceback" not in out
    assert f"{extra.get('image_source', 'debian')}, " in out  # the message shows the values
    assert "changed=0" in out
    assert not root.parent.exists()
