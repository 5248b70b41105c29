"""A simulated hour of listening, the same for every poller: API calls vs how late changes show.

    .venv/bin/python benchmarks/polling.py [--plot docs/img/polling-tradeoff.png] [--seed N]

The hour: 50 min of play (tracks of 2–6 min, 8 manual skips, three of them in a burst), a
5-min pause, 5 min of nothing playing. The loopback fake Spotify plays it on a simulated clock;
each poller is the real thing — ``SpotifySource`` through real spotipy over HTTP to the fake,
and for the adaptive poller the real scheduler (``schedule.after_success``) — except that time
is passed in instead of slept, so the hour runs in seconds. A change's latency is the time from
the change to the first poll after it (that poll sees it). Compared: the adaptive poller vs a
fixed 1 s and 5 s poller (what other now-playing displays do), then a sweep of skip bounds
2–20 s for the plot.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the fake server lives with the tests

from fakes.spotify import FakeSpotify, fake_track  # noqa: E402
from needledrop.config import PollingConfig, SpotifyConfig  # noqa: E402
from needledrop.schedule import PollPlan, after_success  # noqa: E402
from needledrop.spotify import SpotifySource  # noqa: E402
from plotting import canvas  # noqa: E402

HOUR_S = 3600.0
PLAY_END_S = 3000.0  # 50 min of play ...
PAUSE_END_S = 3300.0  # ... 5 min paused, then 5 min of nothing


# --- the simulated hour --------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One stretch of the hour during which the player's item does not change."""

    start: float
    end: float
    track: int | None  # None: nothing playing
    duration_ms: int
    offset_ms: int  # progress at `start`
    playing: bool
    how_it_starts: str  # "first", "natural", "skip", "pause", "stop"


def simulate_hour(seed: int) -> list[Segment]:
    """Tracks of 2–6 min; 5 lone skips and a burst of 3; then a pause and silence."""
    rng = random.Random(seed)
    lone = {1, 3, 8, 10, 12}  # tracks skipped partway through
    burst = {
        5: None,
        6: 6.0,
        7: 9.0,
    }  # track → seconds heard before the skip (None: random)
    segments: list[Segment] = []
    t, n, how = 0.0, 0, "first"
    while t < PLAY_END_S:
        duration_s = rng.uniform(120, 360)
        heard = duration_s
        if n in lone:
            heard = duration_s * rng.uniform(0.2, 0.8)
        elif n in burst:
            heard = burst[n] if burst[n] is not None else duration_s * rng.uniform(0.3, 0.6)
        end = min(t + heard, PLAY_END_S)
        segments.append(Segment(t, end, n, int(duration_s * 1000), 0, True, how))
        how = "skip" if heard < duration_s else "natural"
        t, n = end, n + 1
    last = segments[-1]
    paused_at_ms = last.offset_ms + int((PLAY_END_S - last.start) * 1000)
    segments.append(
        Segment(
            PLAY_END_S,
            PAUSE_END_S,
            last.track,
            last.duration_ms,
            paused_at_ms,
            False,
            "pause",
        )
    )
    segments.append(Segment(PAUSE_END_S, HOUR_S, None, 0, 0, False, "stop"))
    skips = [s for s in segments if s.how_it_starts == "skip"]
    assert len(skips) == 8, f"the seed gives {len(skips)} skips in 50 min; pick another seed"
    return segments


def player_at(segments: list[Segment], t: float) -> dict[str, Any] | None:
    """The /me/player body at simulated time ``t``."""
    for s in segments:
        if s.start <= t < s.end:
            if s.track is None:
                return None
            progress = s.offset_ms + (int((t - s.start) * 1000) if s.playing else 0)
            return fake_track(
                title=f"Track {s.track}",
                track_id=f"track{s.track:04d}",
                duration_ms=s.duration_ms,
                progress_ms=min(progress, s.duration_ms),
                is_playing=s.playing,
                image_url=None,
            )
    return None


# --- pollers ----------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    polls: list[float]
    wall_s: float

    def latencies(self, segments: list[Segment], how: str) -> list[float]:
        out = []
        for s in segments:
            if s.how_it_starts != how:
                continue
            after = [p for p in self.polls if p >= s.start]
            out.append(after[0] - s.start if after else float("inf"))
        return out


