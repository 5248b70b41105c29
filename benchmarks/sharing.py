"""Three displays on one Spotify account: the fleet's Spotify calls, and how late followers are.

    .venv/bin/python benchmarks/sharing.py [--seed N] [--changes N]

1. The polling benchmark's simulated hour (benchmarks/polling.py: 50 min of play with 8 manual
   skips, a pause, silence), played by the fake Spotify on a simulated clock. Without sharing,
   each of the three displays runs the adaptive poller against it (real spotipy, real HTTP):
   three times one display's calls. With sharing, the primary does that and publishes each
   observation into a real ``ShareHub``; the two followers long-poll the hub (their requests
   are replayed on the simulated clock: a request is answered when the hub's version changes or
   after ``long_poll_s``) and make no Spotify call while the primary is healthy. Reported: the
   fleet's Spotify calls ÷ one display's, and LAN requests per follower per hour.
2. Real processes on loopback: a primary and two followers (``needledrop run``, png backend,
   default sharing timings), the fake Spotify changing track ``--changes`` times. A watcher reads
   the three status files every 2 ms; a follower's latency is when its status first shows a
   track minus when the primary's did.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from fakes.displays import Display, free_port, wait_for  # noqa: E402
from fakes.spotify import FakeSpotify, fake_track  # noqa: E402
from needledrop.config import PollingConfig, ShareConfig  # noqa: E402
from needledrop.schedule import PollPlan, after_success  # noqa: E402
from needledrop.share import FOLLOW_GAP_S, ShareHub  # noqa: E402
from polling import HOUR_S, Bench, adaptive, simulate_hour  # noqa: E402

FOLLOWERS = 2


def simulated_hour(seed: int) -> dict[str, float]:
    segments = simulate_hour(seed)
    cfg, share = PollingConfig(), ShareConfig()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(segments, Path(tmp))
        try:
            alone = [len(bench.run(f"display {n}", adaptive(cfg)).polls) for n in range(3)]
            # the primary, publishing what it sees
            hub, changes = ShareHub(), []  # (time, version after the publish)
            t, plan = 0.0, PollPlan()
            calls_before = len(bench.fake.calls_to("player"))
            while t < HOUR_S:
                bench.now = t
                pb = bench.source.poll(t)
                hub.publish(pb, None, t)
                changes.append((t, hub.version))
                plan = after_success(cfg, plan, pb, t)
                t = plan.next_at
            primary_calls = len(bench.fake.calls_to("player")) - calls_before
        finally:
            bench.close()
    # a follower's long polls replayed on the simulated clock
    lan = []
    for _ in range(FOLLOWERS):
        t, seen, requests = 0.0, None, 0
        while t < HOUR_S:
            requests += 1
            current = max((v for at, v in changes if at <= t), default=0)
            if current != seen:
                answer = t
            else:
                later = [at for at, v in changes if t < at <= t + share.long_poll_s and v != seen]
                answer = later[0] if later else t + share.long_poll_s
            seen = max((v for at, v in changes if at <= answer), default=0)
            t = answer + FOLLOW_GAP_S
        lan.append(requests)
    follower_calls = 0  # FollowSource asks Spotify only while the primary is unhealthy
    return {
        "one": alone[0],
        "without": sum(alone),
        "with": primary_calls + follower_calls,
        "lan": statistics.mean(lan),
    }


def latencies(changes: int, seed: int) -> tuple[list[float], int]:
    rng = random.Random(seed)
    real_timings = (
        "[polling]\nskip_bound_s = 1\nburst_s = 1\n"  # the primary sees a change within 1 s
        "[share]\n"  # default long_poll_s, failover_s, recheck_s
    )
    out: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, FakeSpotify() as fake:
        root = Path(tmp)
        port = free_port()
        primary = Display(
            root, "primary", fake, f"serve = true\nport = {port}\n", "spotify", timings=real_timings
        )
        followers = [
            Display(
                root,
                f"follower{n}",
                fake,
                f'primary_url = "http://127.0.0.1:{port}"\n',
                "follow",
                timings=real_timings,
            )
            for n in range(FOLLOWERS)
        ]
        everyone = [primary, *followers]
        seen: dict[tuple[str, str], float] = {}
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                for d in everyone:
                    title = d.title()
                    if title is not None:
                        seen.setdefault((d.name, title), time.monotonic())
                time.sleep(0.002)

        fake.player = fake_track(title="Change 0", track_id="0" * 22)
        for d in everyone:
            d.start()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            wait_for(lambda: all(d.title() == "Change 0" for d in everyone), 60, "start")
            for n in range(1, changes + 1):
                title = f"Change {n}"
                fake.player = fake_track(title=title, track_id=f"{n:022d}")
                wait_for(lambda t=title: all((d.name, t) in seen for d in everyone), 30, f"{title}")
                time.sleep(rng.uniform(0.5, 1.5))
                for f in followers:
                    out.append(seen[(f.name, title)] - seen[(primary.name, title)])
            lan = max(int(f.status()["sharing"]["lan_requests_last_hour"]) for f in followers)
            calls = sum(int(f.status()["spotify_calls_last_hour"]) for f in followers)
            assert calls == 0, "followers called Spotify while the primary was healthy"
        finally:
            stop.set()
            for d in everyone:
                d.stop()
    return out, lan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--changes", type=int, default=20)
    args = ap.parse_args(argv)

    hour = simulated_hour(args.seed)
    ratio, without = hour["with"] / hour["one"], hour["without"] / hour["one"]
    print(f"simulated hour (seed {args.seed}), 3 displays on one account:")
    print(f"  one display alone:        {hour['one']:>5.0f} Spotify calls")
    print(f"  3 displays, no sharing:   {hour['without']:>5.0f} ({without:.2f}x)")
    print(f"  3 displays, sharing:      {hour['with']:>5.0f} ({ratio:.2f}x)")
    print(f"  LAN requests per follower per hour: {hour['lan']:.0f}")

    started = time.monotonic()
    lat, lan_seen = latencies(args.changes, args.seed)
    med, worst = statistics.median(lat), max(lat)
    print(
        f"\nreal processes on loopback ({args.changes} changes x {FOLLOWERS} followers, "
        f"{time.monotonic() - started:.0f} s):"
    )
    print(f"  follower shows a change after its primary: median {med:.3f} s, max {worst:.3f} s")
    print(f"  (LAN requests of the busiest follower in that run: {lan_seen})")
    goals = [
        ("fleet calls / one display's <= 1.1", ratio <= 1.1, f"{ratio:.2f}"),
        ("follower latency median <= 0.3 s", med <= 0.3, f"{med:.3f} s"),
        ("follower latency max <= 1 s", worst <= 1.0, f"{worst:.3f} s"),
    ]
    print()
    for text, ok, value in goals:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
