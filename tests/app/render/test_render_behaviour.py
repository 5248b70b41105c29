"""What the renderer shows over time: scrolling, progress, idle, night, incremental redraw."""

from __future__ import annotations

from datetime import UTC

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from needledrop.demo import DemoSource, demo_art
from needledrop.render import Renderer, RenderSettings, layout_for, marquee_offset
from needledrop.render.art import ArtCache, decode_square, placeholder_art
from needledrop.render.font import load_font
from needledrop.render.layout import FONT_HEIGHTS, LAYOUTS
from needledrop.render.renderer import QUIET
from needledrop.state import DisplayState, Item, Playback
from PIL import Image, ImageChops

T0 = 1_795_037_400.0  # 2026-11-18 21:30 UTC
LONG = Item(
    "track",
    "A title far too long for any of the panels we support",
    "Band",
    "LP",
    200_000,
    "x",
    None,
)
SHORT = Item("track", "Hi", "Band", "LP", 200_000, "y", None)


def _state(
    item: Item | None,
    *,
    playing: bool = True,
    progress: int = 10_000,
    at: float = T0,
    **kw: object,
) -> DisplayState:
    pb = Playback(item, playing, progress, at) if item is not None else None
    return DisplayState(playback=pb, last_played_at=at, **kw)  # type: ignore[arg-type]


def _renderer(w: int = 64, h: int = 32, **kw: object) -> Renderer:
    return Renderer(w, h, RenderSettings(tz=UTC, **kw), None)  # type: ignore[arg-type]


