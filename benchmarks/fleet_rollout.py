#!/usr/bin/env python3
"""Fleet rollout benchmark: wall time of site.yml on 1, 3, 6 and 12 displays, and what the
knobs change, measured side by side in one run.

For each fleet size: fresh look-alike Pis (podman containers of molecule/rollout's image, png
backend, the built-in demo source), a full rollout (site.yml: wheelhouse, the build play, the
batches behind the health gate), then a re-run that must change nothing. Then, on the largest
fleet, the no-change re-run again under each variant: forks, pipelining, fact caching with
`gathering = smart`, `strategy: free`, no batches. One more run with profile_tasks says where the
per-host time goes. Prints the table and the ratios; writes the figures as JSON and the plot
(SVG) to --out.

    .venv/bin/python benchmarks/fleet_rollout.py [--hosts 1,3,6,12] [--out .cache/bench-rollout]

The stand-in bindings are compiled once in a warm-up run (one container) before the measured
runs, so every full rollout installs the cached wheel (a fleet's usual case). A benchmark, not a
test: figures are printed, nothing is asserted but changed=0 on the re-runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet_build import pack_standin, podman  # noqa: E402

TOP = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ARCH = os.environ.get("ARCH", "amd64")
SUITE = "trixie"
# molecule/rollout's image: the test image with the display roles' apt packages in it, so the
# figures are Ansible's per-host cost, not downloads from the Debian archive.
IMAGE = f"localhost/needledrop-pios-rollout:{SUITE}-{ARCH}"
TARGET = f"{ARCH}-py3.13"


def start(names: list[str]) -> None:
    if subprocess.run(["podman", "image", "exists", IMAGE]).returncode != 0:
        sys.exit(f"fleet_rollout: no {IMAGE}; run `make molecule S=rollout` once (it makes it)")
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


def remove(names: list[str]) -> None:
    for name in names:
        podman("rm", "-f", "--time", "0", name)


def inventory(work: Path, names: list[str], archive: Path, sha256: str, commit: str) -> Path:
    displays = {
        "hosts": {name: {} for name in names},
        "vars": {
            "ansible_connection": "containers.podman.podman",
            "ansible_user": "root",
            "display_model": "Raspberry Pi 4 Model B Rev 1.5",
            "pi_base_model": "{{ display_model }}",
            "rgb_matrix_pi_model": "{{ display_model }}",
            "pi_base_allow_foreign_architecture": True,
            "rgb_matrix_rows": 32,
            "rgb_matrix_cols": 64,
            "rgb_matrix_source": "archive",
            "rgb_matrix_archive": str(archive),
            "rgb_matrix_archive_sha256": sha256,
            "rgb_matrix_commit": commit,
            "rgb_matrix_controller_cache": str(work / "rgb_matrix-cache"),
            "rgb_matrix_wheelhouse": str(TOP / ".cache/wheelhouse"),
            "matrix_app_backend": "png",
            "matrix_app_source": "demo",
            "matrix_app_controller_cache": str(work / "matrix_app-cache"),
            "matrix_app_releases_keep": 1,
        },
    }
    inv = {"all": {"children": {"displays": displays, "boards": {"hosts": {}}}}}
    path = work / f"hosts-{len(names)}.yml"
    path.write_text(json.dumps(inv, indent=2))  # JSON is YAML
    return path


def playbook(inv: Path, log: Path, env: dict[str, str] | None = None) -> tuple[float, dict]:
    """site.yml once; its wall time and every host's changed count."""
    run_env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **(env or {}))
    extra = json.dumps({"wheelhouse_targets": [TARGET]})
    t0 = time.monotonic()
    with log.open("w") as out:
        rc = subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), "-i", str(inv), "site.yml", "-e", extra],
            cwd=TOP,
            env=run_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        ).returncode
    wall = time.monotonic() - t0
    text = log.read_text()
    if rc != 0:
        sys.exit(f"fleet_rollout: site.yml failed (rc {rc}); see {log}")
    changed = {m[1]: int(m[2]) for m in re.finditer(r"(?m)^(\S+)\s+: ok=\d+\s+changed=(\d+)", text)}
    return wall, changed


def top_tasks(log: Path, n: int = 12) -> list[str]:
    """profile_tasks' slowest tasks from a run's log."""
    lines = log.read_text().splitlines()
    rows = [ln for ln in lines if re.search(r"-+ \d+\.\d+s$", ln)]
    return rows[:n]


