"""While Spotify rate-limits the display (a 429 with a long Retry-After): the last track while it
can still be playing, with an amber corner mark; once its predicted end has passed, the clock
with "Spotify paused until HH:MM" in the display's time zone, readable on every panel size."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from needledrop.render import Renderer, RenderSettings
from needledrop.render.font import FontSet
from needledrop.render.layout import LAYOUTS
from needledrop.render.renderer import AMBER, OFFLINE
from needledrop.snapshot import DOC_SIZES, demo_frame
from needledrop.state import DisplayState, Item, Playback, until_minute
from PIL import Image

NOW = 1_795_037_400.0  # 2026-11-18 21:30 UTC
SONG = Item("track", "Windowlicker", "Aphex Twin", "Windowlicker", 200_000, item_id="t1")
SIZE_IDS = [f"{w}x{h}" for w, h in DOC_SIZES]


def limited(playback: Playback | None, until: float = NOW + 3600) -> DisplayState:
    return DisplayState(
        playback=playback, last_played_at=NOW, rate_limited_until=until, rate_limit_quota=True
    )


FONTS = FontSet()  # read once: loading the BDF files is most of a small renderer's start


def renderer(size: tuple[int, int], tz: object = UTC, **kw: object) -> Renderer:
    return Renderer(*size, RenderSettings(tz=tz, **kw), None, fonts=FONTS)  # type: ignore[arg-type]


def corner(img: Image.Image, n: int) -> set[tuple[int, int, int]]:
    return {img.getpixel((x, y)) for x in range(img.width - n, img.width) for y in range(n)}  # type: ignore[misc]


@pytest.mark.parametrize("size", DOC_SIZES, ids=SIZE_IDS)
def test_rate_limited_clock_matches_golden_image(
    size: tuple[int, int], golden: Callable[..., None]
) -> None:
    golden(demo_frame(size, "ratelimited"), f"ratelimited-{size[0]}x{size[1]}", 0)


@pytest.mark.parametrize("size", DOC_SIZES, ids=SIZE_IDS)
def test_the_track_stays_with_a_mark_until_its_predicted_end_then_the_paused_clock(size):
    pb = Playback(SONG, True, 150_000, NOW)  # 50 s left
    state = limited(pb)
    r = renderer(size)
    before_end = r.frame(state, NOW + 49)
    assert corner(before_end, LAYOUTS[size].mark) == {AMBER}  # the track, marked
    after_end = r.frame(state, NOW + 51)
    nothing = renderer(size).frame(limited(None), NOW + 51)
    assert after_end.tobytes() == nothing.tobytes()  # the paused clock, track forgotten
    plain_clock = renderer(size).frame(DisplayState(), NOW + 51)
    assert after_end.tobytes() != plain_clock.tobytes()  # ... with its mark


@pytest.mark.parametrize("size", DOC_SIZES, ids=SIZE_IDS)
def test_the_track_before_its_end_is_the_normal_track_screen_plus_the_corner_mark(size):
    pb = Playback(SONG, True, 150_000, NOW)
    marked = renderer(size).frame(limited(pb), NOW + 10)
    offline = renderer(size).frame(DisplayState(playback=pb, offline=True), NOW + 10)
    n = LAYOUTS[size].mark
    assert corner(offline, n) == {OFFLINE} and corner(marked, n) == {AMBER}
    assert marked.crop((0, n + 1, *size)).tobytes() == offline.crop((0, n + 1, *size)).tobytes()


@pytest.mark.parametrize("size", DOC_SIZES, ids=SIZE_IDS)
def test_an_ad_or_nothing_playing_shows_the_paused_clock_at_once(size):
    ad = Playback(Item("ad", "Advertisement", "", "", 0), True, 5_000, NOW)
    nothing = renderer(size).frame(limited(None), NOW + 1).tobytes()
    assert renderer(size).frame(limited(ad), NOW + 1).tobytes() == nothing


def test_a_paused_track_stays_until_the_idle_clock_which_carries_the_mark():
    pb = Playback(SONG, False, 60_000, NOW)
    r = renderer((64, 64))
    state = limited(pb)
    assert corner(r.frame(state, NOW + 100), 3) == {AMBER}
    idle = r.frame(state, NOW + 700)  # paused longer than idle_after_s (600)
    assert idle.tobytes() == renderer((64, 64)).frame(limited(None), NOW + 700).tobytes()


@settings(max_examples=100, deadline=None)
@given(
    size=st.sampled_from(DOC_SIZES),
    until=st.floats(NOW, NOW + 48 * 3600),
    clock_24h=st.booleans(),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
def test_the_paused_mark_says_spotify_and_the_local_time_and_fits_every_supported_panel(
    size, until, clock_24h, tz
):
    zone = ZoneInfo(tz)
    r = renderer(size, zone, clock_24h=clock_24h)
    mark = r.paused_mark(until)
    assert mark is not None
    font, lines = mark
    local = datetime.fromtimestamp(until_minute(until), zone)
    hhmm = f"{local:%H:%M}" if clock_24h else f"{(local.hour - 1) % 12 + 1}:{local.minute:02d}"
    text = " ".join(lines)
    assert text.startswith("Spotify paused") and text.endswith(hhmm)
    assert font.height >= 6  # the smallest font the panels use for words
    lay = r.layout
    clock_h = r.fonts[lay.clock_font].height * lay.clock_scale
    assert clock_h + 1 + len(lines) * (font.height + 1) <= size[1]
    assert all(font.width(line) <= size[0] for line in lines)


@settings(max_examples=50, deadline=None)
@given(w=st.integers(16, 320), h=st.integers(16, 160))
def test_any_panel_size_shows_the_paused_clock_without_error(w, h):
    r = renderer((w, h))
    img = r.frame(limited(None), NOW)
    assert img.size == (w, h)
    mark = r.paused_mark(NOW + 3600)
    if mark is None:  # no room for words: an amber corner mark says it instead
        assert AMBER in corner(img, r.layout.mark)
    else:
        font, lines = mark
        assert all(font.width(line) <= w for line in lines)


def test_the_paused_time_is_rounded_up_to_the_minute_in_the_displays_zone():
    r = renderer((192, 64), ZoneInfo("Asia/Kolkata"))  # UTC+5:30
    until = datetime(2026, 11, 18, 21, 4, 1, tzinfo=UTC).timestamp()
    _font, lines = r.paused_mark(until) or (None, ())
    assert lines == ("Spotify paused until 02:35",)


def test_the_mark_ends_when_the_rate_limit_does():
    pb = Playback(SONG, True, 10_000, NOW + 3600)  # the poll after the wait: music again
    r = renderer((128, 64))
    r.frame(limited(None), NOW + 3599)
    back = DisplayState(playback=pb, last_played_at=NOW + 3600)
    assert r.changed(back, NOW + 3600)
    assert (
        r.frame(back, NOW + 3600).tobytes() == renderer((128, 64)).frame(back, NOW + 3600).tobytes()
    )