def _crop(img: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    x, y, w, h = box
    return img.crop((x, y, x + w, y + h))


def _same(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a, b).getbbox() is None


def test_long_title_rests_then_scrolls_left_while_the_art_stays() -> None:
    r = _renderer(128, 64)
    lay = layout_for(128, 64)
    state = _state(LONG)
    title_box = (lay.title.x, lay.title.y, lay.title.w, 13)
    art_box = (lay.art[0], lay.art[1], lay.art[2], lay.art[2])
    first = r.frame(state, T0)
    resting = r.frame(state, T0 + 1.0)  # within scroll_pause_s
    moved = r.frame(state, T0 + 3.0)
    assert _same(_crop(first, title_box), _crop(resting, title_box))
    assert not _same(_crop(first, title_box), _crop(moved, title_box))
    assert _same(_crop(first, art_box), _crop(moved, art_box))
    # 1 s after the pause at 16 px/s: the strip moved 16 px left
    shifted = _crop(first, title_box).crop((16, 0, lay.title.w, 13))
    assert _same(shifted, _crop(moved, title_box).crop((0, 0, lay.title.w - 16, 13)))


def test_text_that_fits_never_changes_the_frame_while_paused() -> None:
    r = _renderer()
    state = _state(SHORT, playing=False)
    r.frame(state, T0)
    assert not r.changed(state, T0 + 5.0)
    assert not r.changed(state, T0 + 20.0)


@given(elapsed=st.floats(0, 10_000), text_w=st.integers(1, 2000), box_w=st.integers(1, 300))
def test_marquee_offset_stays_within_one_period(elapsed: float, text_w: int, box_w: int) -> None:
    s = RenderSettings()
    off = marquee_offset(text_w, box_w, elapsed, s)
    if text_w <= box_w:
        assert off == 0
    else:
        assert 0 <= off < text_w + s.scroll_gap_px


def test_progress_bar_advances_between_polls_from_one_observation() -> None:
    r = _renderer(64, 64)
    x, y, w, _h = layout_for(64, 64).progress  # type: ignore[misc]
    state = _state(SHORT, progress=0)  # one poll at T0, 200 s track
    lit = []
    for t in (0, 50, 100, 200):
        img = r.frame(state, T0 + t)
        row = [img.getpixel((x + i, y)) for i in range(w)]
        lit.append(sum(1 for p in row if p[1] > 150))
    assert lit == [0, w // 4, w // 2, w]


def test_changed_is_true_exactly_when_the_frame_differs() -> None:
    r = _renderer(64, 32)
    state = _state(LONG)
    prev = r.frame(state, T0)
    for i in range(1, 120):
        now = T0 + i * 0.05
        will_change = r.changed(state, now)
        img = r.frame(state, now)
        assert will_change == (not _same(prev, img)), now
        prev = img


FRAME_SIZES = sorted(LAYOUTS) + [(96, 48), (48, 96), (256, 64)]


@settings(max_examples=25, deadline=None)
@given(
    size=st.sampled_from(FRAME_SIZES),
    steps=st.lists(
        st.tuples(
            st.floats(0, 30),
            st.sampled_from(["long", "short", "paused", "none", "ad", "offline", "reauth"]),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_incremental_frames_equal_a_full_redraw(
    size: tuple[int, int], steps: list[tuple[float, str]]
) -> None:
    fast = _renderer(*size)
    naive = Renderer(*size, RenderSettings(tz=UTC), None, incremental=False)
    now = T0
    for dt, what in steps:
        now += dt
        state = {
            "long": _state(LONG),
            "short": _state(SHORT),
            "paused": _state(LONG, playing=False),
            "none": _state(None),
            "ad": _state(Item("ad", "Ad", "", "", 30_000)),
            "offline": _state(LONG, offline=True),
            "reauth": DisplayState(reauth_needed=True),
        }[what]
        assert _same(fast.frame(state, now), naive.frame(state, now)), (what, now)


def test_paused_track_gives_way_to_the_clock_after_idle_after_s() -> None:
    r = _renderer(64, 32, idle_after_s=300)
    state = _state(SHORT, playing=False, at=T0)
    before = r.frame(state, T0 + 299)
    after = r.frame(state, T0 + 301)
    clock = r.frame(_state(None), T0 + 301)
    assert not _same(before, after)
    assert _same(after, clock)


def test_night_dimming_scales_every_pixel_between_start_and_end_across_midnight() -> None:
    night = (22 * 60, 7 * 60)  # 22:00 → 07:00
    day_r = _renderer(64, 32)
    night_r = _renderer(64, 32, night_start_end=night, night_brightness=25)
    state = _state(SHORT, playing=False)
    at_23 = T0 + 90 * 60  # 23:00 UTC
    at_noon = T0 - 9.5 * 3600  # 12:00 UTC
    bright = day_r.frame(state, at_23)
    dim = night_r.frame(state, at_23)
    assert list(dim.get_flattened_data()) == [
        tuple(c * 25 // 100 for c in p) for p in bright.get_flattened_data()
    ]
    assert _same(night_r.frame(state, at_noon), day_r.frame(state, at_noon))


def test_episode_shows_show_name_and_the_show_image(tmp_path: object) -> None:
    src = DemoSource(start=T0)
    idx = next(i for i, e in enumerate(src.entries) if e.item and e.item.kind == "episode")
    now = src.time_of(idx, 2.0)
    r = _renderer(128, 64)
    img = r.frame(DisplayState(playback=src.poll(now), last_played_at=now), now)
    ax, ay, size = layout_for(128, 64).art
    import io

    buf = io.BytesIO()
    demo_art("show").save(buf, "PNG")
    want = decode_square(buf.getvalue(), size)
    assert _same(img.crop((ax, ay, ax + size, ay + size)), want)
    artist = layout_for(128, 64).artist
    assert artist is not None
    row = img.crop((artist.x, artist.y, artist.x + artist.w, artist.y + 10))
    assert row.getbbox() is not None  # the show's name is drawn


def test_local_file_gets_a_placeholder_that_depends_on_title_and_artist() -> None:
    local = Item("local", "song.flac", "Me", "", 100_000)
    r = _renderer(64, 64)
    img = r.frame(_state(local), T0)
    ax, ay, size = layout_for(64, 64).art
    assert _same(img.crop((ax, ay, ax + size, ay + size)), placeholder_art("song.flac\nMe", size))
    assert not _same(placeholder_art("a\nb", 32), placeholder_art("c\nd", 32))


def test_ad_is_a_quiet_screen() -> None:
    r = _renderer(64, 64)
    img = r.frame(_state(Item("ad", "Advertisement", "", "", 30_000)), T0)
    assert max(hi for _, hi in img.getextrema()) <= max(QUIET)
    assert img.getbbox() is not None  # not blank: the quiet clock


def test_offline_mark_appears_in_the_top_right_corner_only_when_offline() -> None:
    r = _renderer(64, 32)
    online = r.frame(_state(SHORT), T0)
    offline = r.frame(_state(SHORT, offline=True), T0)
    diff = ImageChops.difference(online, offline).getbbox()
    assert diff is not None and diff[0] >= 64 - 4 and diff[3] <= 4
    assert offline.getpixel((63, 0))[0] > 200


@pytest.mark.parametrize("size", sorted(LAYOUTS))
def test_reauth_screen_says_sign_in_and_differs_from_a_message(
    size: tuple[int, int],
) -> None:
    r = _renderer(*size)
    reauth = r.frame(DisplayState(reauth_needed=True), T0)
    msg = r.frame(DisplayState(message="Token cache missing"), T0)
    assert reauth.getbbox() is not None and msg.getbbox() is not None
    assert not _same(reauth, msg)


def test_art_that_is_still_loading_shows_the_placeholder_then_the_art(
    tmp_path: object,
) -> None:
    class Slow(ArtCache):
        ready = False

        def get(self, url: str, size: int, now: float) -> Image.Image | None:
            return Image.new("RGB", (size, size), (0, 0, 255)) if self.ready else None

    art = Slow(None)
    r = Renderer(64, 32, RenderSettings(tz=UTC), None, art=art)
    item = Item("track", "Hi", "Band", "LP", 200_000, "z", "http://127.0.0.1:1/a.jpg")
    state = _state(item, playing=False)
    r.frame(state, T0)
    assert not r.changed(state, T0 + 1)
    art.ready = True
    assert r.changed(state, T0 + 2)
    assert r.frame(state, T0 + 2).getpixel((5, 5)) == (0, 0, 255)


@given(w=st.integers(16, 400), h=st.integers(16, 200))
@example(32, 32)
@example(64, 32)
@example(64, 64)
@example(128, 64)
@example(192, 64)
def test_every_layout_fits_inside_its_panel(w: int, h: int) -> None:
    lay = layout_for(w, h)
    ax, ay, size = lay.art
    assert 0 <= ax and 0 <= ay and ax + size <= w and ay + size <= h
    for slot in (lay.title, lay.artist, lay.album, lay.times):
        if slot is not None:
            font_h = FONT_HEIGHTS[slot.font]
            assert 0 <= slot.x and slot.x + slot.w <= w and 0 <= slot.y
            assert slot.y + font_h <= h
    if lay.progress is not None:
        x, y, pw, ph = lay.progress
        assert 0 <= x and x + pw <= w and y + ph <= h


def test_font_heights_table_matches_the_font_files() -> None:
    for name, height in FONT_HEIGHTS.items():
        assert load_font(name).height == height


def test_a_panel_smaller_than_16_pixels_is_refused_with_its_size() -> None:
    with pytest.raises(ValueError, match="8x8"):
        layout_for(8, 8)
