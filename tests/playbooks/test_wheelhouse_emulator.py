"""The wheelhouse's emulator set holds everything the emulator backend imports.

The set is downloaded with --no-deps (roles/wheelhouse/files/needledrop-app-emulator.txt pins
it whole), so a dependency missing from the file would only show on a host, as a failed
offline install. The first tests need no network: they walk the requirements declared in the
metadata of the pinned versions (installed in the project's venv from requirements.txt) and
check each is pinned, at a version that satisfies it, for every Python the wheelhouse targets.
The last resolves the set offline against the built wheelhouse, where one is.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

TOP = Path(__file__).resolve().parents[2]
FILES = TOP / "roles" / "wheelhouse" / "files"
EMULATOR = FILES / "needledrop-app-emulator.txt"
# What an emulator host has besides the emulator set: its kind's folder (Pillow).
BASE = [FILES / "needledrop-app-pillow.txt", FILES / "needledrop-app.txt"]
WHEELHOUSE = TOP / ".cache" / "wheelhouse"


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{path.name}: {line} is not pinned with =="
            out[canonicalize_name(req.name)] = spec.version
    return out


def _pythons() -> list[str]:
    defaults = yaml.safe_load((TOP / "roles" / "wheelhouse" / "defaults" / "main.yml").read_text())
    return sorted({t.split("-py")[1] for t in defaults["wheelhouse_targets"]})


def _closure(python: str) -> dict[str, str]:
    """The packages the app's emulator extra needs on ``python``, by name -> required by."""
    env = default_environment() | {
        "python_version": python,
        "python_full_version": python + ".0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "aarch64",
        "extra": "",
    }
    app = tomllib.loads((TOP / "app" / "pyproject.toml").read_text())
    todo = [
        (Requirement(r), "needledrop[emulator]")
        for r in app["project"]["optional-dependencies"]["emulator"]
    ]
    seen: dict[str, str] = {}
    pins = _pins(EMULATOR) | {k: v for p in BASE for k, v in _pins(p).items()}
    while todo:
        req, by = todo.pop()
        name = canonicalize_name(req.name)
        if (req.marker and not req.marker.evaluate(env)) or name in seen:
            continue
        seen[name] = by
        assert name in pins, f"{req} (needed by {by}) is pinned in no wheelhouse file"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} does not satisfy {req} (needed by {by})"
        )
        assert metadata.version(name) == pins[name], (
            f"the venv has {name} {metadata.version(name)}, the wheelhouse pins {pins[name]}: "
            "pin the same version in requirements.txt, so this check reads the right metadata"
        )
        todo += [(Requirement(r), name) for r in metadata.requires(name) or []]
    return seen


@pytest.mark.parametrize("python", _pythons())
def test_emulator_set_pins_every_dependency_of_the_emulator_extra(python):
    needed = _closure(python)
    assert "rgbmatrixemulator" in needed and "tornado" in needed and "numpy" in needed
    unused = set(_pins(EMULATOR)) - set(needed)
    assert not unused, f"pinned in {EMULATOR.name} but needed by nothing: {unused}"


def test_emulator_set_leaves_out_pygame():
    assert not {"pygame", "pygame-ce"} & set(_pins(EMULATOR))


def _built() -> list[Path]:
    return sorted(WHEELHOUSE.glob("*-emulator")) if WHEELHOUSE.is_dir() else []


@pytest.mark.parametrize("folder", _built() or [None], ids=lambda p: p.name if p else "none")
def test_built_emulator_set_installs_offline_with_its_kinds_folder(folder, tmp_path):
    if folder is None:
        pytest.skip(
            "no emulator set built (wheelhouse_emulator_targets, or make demo BACKEND=emulator)"
        )
    kind = folder.name.removesuffix("-emulator")
    arch, py = kind.split("-py")
    machine = {"amd64": "x86_64", "arm64": "aarch64"}[arch]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index"]
        + ["--quiet", "--only-binary=:all:", "--implementation", "cp", "--python-version", py]
        + [f"--platform=manylinux_2_36_{machine}", f"--platform=manylinux2014_{machine}"]
        + [f"--platform=manylinux_2_28_{machine}", f"--platform=linux_{machine}"]
        + ["--target", str(tmp_path), "--find-links", str(WHEELHOUSE / kind)]
        + ["--find-links", str(folder), *(f"{n}=={v}" for n, v in _pins(EMULATOR).items())],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
