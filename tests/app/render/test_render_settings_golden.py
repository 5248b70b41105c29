"""Golden frames for the settings and sizes that change pixels: [night] brightness, [layout]
clock_24h and show_progress, and the computed layouts of panel sizes nobody tuned by hand.

Settings go through the config parser (`parse_config` → `RenderSettings.from_config`), so a key
that stops reaching the renderer fails here as surely as a renderer that ignores it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, reject, settings
from hypothesis import strategies as st
from needledrop.config import ConfigError, parse_config
from needledrop.render import Renderer, RenderSettings, layout_for
from needledrop.render.layout import FONT_HEIGHTS, LAYOUTS, Layout
from needledrop.render.renderer import CLOCK, TITLE
from needledrop.snapshot import DEMO_START, demo_frame
from needledrop.state import DisplayState, Item, Playback
from PIL import ImageChops

ART_TOLERANCE = 8  # Lanczos-resized art, as in test_render_golden.py
NIGHT_AT = DEMO_START  # 2026-11-18 21:30 UTC: inside a 21:00-07:00 night
DAY_AT = DEMO_START - 9 * 3600  # 12:30 UTC
# Placeholder art (a local file) is flat shapes: frames with it are pixel-exact.
LOCAL = Item("local", "Tape Loop", "Home Studio", "", 200_000, None, None)


def settings_from(**sections: dict[str, Any]) -> RenderSettings:
    cfg = parse_config({"source": "demo", **sections}, env={})
    return replace(RenderSettings.from_config(cfg), tz=UTC)


def frame(settings: RenderSettings, size: tuple[int, int], state: DisplayState, now: float):
    renderer = Renderer(*size, settings, None)
    try:
        return renderer.frame(state, now)
    finally:
        renderer.close()


def playing_local(now: float, progress_ms: int = 80_000) -> DisplayState:
    return DisplayState(playback=Playback(LOCAL, True, progress_ms, now), last_played_at=now)


def idle(now: float) -> DisplayState:
    return DisplayState(playback=None, last_played_at=now - 3600)


def night(brightness: int) -> RenderSettings:
    return settings_from(
        night={"enabled": True, "start": "21:00", "end": "07:00", "brightness": brightness}
    )


# --- night brightness -------------------------------------------------------------------------


@pytest.mark.parametrize("brightness", [1, 15, 20, 50, 99, 100])
def test_night_brightness_scales_every_channel_to_exactly_that_percent(brightness: int) -> None:
    day = frame(settings_from(), (64, 32), playing_local(NIGHT_AT), NIGHT_AT)
    dimmed = frame(night(brightness), (64, 32), playing_local(NIGHT_AT), NIGHT_AT)
    want = [tuple(c * brightness // 100 for c in px) for px in day.get_flattened_data()]
    assert list(dimmed.get_flattened_data()) == want
    # The brightest pixel of the title is white: exactly brightness % of 255 at night.
    assert max(max(px) for px in dimmed.get_flattened_data()) == 255 * brightness // 100


def test_night_dims_only_between_start_and_end() -> None:
    day_frame = frame(settings_from(), (64, 32), playing_local(DAY_AT), DAY_AT)
    assert frame(night(15), (64, 32), playing_local(DAY_AT), DAY_AT).tobytes() == (
        day_frame.tobytes()
    )


@pytest.mark.parametrize("size", [(64, 32), (128, 64)], ids=["64x32", "128x64"])
def test_night_frames_match_their_golden_exactly(
    size: tuple[int, int], golden: Callable[..., None]
) -> None:
    """The idle clock and a playing local file at 15 % (the example config's value)."""
    clock = frame(night(15), size, idle(NIGHT_AT), NIGHT_AT)
    assert max(max(px) for px in clock.get_flattened_data()) == max(CLOCK) * 15 // 100
    golden(clock, f"settings-night15-idle-{size[0]}x{size[1]}", 0)
    golden(
        frame(night(15), size, playing_local(NIGHT_AT), NIGHT_AT),
        f"settings-night15-local-{size[0]}x{size[1]}",
        0,
    )


# --- clock_24h --------------------------------------------------------------------------------


@pytest.mark.parametrize("clock_24h", [True, False], ids=["24h", "12h"])
@pytest.mark.parametrize("size", [(64, 32), (128, 64)], ids=["64x32", "128x64"])
def test_idle_clock_matches_its_golden_in_12_and_24_hour_form(
    clock_24h: bool, size: tuple[int, int], golden: Callable[..., None]
) -> None:
    settings = settings_from(layout={"clock_24h": clock_24h})
    img = frame(settings, size, idle(DEMO_START), DEMO_START)  # 21:30 UTC
    name = "24h" if clock_24h else "12h"
    golden(img, f"settings-clock{name}-{size[0]}x{size[1]}", 0)


def clock_at(hour: int, clock_24h: bool) -> bytes:
    at = datetime(2026, 11, 18, hour, 5, tzinfo=UTC).timestamp()
    return frame(settings_from(layout={"clock_24h": clock_24h}), (64, 32), idle(at), at).tobytes()


def test_12_hour_clock_shows_midnight_and_noon_as_12_and_evenings_minus_12() -> None:
    assert clock_at(0, False) == clock_at(12, True)  # 12:05
    assert clock_at(12, False) == clock_at(12, True)  # 12:05
    assert clock_at(23, False) == clock_at(11, True)  # 11:05
    assert clock_at(21, False) == clock_at(9, False)  # 9:05, both
    assert clock_at(9, False) != clock_at(9, True)  # 9:05, not 09:05
    assert clock_at(21, True) != clock_at(9, True)  # the 24 h clock tells them apart


# --- show_progress ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", sorted(LAYOUTS), ids=[f"{w}x{h}" for w, h in sorted(LAYOUTS)])
def test_progress_off_blanks_exactly_the_bar(size: tuple[int, int]) -> None:
    on = frame(settings_from(), size, playing_local(DEMO_START), DEMO_START)
    off = frame(
        settings_from(layout={"show_progress": False}), size, playing_local(DEMO_START), DEMO_START
    )
    lay = layout_for(*size)
    assert lay.progress is not None
    x, y, w, h = lay.progress
    changed = ImageChops.difference(on, off).getbbox()
    assert changed is not None, "show_progress = false changed nothing"
    assert x <= changed[0] and y <= changed[1] and changed[2] <= x + w and changed[3] <= y + h
    assert off.crop((x, y, x + w, y + h)).getbbox() is None  # the bar's box is black


@pytest.mark.parametrize("size", [(64, 32), (192, 64)], ids=["64x32", "192x64"])
def test_progress_off_matches_its_golden(
    size: tuple[int, int], golden: Callable[..., None]
) -> None:
    settings = settings_from(layout={"show_progress": False})
    img = frame(settings, size, playing_local(DEMO_START), DEMO_START)
    golden(img, f"settings-noprogress-{size[0]}x{size[1]}", 0)


# --- computed layouts -------------------------------------------------------------------------

UNTUNED = ((48, 48), (96, 48), (160, 32), (32, 64), (256, 64), (128, 128), (96, 24))


@pytest.mark.parametrize("size", UNTUNED, ids=[f"{w}x{h}" for w, h in UNTUNED])
def test_computed_layout_frames_match_their_golden(
    size: tuple[int, int], golden: Callable[..., None]
) -> None:
    assert size not in LAYOUTS
    name = f"{size[0]}x{size[1]}"
    golden(demo_frame(size, "track"), f"computed-track-{name}", ART_TOLERANCE)
    golden(demo_frame(size, "idle"), f"computed-idle-{name}", 0)
    local = frame(settings_from(), size, playing_local(DEMO_START), DEMO_START)
    golden(local, f"computed-local-{name}", 0)


def boxes(lay: Layout) -> dict[str, tuple[int, int, int, int]]:
    """Every region a playing frame draws in, as (x, y, w, h)."""
    out = {"art": (lay.art[0], lay.art[1], lay.art[2], lay.art[2])}
    for name in ("title", "artist", "album", "times"):
        slot = getattr(lay, name)
        if slot is not None:
            out[name] = (slot.x, slot.y, slot.w, FONT_HEIGHTS[slot.font])
    if lay.progress is not None:
        out["progress"] = lay.progress
    return out


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


# Panel sizes the config accepts: rows, cols, chain and parallel over their ranges and the pixel
# mappers that change the canvas size, through the config parser (what it refuses is skipped);
# those the renderer can draw (16x16 and up).
MAPPERS = ("", "Rotate:90", "U-mapper", "V-mapper", "U-mapper;Rotate:270")


@settings(suppress_health_check=[HealthCheck.filter_too_much])
@given(
    rows=st.integers(4, 32).map(lambda n: 2 * n),
    cols=st.integers(16, 1024),
    chain=st.integers(1, 32),
    parallel=st.integers(1, 3),
    mapper=st.sampled_from(MAPPERS),
)
@example(rows=16, cols=16, chain=1, parallel=1, mapper="")
@example(rows=64, cols=64, chain=32, parallel=3, mapper="")
@example(rows=16, cols=32, chain=1, parallel=3, mapper="")
def test_every_accepted_panel_size_gets_a_layout_inside_the_panel_without_overlaps(
    rows: int, cols: int, chain: int, parallel: int, mapper: str
) -> None:
    matrix = {
        "rows": rows,
        "cols": cols,
        "chain_length": chain,
        "parallel": parallel,
        "pixel_mapper_config": mapper,
    }
    try:
        cfg = parse_config({"source": "demo", "matrix": matrix}, env={})
    except ConfigError:
        reject()
    width, height = cfg.matrix.size
    assume(width >= 16 and height >= 16)  # below that the renderer refuses (layout_for)
    lay = layout_for(width, height)
    assert (lay.width, lay.height) == (width, height)
    regions = boxes(lay)
    for name, (x, y, w, h) in regions.items():
        assert w > 0 and h > 0, f"{name} is empty on {width}x{height}"
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height, (
            f"{name} {x, y, w, h} leaves the {width}x{height} panel"
        )
    names = sorted(regions)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not overlap(regions[a], regions[b]), (
                f"{a} {regions[a]} overlaps {b} {regions[b]} on {width}x{height}"
            )


@settings(max_examples=30)  # each example draws a frame of up to 600x300
@given(w=st.integers(16, 600), h=st.integers(16, 300))
def test_a_frame_of_any_size_has_that_size_and_draws_the_title(w: int, h: int) -> None:
    img = frame(settings_from(), (w, h), playing_local(DEMO_START), DEMO_START)
    assert img.size == (w, h)
    title = layout_for(w, h).title
    row = img.crop((title.x, title.y, title.x + title.w, title.y + FONT_HEIGHTS[title.font]))
    assert TITLE in {px for px in row.get_flattened_data()}
