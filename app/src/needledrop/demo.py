"""A built-in now-playing source for the demo, screenshots and tests: no Spotify account.

`DemoSource.poll(now)` answers like the Spotify source: a `Playback` (or None for nothing
playing). It walks a fixed rotation — tracks (one with a long title that scrolls), a podcast
episode, a local file (no art), a paused track, an ad and a stretch of nothing playing — so
every screen the app has shows up within a few minutes. Art is generated in-process and
addressed as ``demo:<name>`` URLs, which the art cache draws without any network.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageDraw

from needledrop.state import Item, Playback

ART_SIZE = 300


@dataclass(frozen=True)
class DemoEntry:
    item: Item | None  # None: nothing playing
    start_ms: int  # where in the item the demo joins it
    show_s: float  # how long the demo stays on it
    is_playing: bool = True


DEMO_ENTRIES: tuple[DemoEntry, ...] = (
    DemoEntry(
        Item(
            "track",
            "Neon Harbour",
            "The Lumen Tides",
            "Night Ferries",
            214_000,
            "demo:t1",
            "demo:sunset",
        ),
        start_ms=61_000,
        show_s=25,
    ),
    DemoEntry(
        Item(
            "track",
            "A Very Long Song Title That Has To Scroll Across The Panel",
            "Orchestra of Small Machines, Ada & The Pixels",
            "Patterns for Sixty-Four Lights",
            402_000,
            "demo:t2",
            "demo:rings",
        ),
        start_ms=12_000,
        show_s=30,
    ),
    DemoEntry(
        Item(
            "episode",
            "Ep. 42 – Why LED panels flicker on camera",
            "Signal & Noise",
            "Signal & Noise",
            2_710_000,
            "demo:e1",
            "demo:show",
        ),
        start_ms=1_204_000,
        show_s=25,
    ),
    DemoEntry(
        Item("local", "kitchen-radio-demo.flac", "Unknown artist", "", 187_000, None, None),
        start_ms=30_000,
        show_s=20,
    ),
    DemoEntry(
        Item(
            "track",
            "Paper Lanterns",
            "Mira Okafor",
            "Slow Weather",
            176_000,
            "demo:t3",
            "demo:grid",
        ),
        start_ms=95_000,
        show_s=20,
        is_playing=False,
    ),
    DemoEntry(Item("ad", "Advertisement", "", "", 30_000), start_ms=0, show_s=15),
    DemoEntry(
        Item(
            "track",
            "Björk’s Café – “Grüße” (Remix)",
            "Zoë Ångström",
            "Ünïcode Sessions",
            199_000,
            "demo:t4",
            None,
        ),
        start_ms=5_000,
        show_s=20,
    ),
    DemoEntry(None, start_ms=0, show_s=15, is_playing=False),
)


@dataclass(frozen=True)
class DemoSource:
    """Rotates through `entries`; ``start`` is the time the rotation began."""

    start: float = 0.0
    entries: tuple[DemoEntry, ...] = DEMO_ENTRIES
    device_name: str = "Demo"

    @property
    def cycle_s(self) -> float:
        return sum(e.show_s for e in self.entries)

    def entry_at(self, now: float) -> tuple[DemoEntry, float]:
        """The entry shown at ``now`` and the seconds since the demo switched to it."""
        t = (now - self.start) % self.cycle_s
        for entry in self.entries:
            if t < entry.show_s:
                return entry, t
            t -= entry.show_s
        return self.entries[-1], self.entries[-1].show_s  # float rounding at the cycle's end

    def time_of(self, index: int, offset_s: float = 0.0) -> float:
        """The first time at or after ``start`` when entry ``index`` has shown for ``offset_s``."""
        return self.start + sum(e.show_s for e in self.entries[:index]) + offset_s

    def poll(self, now: float) -> Playback | None:
        entry, since = self.entry_at(now)
        if entry.item is None:
            return None
        progress = entry.start_ms + (int(since * 1000) if entry.is_playing else 0)
        return Playback(
            item=entry.item,
            is_playing=entry.is_playing,
            progress_ms=min(progress, entry.item.duration_ms),
            observed_at=now,
            device_name=self.device_name,
        )


def demo_art(name: str, size: int = ART_SIZE) -> Image.Image:
    """Generated cover art for ``demo:<name>`` URLs. Unknown names get a plain gradient."""
    img = Image.new("RGB", (size, size))
    d = ImageDraw.Draw(img)
    u = size / 100
    if name == "sunset":
        for y in range(size):
            f = y / size
            d.line((0, y, size, y), fill=(int(250 - 150 * f), int(120 - 90 * f), int(60 + 100 * f)))
        d.ellipse((30 * u, 38 * u, 70 * u, 78 * u), fill=(255, 214, 90))
        for i, y in enumerate(range(int(62 * u), size, max(1, int(6 * u)))):
            d.rectangle((0, y, size, y + 2 * u), fill=(20 + 5 * i, 24 + 4 * i, 70 + 8 * i))
    elif name == "rings":
        d.rectangle((0, 0, size, size), fill=(12, 16, 40))
        for i in range(9, 0, -1):
            r = i * 5.5 * u
            hue = (i * 37) % 255
            d.ellipse(
                (50 * u - r, 50 * u - r, 50 * u + r, 50 * u + r),
                fill=(hue, 80 + i * 15, 255 - i * 20),
            )
    elif name == "grid":
        d.rectangle((0, 0, size, size), fill=(238, 232, 215))
        blocks = [
            ((0, 0, 38, 55), (200, 40, 40)),
            ((42, 0, 100, 30), (240, 200, 40)),
            ((42, 34, 100, 100), (30, 60, 160)),
            ((0, 59, 38, 100), (30, 30, 30)),
        ]
        for (x0, y0, x1, y1), colour in blocks:
            d.rectangle((x0 * u, y0 * u, x1 * u, y1 * u), fill=colour)
    elif name == "show":
        d.rectangle((0, 0, size, size), fill=(20, 120, 110))
        for k in range(3):
            r = (18 + k * 12) * u
            d.arc(
                (50 * u - r, 42 * u - r, 50 * u + r, 42 * u + r),
                200,
                340,
                fill=(230, 250, 240),
                width=max(1, int(4 * u)),
            )
        d.rounded_rectangle((42 * u, 22 * u, 58 * u, 56 * u), radius=8 * u, fill=(250, 250, 250))
        d.rectangle((48 * u, 56 * u, 52 * u, 72 * u), fill=(250, 250, 250))
        d.rectangle((34 * u, 72 * u, 66 * u, 76 * u), fill=(250, 250, 250))
    else:
        for y in range(size):
            v = int(128 + 100 * math.sin(y / size * math.pi))
            d.line((0, y, size, y), fill=(v // 2, v // 3, v))
    return img


def demo_art_png(name: str) -> bytes:
    """`demo_art` as PNG bytes, as if fetched from a server."""
    buf = io.BytesIO()
    demo_art(name).save(buf, "PNG")
    return buf.getvalue()
