"""Render cost per frame: incremental ("redraw only what changed") vs a naive full redraw.

Measured side by side in one run, on this machine:

1. For 64×64 and 192×64 panels, one full rotation of the demo source at ``--fps`` frames per
   second of simulated time (the clock is a parameter, so no sleeping), polled every
   ``--poll-s`` seconds like the run loop does:
   - ``loop``: what the run loop does — ``changed()`` every tick, ``frame()`` only when true;
   - ``incremental``: ``frame()`` every tick (cached static layer, dirty regions only);
   - ``naive``: ``frame()`` every tick with ``incremental=False`` (everything drawn anew:
     background, art, all text, bar — the usual "clear and redraw" loop; art comes from
     memory in both, so resizing is not counted against either).
   Reports µs per tick, the naive/loop ratio and the CPU share at ``--fps``. The frames of
   the incremental and the naive renderer are compared pixel for pixel on every tick.
2. Peak RSS (and CPU share) of a real ``needledrop run`` process: png backend, demo source,
   192×64, ``--run-s`` seconds. Goal: ≤ 60 MB, so it fits a Pi Zero 2 W with 512 MB.

Usage: .venv/bin/python benchmarks/render.py [--fps 20] [--run-s 30]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from needledrop.demo import DemoSource
from needledrop.render import Renderer, RenderSettings
from needledrop.state import DisplayState

T0 = 1_795_037_400.0


@dataclass
class Result:
    size: tuple[int, int]
    ticks: int
    loop_us: float
    loop_frames: int
    incremental_us: float
    naive_us: float
    identical: bool


def _states(fps: int, poll_s: float) -> list[tuple[float, DisplayState]]:
    source = DemoSource(start=T0)
    ticks = int(source.cycle_s * fps)
    out = []
    state = DisplayState()
    next_poll = T0
    for i in range(ticks):
        now = T0 + i / fps
        if now >= next_poll:
            pb = source.poll(now)
            state = DisplayState(
                playback=pb,
                last_played_at=now if pb and pb.is_playing else state.last_played_at,
            )
            next_poll = now + poll_s
        out.append((now, state))
    return out


def _time_loop(r: Renderer, states: list[tuple[float, DisplayState]]) -> tuple[float, int]:
    frames = 0
    t = time.perf_counter()
    for now, state in states:
        if r.changed(state, now):
            r.frame(state, now)
            frames += 1
    return time.perf_counter() - t, frames


def _time_frames(r: Renderer, states: list[tuple[float, DisplayState]]) -> float:
    t = time.perf_counter()
    for now, state in states:
        r.frame(state, now)
    return time.perf_counter() - t


def _warm(r: Renderer, states: list[tuple[float, DisplayState]]) -> None:
    """Load fonts and art (a restart with a warm disk cache), then forget frame state."""
    for now, state in states[:: max(1, len(states) // 200)]:
        r.frame(state, now)


def measure(size: tuple[int, int], fps: int, poll_s: float) -> Result:
    states = _states(fps, poll_s)
    settings = RenderSettings(tz=UTC)
    loop = Renderer(*size, settings, None)
    inc = Renderer(*size, settings, None, art=loop.art, fonts=loop.fonts)
    naive = Renderer(*size, settings, None, art=loop.art, fonts=loop.fonts, incremental=False)
    for r in (loop, inc, naive):
        _warm(r, states)
    loop_s, loop_frames = _time_loop(
        Renderer(*size, settings, None, art=loop.art, fonts=loop.fonts), states
    )
    inc_s = _time_frames(Renderer(*size, settings, None, art=loop.art, fonts=loop.fonts), states)
    naive_s = _time_frames(
        Renderer(*size, settings, None, art=loop.art, fonts=loop.fonts, incremental=False),
        states,
    )
    a = Renderer(*size, settings, None, art=loop.art, fonts=loop.fonts)
    b = Renderer(*size, settings, None, art=loop.art, fonts=loop.fonts, incremental=False)
    identical = all(
        a.frame(s, now).tobytes() == b.frame(s, now).tobytes() for now, s in states[::7]
    )
    n = len(states)
    return Result(
        size,
        n,
        loop_s / n * 1e6,
        loop_frames,
        inc_s / n * 1e6,
        naive_s / n * 1e6,
        identical,
    )


@dataclass
class RunResult:
    seconds: float
    peak_rss_mb: float
    cpu_share: float
    frames_written: bool


def measure_run(run_s: float, fps: int) -> RunResult:
    exe = shutil.which("needledrop") or str(Path(sys.executable).parent / "needledrop")
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        cfg = root / "needledrop.toml"
        cfg.write_text(
            f"""source = "demo"
[paths]
token_cache = "{root}/token.json"
state_dir = "{root}/state"
cache_dir = "{root}/cache"
[matrix]
rows = 64
cols = 64
chain_length = 3
[display]
backend = "png"
png_dir = "{root}/frames"
fps = {fps}
"""
        )
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.monotonic()
        subprocess.run(
            [exe, "run", "--config", str(cfg), "--duration", str(run_s)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=root,
        )
        wall = time.monotonic() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        frames = (root / "frames" / "frame.png").exists()
    return RunResult(wall, after.ru_maxrss / 1024, cpu / wall, frames)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fps", type=int, default=20, help="frame rate (ticks per second)")
    p.add_argument("--poll-s", type=float, default=5.0, help="seconds between source polls")
    p.add_argument("--run-s", type=float, default=30.0, help="seconds of `needledrop run`")
    args = p.parse_args()

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; fps {args.fps}")
    print()
    header = (
        f"{'panel':>7} {'ticks':>6} {'loop µs':>8} {'frames':>7} {'incr µs':>8} "
        f"{'naive µs':>9} {'naive/loop':>10} {'naive/incr':>10} {'CPU loop':>8} "
        f"{'CPU naive':>9} same"
    )
    print(header)
    for size in ((64, 64), (192, 64)):
        r = measure(size, args.fps, args.poll_s)
        print(
            f"{size[0]:>3}x{size[1]:<3} {r.ticks:>6} {r.loop_us:>8.1f} {r.loop_frames:>7} "
            f"{r.incremental_us:>8.1f} {r.naive_us:>9.1f} {r.naive_us / r.loop_us:>9.1f}x "
            f"{r.naive_us / r.incremental_us:>9.1f}x {r.loop_us * args.fps / 1e4:>7.2f}% "
            f"{r.naive_us * args.fps / 1e4:>8.2f}% {'yes' if r.identical else 'NO'}"
        )
    print()
    run = measure_run(args.run_s, args.fps)
    verdict = "within" if run.peak_rss_mb <= 60 else "OVER"
    print(
        f"needledrop run (png backend, demo, 192x64, {args.fps} fps, {run.seconds:.0f} s): "
        f"peak RSS {run.peak_rss_mb:.1f} MB ({verdict} the 60 MB goal), "
        f"CPU {run.cpu_share * 100:.1f}% of one core, frames written: {run.frames_written}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
