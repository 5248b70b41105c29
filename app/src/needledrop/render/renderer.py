"""DisplayState + time → one frame (a PIL RGB image of the panel's size).

Each frame is described first as a *scene*: a static layer (background, art, text that fits,
labels) identified by a key, plus dynamic regions (scrolling text, progress bar, elapsed time,
clock), each with a key of its own. The renderer keeps the last static layer and the last
composed frame, rebuilds the static layer only when its key changes and repaints only the
regions whose key changed. `changed()` compares keys without drawing, so the run loop can skip
frames that would be identical.
"""

from __future__ import annotations

import textwrap
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

from needledrop.render.art import ArtCache, placeholder_art
from needledrop.render.font import BitmapFont, FontSet
from needledrop.render.layout import Box, Layout, Slot, layout_for
from needledrop.state import DisplayState, Item, Playback, until_minute

if TYPE_CHECKING:
    from needledrop.config import Config, NightConfig

Color = tuple[int, int, int]

BLACK: Color = (0, 0, 0)
TITLE: Color = (255, 255, 255)
ARTIST: Color = (120, 190, 255)
SHOW: Color = (110, 225, 170)  # the show's name, for podcast episodes
ALBUM: Color = (150, 150, 150)
TIMES: Color = (150, 150, 150)
BAR: Color = (40, 200, 90)
BAR_PAUSED: Color = (120, 120, 120)
BAR_BG: Color = (38, 38, 38)
CLOCK: Color = (255, 190, 110)
DATE: Color = (120, 120, 120)
QUIET: Color = (90, 90, 90)  # ads
AMBER: Color = (255, 170, 0)
HINT: Color = (170, 170, 170)
OFFLINE: Color = (230, 30, 30)
EXPIRING: Color = (150, 60, 255)  # the sign-in dies soon: renew with playbooks/reauth.yml
PAUSED_CLOCK: Color = (170, 170, 170)  # the clock above the amber "Spotify paused until" mark

PAUSED_FONTS = ("6x10", "5x8", "4x6")  # the "Spotify paused until" mark: largest that fits
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class RenderSettings:
    """What the renderer needs from the config ([layout] and [night])."""

    scroll_px_per_s: float = 16.0  # 0: long text is cut, never scrolls
    scroll_pause_s: float = 2.0  # text rests this long at its start before each pass
    scroll_gap_px: int = 16  # blank between the end of a scrolling text and its next start
    show_progress: bool = True
    idle_after_s: float = 600.0  # paused this long → idle screen (clock)
    clock_24h: bool = True
    night_start_end: tuple[int, int] | None = None  # minutes after midnight; None: no dimming
    night_brightness: int = 100  # percent of normal while dimmed
    tz: tzinfo | None = None  # None: the system's local time

    @classmethod
    def from_config(cls, cfg: Config) -> RenderSettings:
        lay = cfg.layout
        return cls(
            scroll_px_per_s=lay.scroll_px_per_s,
            show_progress=lay.show_progress,
            idle_after_s=lay.idle_after_s,
            clock_24h=lay.clock_24h,
            night_start_end=_night_window(cfg.night),
            night_brightness=cfg.night.brightness if cfg.night.enabled else 100,
        )

    def is_night(self, minute_of_day: int) -> bool:
        if self.night_start_end is None:
            return False
        start, end = self.night_start_end
        if start == end:
            return False
        if start < end:
            return start <= minute_of_day < end
        return minute_of_day >= start or minute_of_day < end


def _night_window(night: NightConfig) -> tuple[int, int] | None:
    """The night window in minutes after midnight, or None when night dimming is off."""
    if not night.enabled:
        return None
    return (
        night.start.hour * 60 + night.start.minute,
        night.end.hour * 60 + night.end.minute,
    )


@dataclass(frozen=True)
class Region:
    """A part of the frame that changes on its own; repainted when ``key`` changes."""

    name: str
    box: Box
    key: Hashable
    paint: Callable[[Image.Image], None] = field(compare=False)