def svg_plot(points: dict[str, dict[int, float]], path: Path) -> None:
    """Wall time vs hosts, one line per series, as a small hand-written SVG."""
    w, h, left, bottom, top, right = 560, 340, 60, 40, 20, 150
    hosts = sorted({n for s in points.values() for n in s})
    ymax = max(v for s in points.values() for v in s.values()) * 1.1
    xmax = max(hosts)

    def x(n: float) -> float:
        return left + (w - left - right) * (n / xmax)

    def y(v: float) -> float:
        return h - bottom - (h - bottom - top) * (v / ymax)

    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<line x1="{left}" y1="{y(0)}" x2="{x(xmax)}" y2="{y(0)}" stroke="black"/>',
        f'<line x1="{left}" y1="{y(0)}" x2="{left}" y2="{top}" stroke="black"/>',
        f'<text x="{(left + x(xmax)) / 2}" y="{h - 8}" text-anchor="middle">displays</text>',
        f'<text x="14" y="{(top + y(0)) / 2}" transform="rotate(-90 14 {(top + y(0)) / 2})" '
        'text-anchor="middle">wall time (s)</text>',
    ]
    for n in hosts:
        out.append(f'<text x="{x(n)}" y="{y(0) + 16}" text-anchor="middle">{n}</text>')
    step = 10 ** max(0, len(str(int(ymax))) - 1)
    if ymax / step < 4:
        step //= 2 or 1
    v = 0
    while v <= ymax:
        out.append(f'<text x="{left - 6}" y="{y(v) + 4}" text-anchor="end">{v}</text>')
        out.append(f'<line x1="{left}" y1="{y(v)}" x2="{x(xmax)}" y2="{y(v)}" stroke="#ddd"/>')
        v += step
    for i, (name, series) in enumerate(points.items()):
        c = colors[i % len(colors)]
        pts = " ".join(f"{x(n):.1f},{y(t):.1f}" for n, t in sorted(series.items()))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        for n, t in sorted(series.items()):
            out.append(f'<circle cx="{x(n):.1f}" cy="{y(t):.1f}" r="3" fill="{c}"/>')
        ly = top + 16 * i + 10
        out.append(
            f'<line x1="{w - right + 10}" y1="{ly}" x2="{w - right + 30}" y2="{ly}" '
            f'stroke="{c}" stroke-width="2"/>'
        )
        out.append(f'<text x="{w - right + 35}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,3,6,12", help="fleet sizes (default 1,3,6,12)")
    parser.add_argument("--out", default=str(TOP / ".cache/bench-rollout"))
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    args = parser.parse_args()
    sizes = [int(n) for n in args.hosts.split(",")]

    os.environ.setdefault("CONTAINERS_CONF", str(TOP / "containers.conf"))
    os.environ.setdefault("ANSIBLE_CONFIG", str(TOP / "ansible.cfg"))
    os.environ["PATH"] = f"{VENV_BIN}:{os.environ['PATH']}"
    work = Path(args.out)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    archive, sha256, commit = pack_standin(work)
    results: dict = {"sizes": {}, "variants": {}, "profile": []}
    all_names = [f"nd-bench-{i + 1}" for i in range(max(sizes))]

    try:
        # Warm-up: the wheelhouse, the bindings compile and the app wheel, cached for all runs.
        start(all_names[:1])
        playbook(inventory(work, all_names[:1], archive, sha256, commit), work / "warmup.log")
        for n in sizes:
            names = all_names[:n]
            start(names)
            inv = inventory(work, names, archive, sha256, commit)
            full, _ = playbook(inv, work / f"full-{n}.log")
            again, changed = playbook(inv, work / f"rerun-{n}.log")
            if any(changed.get(h, -1) != 0 for h in names):
                sys.exit(f"fleet_rollout: the re-run on {n} hosts changed something: {changed}")
            results["sizes"][n] = {"full": round(full, 1), "rerun": round(again, 1)}
            print(
                f"{n:3d} hosts: full rollout {full:6.1f} s, no-change re-run {again:6.1f} s",
                flush=True,
            )
        n = max(sizes)
        inv = inventory(work, all_names[:n], archive, sha256, commit)
        variants = {
            "default (forks 10, batches, gathering implicit)": {},
            "forks 5": {"ANSIBLE_FORKS": "5"},
            "forks 20": {"ANSIBLE_FORKS": "20"},
            "pipelining off (podman: not supported either way)": {"ANSIBLE_PIPELINING": "0"},
            "gathering smart + fact cache": {"ANSIBLE_GATHERING": "smart"},
            "strategy free": {"ANSIBLE_STRATEGY": "free"},
            "no batches (one batch of 100%)": {"DISPLAYS_SERIAL_ALL": "1"},
        }
        for name, env in variants.items():
            run_inv = inv
            if env.pop("DISPLAYS_SERIAL_ALL", None):
                doc = json.loads(inv.read_text())
                doc["all"]["children"]["displays"]["vars"]["displays_serial"] = ["100%"]
                run_inv = work / "hosts-serial-all.yml"
                run_inv.write_text(json.dumps(doc))
            if "ANSIBLE_GATHERING" in env:  # fill the cache first
                playbook(run_inv, work / "variant-fill.log", env)
            wall, changed = playbook(run_inv, work / f"variant-{len(results['variants'])}.log", env)
            results["variants"][name] = round(wall, 1)
            print(f"{n} hosts, no-change re-run, {name}: {wall:.1f} s", flush=True)
        prof = work / "profile.log"
        playbook(inv, prof, {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"})
        results["profile"] = top_tasks(prof)
    finally:
        if not args.keep:
            remove(all_names)

    s = results["sizes"]
    one = s[min(sizes)]
    print("\nhosts  full (s)  re-run (s)  re-run / 1 host")
    for k in sizes:
        ratio = s[k]["rerun"] / one["rerun"]
        print(f"{k:5d}  {s[k]['full']:8.1f}  {s[k]['rerun']:10.1f}  {ratio:6.2f}x")
    if len(sizes) > 1:
        lo, hi = min(sizes), max(sizes)
        per_full = (s[hi]["full"] - s[lo]["full"]) / (hi - lo)
        per_rerun = (s[hi]["rerun"] - s[lo]["rerun"]) / (hi - lo)
        print(f"cost per extra host: full {per_full:.1f} s, re-run {per_rerun:.1f} s")
    print(f"\nvariants ({max(sizes)} hosts, no-change re-run):")
    for name, wall in results["variants"].items():
        print(f"  {wall:6.1f} s  {name}")
    print("\nslowest tasks (profile_tasks, no-change re-run):")
    for line in results["profile"]:
        print("  " + line)
    (work / "figures.json").write_text(json.dumps(results, indent=2))
    svg_plot(
        {
            "full rollout": {k: v["full"] for k, v in s.items()},
            "no-change re-run": {k: v["rerun"] for k, v in s.items()},
        },
        work / "rollout-wall-time.svg",
    )
    print(f"\nfigures: {work / 'figures.json'}; plot: {work / 'rollout-wall-time.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
