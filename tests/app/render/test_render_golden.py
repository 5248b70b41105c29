"""Golden images of every screen at each supported panel size (PNG backend's frames)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

import pytest
from needledrop.demo import DemoSource
from needledrop.render import Renderer, RenderSettings
from needledrop.state import DisplayState
from PIL import Image

SIZES = [(32, 32), (64, 32), (64, 64), (128, 64), (192, 64)]
DEMO = DemoSource(start=1_795_000_000.0)  # 2026-11-18 (a Wednesday) 11:06:40 UTC
ART_TOLERANCE = 8  # Lanczos-resized art: a few levels of rounding between Pillow builds


def _renderer(size: tuple[int, int]) -> Renderer:
    return Renderer(*size, RenderSettings(tz=UTC), None)


def _playing(index: int, offset_s: float = 5.0) -> tuple[DisplayState, float]:
    now = DEMO.time_of(index, offset_s)
    return DisplayState(playback=DEMO.poll(now), last_played_at=now), now


def _entry(kind: str) -> int:
    for i, e in enumerate(DEMO.entries):
        item = e.item
        if kind == "paused" and item is not None and not e.is_playing:
            return i
        if item is not None and e.is_playing and item.kind == kind:
            return i
    raise LookupError(kind)


def _frame(size: tuple[int, int], scene: str) -> tuple[Image.Image, int]:
    r = _renderer(size)
    if scene == "track":
        state, now = _playing(0)
        return r.frame(state, now), ART_TOLERANCE
    if scene == "scrolled":  # the long title, 4 s after it appeared: moved left
        state, now = _playing(1, 1.0)
        r.frame(state, now)
        return r.frame(state, now + 4.0), ART_TOLERANCE
    if scene in ("episode", "local", "ad", "paused"):
        state, now = _playing(_entry(scene))
        return r.frame(state, now), ART_TOLERANCE
    if scene == "idle":
        now = DEMO.time_of(len(DEMO.entries) - 1, 1.0)
        return r.frame(DisplayState(playback=DEMO.poll(now)), now), 0
    if scene == "reauth":
        return r.frame(DisplayState(reauth_needed=True), DEMO.start), 0
    if scene == "message":
        state = DisplayState(message="Token cache missing: run needledrop auth")
        return r.frame(state, DEMO.start), 0
    if scene == "offline":
        state, now = _playing(0)
        return r.frame(state.with_(offline=True), now), ART_TOLERANCE
    raise ValueError(scene)


SCENES = [
    "track",
    "scrolled",
    "episode",
    "local",
    "paused",
    "ad",
    "idle",
    "reauth",
    "message",
    "offline",
]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("scene", SCENES)
def test_screen_matches_golden_image(
    size: tuple[int, int], scene: str, golden: Callable[..., None]
) -> None:
    img, tolerance = _frame(size, scene)
    assert img.size == size and img.mode == "RGB"
    golden(img, f"{scene}-{size[0]}x{size[1]}", tolerance)