@dataclass(frozen=True)
class Scene:
    static_key: Hashable
    paint_static: Callable[[Image.Image], None]
    regions: tuple[Region, ...]
    mark: Color | None  # a small square in the top-right corner: offline (red), rate-limited
    # (amber), sign-in expiring soon (violet)
    dim: int  # percent, 100 = full brightness
    epochs: dict[tuple[str, str], float] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> Hashable:
        return (
            self.static_key,
            tuple((r.name, r.key) for r in self.regions),
            self.mark,
            self.dim,
        )


def format_duration(ms: int) -> str:
    s = max(0, ms) // 1000
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def marquee_offset(text_w: int, box_w: int, elapsed_s: float, settings: RenderSettings) -> int:
    """How far (pixels) a too-long text has scrolled ``elapsed_s`` after it first appeared.

    The text rests at its start for ``scroll_pause_s``, then moves left at
    ``scroll_px_per_s`` until its next copy (after a gap) reaches the start, and repeats.
    """
    if text_w <= box_w or settings.scroll_px_per_s <= 0:
        return 0
    distance = text_w + settings.scroll_gap_px
    period = settings.scroll_pause_s + distance / settings.scroll_px_per_s
    t = max(0.0, elapsed_s) % period - settings.scroll_pause_s
    if t <= 0:
        return 0
    return min(distance - 1, int(t * settings.scroll_px_per_s))


