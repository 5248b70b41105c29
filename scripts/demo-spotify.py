#!/usr/bin/env python3
"""The demo's stand-in Spotify: the project's fake (tests/fakes/spotify.py) serving on the
demo's own podman network, playing a fixed rotation of tracks by wall-clock time.

Runs in the ``demo-spotify`` container (make demo); the displays reach it by name. It accepts
the demo's refresh token (``DEMO_REFRESH_TOKEN``, also in inventory/demo) for the fake client
id/secret, so the app refreshes an access token exactly as it would against Spotify. The
molecule ``site`` scenario runs it with its own (canary) client and refresh token.

    python3 scripts/demo-spotify.py [--host 0.0.0.0] [--port 8080]
        [--client-id ID --client-secret SECRET --refresh-token TOKEN]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes.spotify import SCOPES, FakeSpotify, _Grant, fake_track  # noqa: E402

DEMO_REFRESH_TOKEN = "rt-needledrop-demo"
ROTATION = (  # title, artist, album, duration
    ("Neon Harbour", "The Lumen Tides", "Night Ferries", 214_000),
    ("Static Bloom", "Orchestra of Small Machines", "Relays", 187_000),
    ("Kitchen Window", "Ada & The Pixels", "Morning Set", 165_000),
)


def now_playing(start: float) -> dict[str, Any]:
    """The rotation entry for this moment, with its progress."""
    total = sum(d for *_, d in ROTATION)
    at = int((time.time() - start) * 1000) % total
    for title, artist, album, duration in ROTATION:
        if at < duration:
            return fake_track(
                title=title,
                artists=(artist,),
                album=album,
                duration_ms=duration,
                progress_ms=at,
                track_id=f"demo{abs(hash(title)) % 10**8:08d}",
                image_url=None,
            )
        at -= duration
    raise AssertionError("unreachable")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--client-id", default="fake-client-id")
    p.add_argument("--client-secret", default="fake-client-secret")
    p.add_argument("--refresh-token", default=DEMO_REFRESH_TOKEN)
    args = p.parse_args()
    fake = FakeSpotify(
        host=args.host, port=args.port, client_id=args.client_id, client_secret=args.client_secret
    )
    fake.refresh_tokens[args.refresh_token] = _Grant(args.refresh_token, SCOPES)
    start = time.time()
    fake.player = lambda: now_playing(start)
    fake.start()
    print(f"demo Spotify on {args.host}:{fake.port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
