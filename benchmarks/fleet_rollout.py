#!/usr/bin/env python3
"""Fleet rollout benchmark: wall time of site.yml on 1, 3, 6 and 12 displays, and what the
knobs change, measured side by side in one run.

For each fleet size: fresh look-alike Pis (podman containers of molecule/rollout's image, png
backend, the built-in demo source), a full rollout (site.yml: wheelhouse, the build play, the
batches behind the health gate), then a re-run that must change nothing. Then, on the largest
fleet, the no-change re-run again under each variant: forks, pipelining, fact caching with
`gathering = smart`, `strategy: free`, no batches. One more run with profile_tasks says where the
per-host time goes. Prints the table and the ratios; writes the figures as JSON and the plot
(PNG) to --plot.

    .venv/bin/python benchmarks/fleet_rollout.py [--hosts 1,3,6,12] [--variants-on 6]
        [--out .cache/bench-rollout] [--plot docs/img/rollout-wall-time.png]

The stand-in bindings are compiled once in a warm-up run (one container) before the measured
runs, so every full rollout installs the cached wheel (a fleet's usual case). A benchmark, not a
test: figures are printed, nothing is asserted but changed=0 on the re-runs.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet_build import playbook as run_playbook  # noqa: E402
from fleet_build import podman  # noqa: E402
from plotting import canvas  # noqa: E402

TOP = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
ARCH = os.environ.get("ARCH", "amd64")
SUITE = "trixie"
# molecule/rollout's image: the test image with the display roles' apt packages in it, so the
# figures are Ansible's per-host cost, not downloads from the Debian archive.
IMAGE = f"localhost/needledrop-pios-rollout:{SUITE}-{ARCH}"
TARGET = f"{ARCH}-py3.13"


def pack_standin(work: Path) -> tuple[Path, str, str]:
    """The stand-in packed byte for byte as tests/fixtures/pack-standin.yml packs it, so the
    bindings wheel molecule/rollout compiled (.cache/rollout) is found in the cache."""
    archive = work / "standin.tar.gz"
    src = TOP / "tests/fixtures/rgbmatrix-standin"
    subprocess.run(
        f"tar -C '{src.parent}' --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner"
        " --exclude=__pycache__ --exclude='*.egg-info' --exclude=build"
        f" -c '{src.name}' | gzip -n > '{archive}'",
        shell=True,
        check=True,
    )
    data = archive.read_bytes()
    return archive, hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest()


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
            "rgb_matrix_controller_cache": str(TOP / ".cache/rollout/rgb_matrix-cache"),
            "rgb_matrix_wheelhouse": str(TOP / ".cache/wheelhouse"),
            "matrix_app_backend": "png",
            "matrix_app_source": "demo",
            "matrix_app_controller_cache": str(TOP / ".cache/rollout/matrix_app-cache"),
            "matrix_app_releases_keep": 1,
        },
    }
    inv = {"all": {"children": {"displays": displays, "boards": {"hosts": {}}}}}
    path = work / f"hosts-{len(names)}.yml"
    path.write_text(json.dumps(inv, indent=2))  # JSON is YAML
    return path


def playbook(inv: Path, log: Path, env: dict[str, str] | None = None) -> tuple[float, dict]:
    """site.yml once; its wall time and every host's changed count."""
    return run_playbook(inv, TOP / "site.yml", {"wheelhouse_targets": [TARGET]}, log, env)


def top_tasks(log: Path, n: int = 12) -> list[str]:
    """profile_tasks' slowest tasks from a run's log."""
    lines = log.read_text().splitlines()
    rows = [ln for ln in lines if re.search(r"-+ \d+\.\d+s$", ln)]
    return rows[:n]