class Bench:
    """The fake server, a token, and a SpotifySource aimed at it; one simulated clock."""

    def __init__(self, segments: list[Segment], workdir: Path) -> None:
        self.segments = segments
        self.now = 0.0
        self.fake = FakeSpotify().start()
        self.fake.player = lambda: player_at(self.segments, self.now)
        token = workdir / "token.json"
        token.write_text(json.dumps(self.fake.grant()))
        cfg = SpotifyConfig(
            client_id=self.fake.client_id,
            client_secret=self.fake.client_secret,
            accounts_url=self.fake.url,
            api_url=self.fake.api_url,
        )
        self.source = SpotifySource(cfg, token, timeout=5.0)

    def close(self) -> None:
        self.source.close()
        self.fake.stop()

    def run(self, name: str, next_after: Callable[[float, Any], float]) -> Run:
        polls: list[float] = []
        t, state = 0.0, None
        started = time.perf_counter()
        calls_before = len(self.fake.calls_to("player"))
        while t < HOUR_S:
            self.now = t
            pb = self.source.poll(t)
            polls.append(t)
            t, state = next_after(t, (pb, state))
        made = len(self.fake.calls_to("player")) - calls_before
        assert made == len(polls), "every poll is one API call"
        return Run(name, polls, time.perf_counter() - started)


def fixed(interval_s: float) -> Callable[[float, Any], tuple[float, Any]]:
    def step(t: float, arg: Any) -> tuple[float, Any]:
        return t + interval_s, None

    return step


def adaptive(cfg: PollingConfig) -> Callable[[float, Any], tuple[float, Any]]:
    def step(t: float, arg: Any) -> tuple[float, Any]:
        pb, plan = arg
        plan = after_success(cfg, plan or PollPlan(), pb, t)
        return plan.next_at, plan

    return step


# --- report ---------------------------------------------------------------------------------------


def median_max(xs: list[float]) -> tuple[float, float]:
    return statistics.median(xs), max(xs)


def row(run: Run, segments: list[Segment], baseline_calls: int) -> dict[str, Any]:
    nat = median_max(run.latencies(segments, "natural"))
    skip = median_max(run.latencies(segments, "skip"))
    return {
        "poller": run.name,
        "calls": len(run.polls),
        "ratio": len(run.polls) / baseline_calls,
        "natural": nat,
        "skip": skip,
        "pause": run.latencies(segments, "pause")[0],
        "stop": run.latencies(segments, "stop")[0],
        "wall_s": run.wall_s,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'poller':<22}{'API calls/h':>12}{'vs 1 s':>8}"
        f"{'natural change med/max':>25}{'manual skip med/max':>22}{'pause seen':>12}"
        f"{'stop seen':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['poller']:<22}{r['calls']:>12}{r['ratio']:>8.3f}"
            f"{r['natural'][0]:>15.2f} s /{r['natural'][1]:>5.2f} s"
            f"{r['skip'][0]:>12.2f} s /{r['skip'][1]:>5.2f} s"
            f"{r['pause']:>10.1f} s{r['stop']:>9.1f} s"
        )


