"""`needledrop render --demo --size WxH --out f.png`: one frame of the demo, no Spotify needed.

Frames are drawn by the same Renderer the run loop uses and written by the png backend. The
demo's clock is fixed (and shown in UTC), so a snapshot is the same picture every time.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC
from pathlib import Path

from PIL import Image

from needledrop.backends.png import PngBackend
from needledrop.demo import DemoSource
from needledrop.render import Renderer, RenderSettings
from needledrop.settings import CANVAS_MIN
from needledrop.state import DisplayState

DEMO_START = 1_795_037_400.0  # 2026-11-18 21:30 UTC: the demo's fixed clock
SCENES = (
    "track",
    "scrolling",
    "episode",
    "local",
    "paused",
    "ad",
    "idle",
    "reauth",
    "message",
    "offline",
    "ratelimited",
    "night",
)
DOC_SIZES = ((32, 32), (64, 32), (64, 64), (128, 64), (192, 64))


class SnapshotError(Exception):
    """A bad argument; ``str()`` is one sentence for the user."""


def parse_size(text: str) -> tuple[int, int]:
    """``"64x32"`` → (64, 32)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise SnapshotError(f"--size must look like 64x32 (width x height), not {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if not (CANVAS_MIN <= w <= 1024 and CANVAS_MIN <= h <= 1024):
        raise SnapshotError(
            f"--size must be from {CANVAS_MIN}x{CANVAS_MIN} to 1024x1024, not {text!r}"
        )
    return w, h


def _entry_index(source: DemoSource, scene: str) -> int:
    for i, e in enumerate(source.entries):
        if e.item is None:
            continue
        if scene == "paused" and not e.is_playing:
            return i
        if e.is_playing and (
            e.item.kind == scene or (scene == "scrolling" and len(e.item.title) > 30)
        ):
            return i
    return 0


def demo_frame(size: tuple[int, int], scene: str = "track", scale: int = 1) -> Image.Image:
    """The demo's frame for ``scene`` (one of SCENES) on a ``size`` panel."""
    if scene not in SCENES:
        raise SnapshotError(f"--scene must be one of {', '.join(SCENES)}, not {scene!r}")
    source = DemoSource(start=DEMO_START)
    settings = RenderSettings(tz=UTC)
    if scene == "night":
        settings = RenderSettings(tz=UTC, night_start_end=(21 * 60, 7 * 60), night_brightness=25)
    renderer = Renderer(*size, settings, None)
    kind = "track" if scene in ("track", "offline", "night") else scene
    idx = _entry_index(source, kind)
    now = source.time_of(idx, 5.0)
    state = DisplayState(playback=source.poll(now), last_played_at=now)
    if scene == "scrolling":
        renderer.frame(state, now - 3.5)  # the title appeared 3.5 s ago: mid-scroll
    elif scene == "idle":
        state = DisplayState(playback=None, last_played_at=now - 3600)
    elif scene == "reauth":
        state = DisplayState(reauth_needed=True)
    elif scene == "message":
        state = DisplayState(message="Token cache missing: run needledrop auth")
    elif scene == "offline":
        state = state.with_(offline=True)
    elif scene == "ratelimited":  # the quota is spent; the last track ended long ago
        state = DisplayState(
            playback=None,
            last_played_at=now - 600,
            rate_limited_until=now + 3595,  # 22:30:00: an hour after the 429
            rate_limit_quota=True,
        )
    img = renderer.frame(state, now)
    renderer.close()
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    return img


def render_demo(size: tuple[int, int], out: Path, scene: str = "track", scale: int = 1) -> Path:
    """Write the demo frame for ``scene`` to ``out`` through the png backend."""
    img = demo_frame(size, scene)
    out = out.resolve()
    PngBackend(out.parent, size, scale=scale, latest_name=out.name).show(img)
    return out


def write_doc_screenshots(directory: Path, scale: int = 4) -> list[Path]:
    """The screenshots in docs/img: the track screen at every documented size and every
    scene at 64x64 and 192x64, each LED enlarged to ``scale``² pixels. Returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    jobs = [((w, h), "track") for w, h in DOC_SIZES]
    jobs += [(size, s) for size in ((64, 64), (192, 64)) for s in SCENES if s != "track"]
    return [
        render_demo(size, directory / f"{scene}-{size[0]}x{size[1]}.png", scene, scale)
        for size, scene in jobs
    ]


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``needledrop render`` (cli.py adds the subcommand)."""
    parser.add_argument(
        "--demo",
        action="store_true",
        required=True,
        help="draw the built-in demo (the only source render supports)",
    )
    parser.add_argument("--size", required=True, help="panel size in LEDs, e.g. 64x64")
    parser.add_argument("--out", required=True, type=Path, help="PNG file to write")
    parser.add_argument(
        "--scene", default="track", choices=SCENES, help="which screen to draw (default: track)"
    )
    parser.add_argument(
        "--scale", type=int, default=1, help="enlarge each LED to N×N pixels (default: 1)"
    )


def run_render(args: argparse.Namespace) -> int:
    """``needledrop render``: write the frame; raises SnapshotError for bad arguments."""
    if not 1 <= args.scale <= 64:
        raise SnapshotError(f"--scale must be from 1 to 64, not {args.scale}")
    out = render_demo(parse_size(args.size), args.out, args.scene, args.scale)
    print(out)
    return 0


if __name__ == "__main__":  # python -m needledrop.snapshot docs/img
    import sys

    for path in write_doc_screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")):
        print(path)