def png_plot(points: dict[str, dict[int, float]], out: Path) -> None:
    """Wall time (y) against the number of displays (x), one line per series, as a PNG."""
    w, h, left, right, top, bottom = 760, 460, 80, 30, 50, 60
    img, d, font, small = canvas(w, h)
    hosts = sorted({n for series in points.values() for n in series})
    x_max = max(hosts)
    y_max = max(v for series in points.values() for v in series.values()) * 1.1

    def xy(n: float, t: float) -> tuple[float, float]:
        return (
            left + n / x_max * (w - left - right),
            h - bottom - t / y_max * (h - top - bottom),
        )

    for n in hosts:
        px, _ = xy(n, 0)
        d.line([(px, top), (px, h - bottom)], fill=(230, 230, 230))
        d.text((px, h - bottom + 6), str(n), fill="black", font=small, anchor="ma")
    step = next(s for s in (5, 10, 20, 30, 60, 120, 300, 600) if y_max / s <= 10)
    for t in range(0, int(y_max) + 1, step):
        _, py = xy(0, t)
        d.line([(left, py), (w - right, py)], fill=(230, 230, 230))
        d.text((left - 8, py), str(t), fill="black", font=small, anchor="rm")
    d.rectangle([left, top, w - right, h - bottom], outline="black")
    d.text(((left + w - right) / 2, h - 28), "displays", fill="black", font=font, anchor="ma")
    d.text((20, top - 32), "wall time of site.yml, s", fill="black", font=font)
    colours = [(200, 60, 30), (40, 90, 200), (40, 150, 60)]
    legend_y = top + 10
    for i, (name, series) in enumerate(points.items()):
        colour = colours[i % len(colours)]
        line = [xy(n, t) for n, t in sorted(series.items())]
        d.line(line, fill=colour, width=2)
        for (px, py), t in zip(line, [t for _, t in sorted(series.items())], strict=True):
            d.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)
            d.text((px + 6, py - 18), f"{t:.0f}", fill=colour, font=small)
        d.line([(left + 20, legend_y + 8), (left + 50, legend_y + 8)], fill=colour, width=2)
        d.text((left + 58, legend_y), name, fill="black", font=font)
        legend_y += 22
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)


def variants(work: Path, inv: Path, n: int, results: dict) -> None:
    """The no-change re-run on n hosts under each knob, then once with profile_tasks."""
    runs = {
        "forks 5": {"ANSIBLE_FORKS": "5"},
        "forks 20": {"ANSIBLE_FORKS": "20"},
        "gathering smart + fact cache": {"ANSIBLE_GATHERING": "smart"},
        "strategy free (batched play)": {"ANSIBLE_STRATEGY": "free"},
        "no batches (serial 100%)": {},
    }
    for name, env in runs.items():
        run_inv = inv
        if name.startswith("no batches"):
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


def plot(results: dict, out: Path) -> None:
    s = {int(k): v for k, v in results["sizes"].items()}
    png_plot(
        {
            "full rollout": {k: v["full"] for k, v in s.items()},
            "no-change re-run": {k: v["rerun"] for k, v in s.items()},
        },
        out,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,3,6,12", help="fleet sizes (default 1,3,6,12)")
    parser.add_argument("--out", default=str(TOP / ".cache/bench-rollout"))
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    parser.add_argument(
        "--variants-on", type=int, default=6, help="fleet size of the knob runs (default 6)"
    )
    parser.add_argument("--plot", default=str(TOP / "docs/img/rollout-wall-time.png"))
    parser.add_argument("--plot-only", help="only draw the plot from a figures.json")
    args = parser.parse_args()
    if args.plot_only:
        plot(json.loads(Path(args.plot_only).read_text()), Path(args.plot))
        return 0
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
            if n == args.variants_on:
                variants(work, inv, n, results)
            (work / "figures.json").write_text(json.dumps(results, indent=2))
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
    print(f"\nvariants ({args.variants_on} hosts, no-change re-run; default above):")
    for name, wall in results["variants"].items():
        print(f"  {wall:6.1f} s  {name}")
    print("\nslowest tasks (profile_tasks, no-change re-run):")
    for line in results["profile"]:
        print("  " + line)
    (work / "figures.json").write_text(json.dumps(results, indent=2))
    plot(results, Path(args.plot))
    print(f"\nfigures: {work / 'figures.json'}; plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
