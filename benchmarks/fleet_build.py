#!/usr/bin/env python3
"""Fleet build benchmark: how many compiles site.yml does on 3 displays, and what a re-run costs.

Starts three look-alike Pis (podman containers of the project's test image), runs the same
site.yml twice against them with the rgbmatrix stand-in sources (tests/fixtures), and prints:

- the number of compiles in the fleet (counted by the stand-in's own compile log on each host,
  not by the role's bookkeeping) next to what a naive per-host `pip install` does (one per host);
- the changed count of every host on the second run (expected 0);
- the wall time of the second run as a ratio of the first (goal <= 20 %).

With --naive it also measures the naive way for real on three fresh containers: build packages
and `pip install` of the sources on every host (benchmarks/naive_per_host.yml).

    .venv/bin/python benchmarks/fleet_build.py [--hosts 3] [--naive] [--keep]

Needs podman, the project venv (ansible) and network for apt inside the containers; run it
from anywhere. A benchmark, not a test: figures are printed, nothing is asserted but changed=0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ARCH = os.environ.get("ARCH", "amd64")
IMAGE = f"localhost/needledrop-pios:bookworm-{ARCH}"
COMPILE_LOG = "/var/log/rgbmatrix-standin-compiles.log"
MODELS = [
    "Raspberry Pi 4 Model B Rev 1.5",
    "Raspberry Pi Zero 2 W Rev 1.0",
    "Raspberry Pi 5 Model B Rev 1.0",
    "Raspberry Pi 3 Model B Plus Rev 1.3",
    "Raspberry Pi 400 Rev 1.0",
    "Raspberry Pi 5 Model B Rev 1.1",
]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kw)


def podman(*args: str, capture: bool = True) -> str:
    out = run(["podman", *args], capture_output=capture)
    return out.stdout.strip() if capture else ""


def pack_standin(work: Path) -> tuple[Path, str, str]:
    """The stand-in tree as a source archive; its sha1 plays the upstream commit."""
    archive = work / "standin.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(TOP / "tests/fixtures/rgbmatrix-standin", arcname="rgbmatrix-standin")
    data = archive.read_bytes()
    return archive, hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest()


def start(names: list[str]) -> None:
    run([str(TOP / "scripts/build-test-image.sh"), ARCH, "bookworm"], capture_output=True)
    for name in names:
        podman("rm", "-f", "--time", "0", name)
        podman(
            "run", "-d", "--name", name, "--hostname", name, "--systemd=always", IMAGE, "/sbin/init"
        )
    for name in names:
        subprocess.run(
            ["podman", "exec", name, "systemctl", "is-system-running", "--wait"],
            capture_output=True,
            text=True,
        )


def inventory(work: Path, names: list[str], archive: Path, sha256: str, commit: str) -> Path:
    hosts = {
        name: {
            "pi_base_model": MODELS[i % len(MODELS)],
            "rgb_matrix_pi_model": MODELS[i % len(MODELS)],
        }
        for i, name in enumerate(names)
    }
    inv = {
        "all": {
            "children": {
                "displays": {
                    "hosts": hosts,
                    "vars": {
                        "ansible_connection": "containers.podman.podman",
                        "ansible_user": "root",
                        "pi_base_allow_foreign_architecture": True,
                        "rgb_matrix_source": "archive",
                        "rgb_matrix_archive": str(archive),
                        "rgb_matrix_archive_sha256": sha256,
                        "rgb_matrix_commit": commit,
                        "rgb_matrix_controller_cache": str(work / "cache"),
                        "rgb_matrix_wheelhouse": str(TOP / ".cache/wheelhouse"),
                        "rgb_matrix_build_environment": {
                            "RGBMATRIX_STANDIN_COMPILE_LOG": COMPILE_LOG
                        },
                    },
                },
                "boards": {"hosts": {}},
            }
        }
    }
    path = work / "hosts.yml"
    path.write_text(json.dumps(inv, indent=2))  # JSON is YAML
    return path


def playbook(
    inv: Path, play: Path, extra: dict, log: Path, env_extra: dict[str, str] | None = None
) -> tuple[float, dict[str, int]]:
    """Runs one playbook (the log in `log`, `env_extra` over this environment); returns its
    wall time and the changed count of every host. Exits naming the log when it fails."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **(env_extra or {}))
    t0 = time.monotonic()
    with log.open("w") as out:
        rc = subprocess.run(
            [
                str(VENV_BIN / "ansible-playbook"),
                "-i",
                str(inv),
                str(play),
                "-e",
                json.dumps(extra),
            ],
            cwd=TOP,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode
    wall = time.monotonic() - t0
    text = log.read_text()
    if rc != 0:
        sys.exit(f"{Path(sys.argv[0]).stem}: {play.name} failed (rc {rc}); see {log}")
    changed = {m[1]: int(m[2]) for m in re.finditer(r"(?m)^(\S+)\s+: ok=\d+\s+changed=(\d+)", text)}
    return wall, changed


def compiles(names: list[str]) -> dict[str, int]:
    counts = {}
    for name in names:
        out = subprocess.run(
            ["podman", "exec", name, "sh", "-c", f"cat {COMPILE_LOG} 2>/dev/null | wc -l"],
            capture_output=True,
            text=True,
        )
        counts[name] = int(out.stdout.strip() or 0)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=3, help="displays in the fleet (default 3)")
    parser.add_argument("--naive", action="store_true", help="also measure per-host pip installs")
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    args = parser.parse_args()

    os.environ.setdefault("CONTAINERS_CONF", str(TOP / "containers.conf"))
    os.environ["PATH"] = f"{VENV_BIN}:{os.environ['PATH']}"
    work = TOP / ".cache/bench-fleet"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    archive, sha256, commit = pack_standin(work)
    names = [f"nd-bench-{i + 1}" for i in range(args.hosts)]
    extra = {"wheelhouse_targets": [f"{ARCH}-py3.11"]}

    try:
        start(names)
        inv = inventory(work, names, archive, sha256, commit)
        first, changed1 = playbook(inv, TOP / "site.yml", extra, work / "run1.log")
        built = compiles(names)
        second, changed2 = playbook(inv, TOP / "site.yml", extra, work / "run2.log")
        built2 = compiles(names)
        naive = None
        if args.naive:
            naive_names = [f"nd-naive-{i + 1}" for i in range(args.hosts)]
            start(naive_names)
            try:
                ninv = inventory(work, naive_names, archive, sha256, commit)
                nwall, _ = playbook(
                    ninv, TOP / "benchmarks/naive_per_host.yml", {}, work / "naive.log"
                )
                naive = (nwall, compiles(naive_names))
            finally:
                if not args.keep:
                    for name in naive_names:
                        podman("rm", "-f", "--time", "0", name)
    finally:
        if not args.keep:
            for name in names:
                podman("rm", "-f", "--time", "0", name)

    print(f"fleet_build: {args.hosts} hosts ({ARCH}, bookworm), site.yml twice, stand-in sources")
    print(f"  compiles, first run:  {sum(built.values())}  per host {built}")
    print(f"  compiles, second run: {sum(built2.values()) - sum(built.values())}")
    print(f"  naive per-host pip install: {args.hosts} compiles (one on every host)")
    if naive:
        print(
            f"    measured: {sum(naive[1].values())} compiles, {naive[0]:.1f} s wall "
            f"(site.yml run 1, with pi_base: {first:.1f} s)"
        )
    print(f"  first run:  {first:.1f} s  changed {changed1}")
    print(f"  second run: {second:.1f} s  changed {changed2}")
    print(f"  second/first wall time: {100 * second / first:.1f} %  (goal <= 20 %)")
    ok = sum(built.values()) == 1 and all(changed2.get(name) == 0 for name in names)
    print(f"  changed=0 on the second run: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
