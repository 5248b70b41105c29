"""Release and architecture choice: the demo's wheelhouse follows SUITE/ARCH, the image script
refuses what it cannot build (docs/platforms.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _demo_wheelhouse_targets(env: dict[str, str]) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("SUITE", "ARCH")}
    shown = subprocess.run(
        [str(BIN / "ansible"), "localhost", "-m", "ansible.builtin.debug"]
        + ["-a", "var=wheelhouse_targets", "-o"],
        cwd=TOP,
        env={**base, "ANSIBLE_CONFIG": str(TOP / "ansible.cfg"), **env},
        text=True,
        capture_output=True,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return json.loads(shown.stdout.split("=>", 1)[1])["wheelhouse_targets"]


@pytest.mark.parametrize(
    ("env", "targets"),
    [
        ({}, ["amd64-py3.13"]),
        ({"SUITE": "trixie"}, ["amd64-py3.13"]),
        ({"SUITE": "bookworm"}, ["amd64-py3.11"]),
        ({"SUITE": "bookworm", "ARCH": "arm64"}, ["arm64-py3.11"]),
        ({"ARCH": "arm64"}, ["arm64-py3.13"]),
    ],
)
def test_demo_wheelhouse_is_the_containers_kind(env: dict[str, str], targets: list[str]) -> None:
    assert _demo_wheelhouse_targets(env) == targets


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["amd64", "bullseye"], "unsupported SUITE 'bullseye' (use trixie or bookworm)"),
        (["armhf", "trixie"], "unsupported ARCH 'armhf' (use amd64 or arm64)"),
    ],
)
def test_image_script_refuses_what_it_cannot_build(args: list[str], says: str) -> None:
    built = subprocess.run(
        [str(TOP / "scripts" / "build-test-image.sh"), *args], text=True, capture_output=True
    )
    assert (built.returncode, built.stderr.strip()) == (2, f"build-test-image: {says}")


def test_every_release_has_its_boot_files() -> None:
    image = TOP / "molecule" / "shared" / "image"
    for suite in ("trixie", "bookworm"):
        cmdline = (image / suite / "cmdline.txt").read_text()
        assert cmdline.count("\n") == 1 and cmdline.endswith("\n"), suite
        assert "dtparam=audio=on" in (image / suite / "config.txt").read_text(), suite
    cloud_init = {"user-data", "network-config", "meta-data"}
    assert cloud_init <= {p.name for p in (image / "trixie").iterdir()}
    assert not cloud_init & {p.name for p in (image / "bookworm").iterdir()}