def plot(points: dict[str, list[tuple[float, float, float, float]]], out: Path, hours: int) -> None:
    """calls/h (y) against manual-skip latency (x: median and max) for each poller family."""
    w, h, left, right, top, bottom = 900, 560, 90, 30, 50, 70
    img, d, font, small = canvas(w, h)
    x_max = 21.0
    y_max = max(c for pts in points.values() for _, c, _, _ in pts) * 1.08

    def xy(lat: float, calls: float) -> tuple[float, float]:
        return (
            left + lat / x_max * (w - left - right),
            h - bottom - calls / y_max * (h - top - bottom),
        )

    for x in range(0, 22, 2):
        px, _ = xy(x, 0)
        d.line([(px, top), (px, h - bottom)], fill=(230, 230, 230))
        d.text((px, h - bottom + 6), f"{x}", fill="black", font=small, anchor="ma")
    step = 250 if y_max > 1200 else 100
    for y in range(0, int(y_max) + 1, step):
        _, py = xy(0, y)
        d.line([(left, py), (w - right, py)], fill=(230, 230, 230))
        d.text((left - 8, py), f"{y}", fill="black", font=small, anchor="rm")
    d.rectangle([left, top, w - right, h - bottom], outline="black")
    d.text(
        ((left + w - right) / 2, h - 30),
        f"manual-skip latency, s (filled: median, hollow: worst max; {hours} simulated hours)",
        fill="black",
        font=font,
        anchor="ma",
    )
    d.text((20, top - 30), "API calls per simulated hour (mean)", fill="black", font=font)
    colours = {"adaptive": (200, 60, 30), "fixed interval": (40, 90, 200)}
    legend_y = top + 10
    for name, pts in points.items():
        colour = colours.get(name, (0, 0, 0))
        for idx, kind in ((1, "median"), (2, "max")):
            line = [xy(p[idx + 1], p[1]) for p in pts]
            d.line(line, fill=colour, width=2 if kind == "median" else 1)
            for px, py in line:
                box = [px - 4, py - 4, px + 4, py + 4]
                d.ellipse(box, fill=colour if kind == "median" else "white", outline=colour)
        d.line(
            [(w - right - 190, legend_y + 8), (w - right - 160, legend_y + 8)],
            fill=colour,
            width=2,
        )
        d.text((w - right - 150, legend_y), name, fill="black", font=font)
        legend_y += 22
    for name, pts in points.items():
        if name != "adaptive":
            continue
        for bound, calls, med, _ in pts:
            px, py = xy(med, calls)
            d.text((px + 6, py - 16), f"{bound:g} s", fill=(120, 40, 20), font=small)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--plot", type=Path, help="write the calls-vs-latency plot here (PNG)")
    ap.add_argument("--no-sweep", action="store_true", help="skip the 2–20 s sweep")
    ap.add_argument("--seeds", type=int, default=20, help="other random hours to check (0: none)")
    ap.add_argument("--sweep-hours", type=int, default=5, help="simulated hours per sweep point")
    args = ap.parse_args(argv)

    segments = simulate_hour(args.seed)
    plays = [s for s in segments if s.track is not None and s.playing]
    print(
        f"simulated hour (seed {args.seed}): {len(plays)} tracks in 50 min, "
        f"{sum(s.how_it_starts == 'natural' for s in segments)} natural changes, "
        f"{sum(s.how_it_starts == 'skip' for s in segments)} manual skips "
        f"(burst at {', '.join(f'{s.start:.0f}' for s in segments[6:9])} s), "
        "5 min paused, 5 min nothing\n"
    )
    cfg = PollingConfig()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(segments, Path(tmp))
        try:
            one = bench.run("fixed 1 s", fixed(1.0))
            five = bench.run("fixed 5 s", fixed(5.0))
            ada = bench.run(f"adaptive (bound {cfg.skip_bound_s:g} s)", adaptive(cfg))
            rows = [row(r, segments, len(one.polls)) for r in (one, five, ada)]
            print_table(rows)
            a = rows[2]
            goals = [
                (
                    "calls <= 1/10 of the 1 s poller",
                    a["ratio"] <= 0.1,
                    f"{a['ratio']:.3f}",
                ),
                (
                    "natural changes <= 1 s late (max)",
                    a["natural"][1] <= 1.0,
                    f"{a['natural'][1]:.2f} s",
                ),
                (
                    "manual skips <= 10 s (max)",
                    a["skip"][1] <= 10.0,
                    f"{a['skip'][1]:.2f} s",
                ),
                (
                    "manual skips <= 5 s (median)",
                    a["skip"][0] <= 5.0,
                    f"{a['skip'][0]:.2f} s",
                ),
            ]
            print()
            for text, ok, value in goals:
                print(f"  {'PASS' if ok else 'FAIL'}  {text}: {value}")
            print(
                f"\n  adaptive makes {one_over(a['ratio'])} of the 1 s poller's calls and "
                f"{len(ada.polls) / len(five.polls):.2f}x the 5 s poller's; natural changes show "
                f"{rows[1]['natural'][1] / max(a['natural'][1], 1e-9):.0f}x sooner (max) than the "
                "5 s poller's"
            )
            wall = sum(r["wall_s"] for r in rows)
            print(f"  ({sum(r['calls'] for r in rows)} real HTTP calls in {wall:.1f} s wall time)")

            if args.seeds:
                print(
                    f"\nthe same hour with other random tracks and skip times "
                    f"({args.seeds} seeds, adaptive):"
                )
                seeds_rows = []
                seed = args.seed
                while len(seeds_rows) < args.seeds:
                    seed += 1
                    try:
                        other = simulate_hour(seed)
                    except AssertionError:
                        continue  # fewer than 8 skips fit in 50 min with these track lengths
                    bench.segments = other
                    r = bench.run(f"seed {seed}", adaptive(cfg))
                    seeds_rows.append(row(r, other, int(HOUR_S)))
                bench.segments = segments
                calls = [r["calls"] for r in seeds_rows]
                skip_med = [r["skip"][0] for r in seeds_rows]
                skip_max = [r["skip"][1] for r in seeds_rows]
                nat_max = [r["natural"][1] for r in seeds_rows]
                n = len(seeds_rows)
                print(
                    f"  calls/h: min {min(calls)}, median {statistics.median(calls):.0f}, "
                    f"max {max(calls)}"
                    f" (1 s poller: {int(HOUR_S)}); <= 360 in {sum(c <= 360 for c in calls)}/{n}"
                )
                print(
                    f"  natural change max: worst {max(nat_max):.2f} s; "
                    f"<= 1 s in {sum(x <= 1 for x in nat_max)}/{n}"
                )
                print(
                    f"  manual skip max: worst {max(skip_max):.2f} s; "
                    f"<= 10 s in {sum(x <= 10 for x in skip_max)}/{n}"
                )
                print(
                    f"  manual skip median: {min(skip_med):.2f}–{max(skip_med):.2f} s, "
                    f"median of medians {statistics.median(skip_med):.2f} s; <= 5 s in "
                    f"{sum(x <= 5 for x in skip_med)}/{n}"
                )

            if not args.no_sweep:
                hours = [segments]
                seed = args.seed
                while len(hours) < args.sweep_hours:
                    seed += 1
                    try:
                        hours.append(simulate_hour(seed))
                    except AssertionError:
                        continue
                print(
                    f"\nskip-bound sweep, adaptive vs fixed interval, over {len(hours)} simulated "
                    "hours\n(calls: mean per hour; skip latency: median of the hourly medians / "
                    "worst max):"
                )
                print(
                    f"{'bound/interval':>15}{'adaptive calls':>16}{'skip med/max':>16}"
                    f"{'fixed calls':>13}{'skip med/max':>16}"
                )
                sweep_a, sweep_f = [], []
                for bound in (2, 3, 4, 5, 6, 8, 10, 12, 15, 20):
                    c = replace(cfg, skip_bound_s=float(bound), burst_s=min(cfg.burst_s, bound))
                    pollers = {"a": adaptive(c), "f": fixed(float(bound))}
                    got: dict[str, tuple[float, float, float]] = {}
                    for key, poller in pollers.items():
                        calls, meds, maxes = [], [], []
                        for hour in hours:
                            bench.segments = hour
                            r = bench.run(f"{key} {bound}", poller)
                            med, mx = median_max(r.latencies(hour, "skip"))
                            calls.append(len(r.polls))
                            meds.append(med)
                            maxes.append(mx)
                        got[key] = (statistics.mean(calls), statistics.median(meds), max(maxes))
                    bench.segments = segments
                    (ac, am, ax), (fc, fm, fx) = got["a"], got["f"]
                    sweep_a.append((float(bound), ac, am, ax))
                    sweep_f.append((float(bound), fc, fm, fx))
                    print(
                        f"{bound:>13} s{ac:>16.0f}{am:>9.2f}/{ax:>5.2f}"
                        f"{fc:>13.0f}{fm:>9.2f}/{fx:>5.2f}"
                    )
                if args.plot:
                    plot({"adaptive": sweep_a, "fixed interval": sweep_f}, args.plot, len(hours))
                    print(f"\nplot written to {args.plot}")
        finally:
            bench.close()
    return 0


def one_over(ratio: float) -> str:
    return f"1/{1 / ratio:.1f}" if ratio > 0 else "none"


if __name__ == "__main__":
    raise SystemExit(main())