class Renderer:
    """Draws `DisplayState`s for one panel size. Not thread-safe; one per display.

    ``incremental=False`` composes every frame from scratch (the benchmark's baseline); the
    frames are the same either way.
    """

    def __init__(
        self,
        width: int,
        height: int,
        settings: RenderSettings | Config | None = None,
        art_cache_dir: Path | None = None,
        *,
        art: ArtCache | None = None,
        incremental: bool = True,
        fonts: FontSet | None = None,
    ) -> None:
        if settings is None:
            settings = RenderSettings()
        elif not isinstance(settings, RenderSettings):
            settings = RenderSettings.from_config(settings)
        self.settings: RenderSettings = settings
        self.layout: Layout = layout_for(width, height)
        self.width, self.height = width, height
        self.art = art if art is not None else ArtCache(art_cache_dir)
        self.incremental = incremental
        self.fonts = fonts if fonts is not None else FontSet()
        self._masks: OrderedDict[Hashable, Image.Image] = OrderedDict()
        self._epochs: dict[tuple[str, str], float] = {}  # (slot, text) → first shown
        self._static_key: Hashable = None
        self._static: Image.Image | None = None
        self._work: Image.Image | None = None
        self._drawn: dict[str, Hashable] = {}
        self._last_key: Hashable = None
        self._dim_lut: dict[int, list[int]] = {}
        self._widths: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._peeked: tuple[DisplayState, float, Scene] | None = None

    # --- public -------------------------------------------------------------------------------

    def changed(self, state: DisplayState, now: float) -> bool:
        """Whether `frame(state, now)` would differ from the frame returned last."""
        scene = self._scene(state, now)
        self._peeked = (state, now, scene)  # frame() at the same state and time reuses it
        return scene.key != self._last_key

    def frame(self, state: DisplayState, now: float) -> Image.Image:
        """The frame for ``state`` at ``now``: a new RGB image the caller may keep."""
        peeked, self._peeked = self._peeked, None
        if peeked is not None and peeked[0] is state and peeked[1] == now:
            scene = peeked[2]
        else:
            scene = self._scene(state, now)
        self._epochs = scene.epochs
        if not self.incremental:
            self._masks.clear()
            work = Image.new("RGB", (self.width, self.height), BLACK)
            scene.paint_static(work)
            for region in scene.regions:
                region.paint(work)
        else:
            work = self._compose(scene)
        out = work.copy()
        if scene.mark is not None:
            self._draw_mark(out, scene.mark)
        if scene.dim < 100:
            lut = self._dim_lut.get(scene.dim)
            if lut is None:
                lut = self._dim_lut[scene.dim] = [v * scene.dim // 100 for v in range(256)] * 3
            out = out.point(lut)
        self._last_key = scene.key
        return out

    def close(self) -> None:
        self.art.close()

    # --- composition --------------------------------------------------------------------------

    def _compose(self, scene: Scene) -> Image.Image:
        if self._static is None or self._work is None or scene.static_key != self._static_key:
            self._static = Image.new("RGB", (self.width, self.height), BLACK)
            scene.paint_static(self._static)
            self._work = self._static.copy()
            self._static_key = scene.static_key
            self._drawn = {}
        for region in scene.regions:
            if self._drawn.get(region.name, _UNSET) == region.key:
                continue
            x, y, w, h = region.box
            self._work.paste(self._static.crop((x, y, x + w, y + h)), (x, y))
            region.paint(self._work)
            self._drawn[region.name] = region.key
        return self._work

    def _mask(self, font: BitmapFont, text: str) -> Image.Image:
        key = (font.name, text)
        m = self._masks.get(key)
        if m is None:
            m = font.mask(text)
            if self.incremental:
                self._masks[key] = m
                while len(self._masks) > 64:
                    self._masks.popitem(last=False)
        else:
            self._masks.move_to_end(key)
        return m

    def _strip(self, font: BitmapFont, text: str, box_w: int) -> Image.Image:
        """Text, gap, text again: any window of ``box_w`` at an offset below the period."""
        key = ("strip", font.name, text, box_w)
        s = self._masks.get(key)
        if s is None:
            m = self._mask(font, text)
            period = m.width + self.settings.scroll_gap_px
            s = Image.new("L", (period + box_w, m.height), 0)
            s.paste(m, (0, 0))
            s.paste(m, (period, 0))
            if self.incremental:
                self._masks[key] = s
        return s

    # --- scenes -------------------------------------------------------------------------------

    def _local(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, self.settings.tz)

    def _width(self, font: BitmapFont, text: str) -> int:
        if not self.incremental:
            return font.width(text)
        key = (font.name, text)
        w = self._widths.get(key)
        if w is None:
            w = self._widths[key] = font.width(text)
            while len(self._widths) > 64:
                self._widths.popitem(last=False)
        return w

    def _scene(self, state: DisplayState, now: float) -> Scene:
        local = self._local(now)
        minute = local.hour * 60 + local.minute
        dim = self.settings.night_brightness if self.settings.is_night(minute) else 100
        epochs: dict[tuple[str, str], float] = {}
        mark: Color | None = OFFLINE if state.offline else None
        if state.reauth_needed:
            static, paint, regions = self._reauth_scene()
        elif state.message:
            static, paint, regions = self._message_scene(state.message)
        else:
            pb = state.playback
            item = pb.item if pb is not None else None
            until = state.rate_limited_until
            if until is not None and (
                state.rate_limit_clock(now)
                or pb is None
                or item is None
                or self._idle(state, pb, now)
            ):
                static, paint, regions = self._clock_scene(local, caption=None, until=until)
            elif pb is None or item is None or self._idle(state, pb, now):
                static, paint, regions = self._clock_scene(local, caption=None)
            elif item.kind == "ad":
                static, paint, regions = self._clock_scene(local, caption="ad")
            else:
                static, paint, regions = self._playing_scene(pb, item, now, epochs)
                if until is not None:  # the item may still be playing; Spotify can't tell us
                    mark = AMBER
        if mark is None and state.token_expiring and not state.reauth_needed:
            mark = EXPIRING  # least urgent of the corner marks: offline and 429 win
        return Scene(static, paint, tuple(regions), mark, dim, epochs)

    def _idle(self, state: DisplayState, pb: Playback, now: float) -> bool:
        if pb.is_playing:
            return False
        since = state.last_played_at if state.last_played_at is not None else pb.observed_at
        return now - since >= self.settings.idle_after_s

    def _playing_scene(
        self, pb: Playback, item: Item, now: float, epochs: dict[tuple[str, str], float]
    ) -> tuple[Hashable, Callable[[Image.Image], None], list[Region]]:
        lay = self.layout
        ax, ay, asize = lay.art
        art = self.art.get(item.art_url, asize, now) if item.art_url else None
        art_id = item.art_url if art is not None else None
        artist_color = SHOW if item.kind == "episode" else ARTIST
        lines: list[tuple[str, Slot, str, Color]] = []
        for name, slot, text, color in (
            ("title", lay.title, item.title, TITLE),
            ("artist", lay.artist, item.artist, artist_color),
            ("album", lay.album, item.album if item.album != item.artist else "", ALBUM),
        ):
            if slot is not None and text:
                lines.append((name, slot, text, color))

        static_lines: list[tuple[Slot, str, Color]] = []
        regions: list[Region] = []
        for name, slot, text, color in lines:
            font = self.fonts[slot.font]
            text_w = self._width(font, text)
            if text_w <= slot.w or self.settings.scroll_px_per_s <= 0:
                static_lines.append((slot, text, color))
                continue
            epoch_key = (name, text)
            epoch = epochs[epoch_key] = self._epochs.get(epoch_key, now)
            offset = marquee_offset(text_w, slot.w, now - epoch, self.settings)
            regions.append(
                Region(
                    name,
                    (slot.x, slot.y, slot.w, font.height),
                    offset,
                    self._marquee_painter(slot, font, text, color, offset),
                )
            )

        duration = item.duration_ms
        progress = pb.progress_at(now)
        if lay.progress is not None and self.settings.show_progress and duration > 0:
            _x, _y, w, _h = lay.progress
            filled = min(w, w * progress // duration)
            color = BAR if pb.is_playing else BAR_PAUSED
            regions.append(
                Region(
                    "progress", lay.progress, filled, self._bar_painter(lay.progress, filled, color)
                )
            )
        if lay.times is not None and duration > 0:
            font = self.fonts[lay.times.font]
            elapsed = format_duration(progress)
            regions.append(
                Region(
                    "times",
                    (lay.times.x, lay.times.y, lay.times.w, font.height),
                    elapsed,
                    self._times_painter(lay.times, font, elapsed, format_duration(duration)),
                )
            )

        static_key = ("playing", item, art_id, pb.is_playing)

        def paint_static(img: Image.Image) -> None:
            cover = (
                art if art is not None else placeholder_art(f"{item.title}\n{item.artist}", asize)
            )
            img.paste(cover, (ax, ay))
            if not pb.is_playing:
                self._draw_pause_badge(img)
            for slot, text, color in static_lines:
                font = self.fonts[slot.font]
                mask = self._mask(font, text)
                img.paste(color, (slot.x, slot.y), mask.crop((0, 0, slot.w, font.height)))

        return static_key, paint_static, regions

    def _marquee_painter(
        self, slot: Slot, font: BitmapFont, text: str, color: Color, offset: int
    ) -> Callable[[Image.Image], None]:
        def paint(img: Image.Image) -> None:
            strip = self._strip(font, text, slot.w)
            window = strip.crop((offset, 0, offset + slot.w, font.height))
            img.paste(color, (slot.x, slot.y), window)

        return paint

    def _bar_painter(self, box: Box, filled: int, color: Color) -> Callable[[Image.Image], None]:
        def paint(img: Image.Image) -> None:
            x, y, w, h = box
            d = ImageDraw.Draw(img)
            d.rectangle((x, y, x + w - 1, y + h - 1), fill=BAR_BG)
            if filled > 0:
                d.rectangle((x, y, x + filled - 1, y + h - 1), fill=color)

        return paint

    def _times_painter(
        self, slot: Slot, font: BitmapFont, elapsed: str, total: str
    ) -> Callable[[Image.Image], None]:
        def paint(img: Image.Image) -> None:
            left = self._mask(font, elapsed)
            right = self._mask(font, total)
            img.paste(TIMES, (slot.x, slot.y), left)
            img.paste(TIMES, (slot.x + slot.w - right.width, slot.y), right)

        return paint

    def _draw_pause_badge(self, img: Image.Image) -> None:
        ax, ay, size = self.layout.art
        s = max(1, size // 16)  # bar width
        bh = max(4, size // 4)
        pad = max(1, size // 20)
        bw = 3 * s + 2 * pad
        x0, y0 = ax + pad, ay + size - bh - 2 * pad - pad
        d = ImageDraw.Draw(img)
        d.rectangle((x0, y0, x0 + bw - 1, y0 + bh + 2 * pad - 1), fill=BLACK)
        for bx in (x0 + pad, x0 + pad + 2 * s):
            d.rectangle((bx, y0 + pad, bx + s - 1, y0 + pad + bh - 1), fill=TITLE)

    def _draw_mark(self, img: Image.Image, color: Color) -> None:
        n = self.layout.mark
        x0 = self.width - n
        d = ImageDraw.Draw(img)
        d.rectangle((x0 - 1, 0, self.width - 1, n), fill=BLACK)
        d.rectangle((x0, 0, self.width - 1, n - 1), fill=color)

    def _hhmm(self, local: datetime) -> str:
        if self.settings.clock_24h:
            return f"{local.hour:02d}:{local.minute:02d}"
        return f"{(local.hour - 1) % 12 + 1}:{local.minute:02d}"

    def _clock_scene(
        self, local: datetime, caption: str | None, until: float | None = None
    ) -> tuple[Hashable, Callable[[Image.Image], None], list[Region]]:
        """The clock, with the date under it; or a caption ("ad") under a quiet clock; or,
        with ``until``, the "Spotify paused until HH:MM" mark under it."""
        lay = self.layout
        hhmm = self._hhmm(local)
        clock_color, date_color = (QUIET, QUIET) if caption else (CLOCK, DATE)
        font = self.fonts[lay.clock_font]
        scale = lay.clock_scale
        clock_h = font.height * scale
        small = self.fonts[lay.date_font] if lay.date_font else None
        lines: tuple[str, ...] = ()
        if until is not None:
            paused = self.paused_mark(until)
            if paused is not None:
                small, lines = paused
            clock_color, date_color = PAUSED_CLOCK, AMBER
        elif small is not None and caption is not None:
            lines = (caption,)
        elif small is not None:
            day, month = DAYS[local.weekday()], MONTHS[local.month - 1]
            date = ""
            for date in (f"{day} {local.day} {month}", f"{local.day} {month}", ""):
                if self._width(small, date) <= self.width:
                    break
            lines = (date,)
        lines_h = clock_h + (len(lines) * (small.height + 1) + 1 if small and lines else 0)
        top = max(0, (self.height - lines_h) // 2)
        no_room = until is not None and not lines  # a panel too small for words: a mark only

        def paint(img: Image.Image) -> None:
            m = self._mask(font, hhmm)
            if scale > 1:
                m = m.resize((m.width * scale, m.height * scale), Image.Resampling.NEAREST)
            img.paste(clock_color, ((self.width - m.width) // 2, top), m)
            if small is not None:
                for i, text in enumerate(lines):
                    dm = self._mask(small, text)
                    y = top + clock_h + 2 + i * (small.height + 1)
                    img.paste(date_color, ((self.width - dm.width) // 2, y), dm)
            if no_room:
                self._draw_mark(img, AMBER)

        box = (0, 0, self.width, self.height)
        key = (hhmm, lines, caption)
        return (
            ("clock", caption, until is not None),
            _paint_nothing,
            [Region("clock", box, key, paint)],
        )

    def paused_mark(self, until: float) -> tuple[BitmapFont, tuple[str, ...]] | None:
        """The font and lines of the "Spotify paused until HH:MM" mark under the clock while
        Spotify rate-limits us until ``until`` (shown in the display's time zone, rounded up
        to the minute). Chosen to fit this panel: "Spotify" kept if at all possible, then
        "until" (not "to"), then the largest font, then the fewest lines. None if not even the
        time fits (the screen then shows a corner mark)."""
        hhmm = self._hhmm(self._local(until_minute(until)))
        clock_h = self.fonts[self.layout.clock_font].height * self.layout.clock_scale
        candidates = (
            (f"Spotify paused until {hhmm}",),
            ("Spotify paused", f"until {hhmm}"),
            ("Spotify", f"paused until {hhmm}"),
            ("Spotify", "paused until", hhmm),
            ("Spotify", "paused", f"until {hhmm}"),
            ("Spotify", "paused", f"to {hhmm}"),
            ("paused until", hhmm),
            ("paused", f"until {hhmm}"),
            ("paused", "until", hhmm),
            (f"until {hhmm}",),
            (hhmm,),
        )
        best: tuple[tuple[bool, bool, int, int], BitmapFont, tuple[str, ...]] | None = None
        for name in PAUSED_FONTS:
            font = self.fonts[name]
            for rank, lines in enumerate(candidates):
                high = clock_h + 1 + len(lines) * (font.height + 1)  # as _clock_scene paints
                if high > self.height or any(self._width(font, t) > self.width for t in lines):
                    continue
                words = " ".join(lines)
                score = (words.startswith("Spotify"), "until" in words, font.height, -rank)
                if best is None or score > best[0]:
                    best = (score, font, lines)
        return None if best is None else (best[1], best[2])

    def _text_screen(self, blocks: list[tuple[str, Color]]) -> Callable[[Image.Image], None]:
        """Paint word-wrapped blocks of text, centred, in the largest font where all fit."""
        lay = self.layout
        chosen: tuple[BitmapFont, list[tuple[str, Color]]] | None = None
        for name in lay.text_fonts:
            font = self.fonts[name]
            lines = self._wrap_blocks(font, blocks)
            if len(lines) * (font.height + 1) <= self.height:
                chosen = (font, lines)
                break
        if chosen is None:
            font = self.fonts[lay.text_fonts[-1]]
            lines = self._wrap_blocks(font, blocks)[: max(1, self.height // (font.height + 1))]
            chosen = (font, lines)
        font, lines = chosen

        def paint(img: Image.Image) -> None:
            top = (self.height - len(lines) * (font.height + 1) + 1) // 2
            for i, (text, color) in enumerate(lines):
                m = self._mask(font, text)
                x = max(0, (self.width - m.width) // 2)
                img.paste(color, (x, top + i * (font.height + 1)), m)

        return paint

    def _wrap_blocks(
        self, font: BitmapFont, blocks: list[tuple[str, Color]]
    ) -> list[tuple[str, Color]]:
        per_line = max(1, self.width // max(1, self._width(font, "M")))
        out: list[tuple[str, Color]] = []
        for text, color in blocks:
            for line in textwrap.wrap(text, per_line, break_on_hyphens=False) or [""]:
                out.append((line, color))
        return out

    def _reauth_scene(self) -> tuple[Hashable, Callable[[Image.Image], None], list[Region]]:
        blocks = [("Spotify sign-in needed", AMBER), ("run: needledrop auth", HINT)]
        font = self.fonts[self.layout.text_fonts[-1]]
        if len(self._wrap_blocks(font, blocks)) * (font.height + 1) > self.height:
            blocks = blocks[:1]
        return ("reauth",), self._text_screen(blocks), []

    def _message_scene(
        self, message: str
    ) -> tuple[Hashable, Callable[[Image.Image], None], list[Region]]:
        return ("message", message), self._text_screen([(message, AMBER)]), []


class _Unset:
    pass


_UNSET = _Unset()


def _paint_nothing(img: Image.Image) -> None:
    return None
