"""Where things go on a panel of a given size.

Five sizes have hand-tuned layouts (32×32, 64×32, 64×64, 128×64, 192×64); any other size gets
one computed by `layout_for` from the same rules (art square on the left when the panel is at
least twice as wide as high, on top otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

from needledrop.settings import CANVAS_MIN

Box = tuple[int, int, int, int]  # x, y, width, height

FONT_HEIGHTS = {"4x6": 6, "5x8": 8, "6x10": 10, "6x13B": 13, "9x15B": 15}  # ascent + descent


@dataclass(frozen=True)
class Slot:
    """A line of text: its left edge, top, width and font."""

    x: int
    y: int
    w: int
    font: str


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    art: tuple[int, int, int]  # x, y, size (square)
    title: Slot
    artist: Slot | None
    album: Slot | None
    progress: Box | None
    times: Slot | None  # elapsed on the left, duration on the right
    clock_font: str  # idle screen
    clock_scale: int
    date_font: str | None
    text_fonts: tuple[str, ...]  # message screens: largest first
    mark: int  # side of the offline mark, drawn in the top-right corner


LAYOUTS: dict[tuple[int, int], Layout] = {
    (32, 32): Layout(
        32,
        32,
        art=(7, 0, 18),
        title=Slot(0, 20, 32, "4x6"),
        artist=Slot(0, 26, 32, "4x6"),
        album=None,
        progress=(0, 18, 32, 1),
        times=None,
        clock_font="6x10",
        clock_scale=1,
        date_font="4x6",
        text_fonts=("4x6",),
        mark=2,
    ),
    (64, 32): Layout(
        64,
        32,
        art=(0, 0, 32),
        title=Slot(34, 1, 30, "5x8"),
        artist=Slot(34, 11, 30, "4x6"),
        album=Slot(34, 18, 30, "4x6"),
        progress=(34, 28, 28, 2),
        times=None,
        clock_font="9x15B",
        clock_scale=1,
        date_font="4x6",
        text_fonts=("5x8", "4x6"),
        mark=3,
    ),
    (64, 64): Layout(
        64,
        64,
        art=(12, 1, 40),
        title=Slot(1, 43, 62, "5x8"),
        artist=Slot(1, 52, 62, "4x6"),
        album=None,
        progress=(2, 60, 60, 2),
        times=None,
        clock_font="6x10",
        clock_scale=2,
        date_font="5x8",
        text_fonts=("6x10", "5x8", "4x6"),
        mark=3,
    ),
    (128, 64): Layout(
        128,
        64,
        art=(0, 0, 64),
        title=Slot(67, 3, 61, "6x13B"),
        artist=Slot(67, 18, 61, "6x10"),
        album=Slot(67, 30, 61, "5x8"),
        progress=(67, 57, 58, 3),
        times=Slot(67, 48, 58, "4x6"),
        clock_font="9x15B",
        clock_scale=2,
        date_font="6x10",
        text_fonts=("6x13B", "6x10", "5x8", "4x6"),
        mark=3,
    ),
    (192, 64): Layout(
        192,
        64,
        art=(0, 0, 64),
        title=Slot(70, 3, 120, "6x13B"),
        artist=Slot(70, 18, 120, "6x10"),
        album=Slot(70, 30, 120, "5x8"),
        progress=(70, 57, 118, 3),
        times=Slot(70, 46, 118, "5x8"),
        clock_font="9x15B",
        clock_scale=2,
        date_font="6x10",
        text_fonts=("6x13B", "6x10", "5x8", "4x6"),
        mark=3,
    ),
}


def layout_for(width: int, height: int) -> Layout:
    """The layout for a panel of ``width`` × ``height`` pixels (at least ``CANVAS_MIN`` each;
    config validation refuses smaller canvases before anything is drawn)."""
    if width < CANVAS_MIN or height < CANVAS_MIN:
        raise ValueError(
            f"a panel of {width}x{height} is too small to draw on "
            f"(minimum {CANVAS_MIN}x{CANVAS_MIN})"
        )
    known = LAYOUTS.get((width, height))
    if known is not None:
        return known
    big = height >= 64 and width >= 64
    clock = ("9x15B", 2) if width >= 100 and height >= 40 else ("9x15B", 1)
    if width < 48 or height < 24:
        clock = ("6x10", 1)
    if width >= 2 * height:  # art on the left, text on the right
        side = height
        x = side + 3
        w = width - x - 1
        bar_y = height - 3
        fonts = ("6x13B", "6x10", "5x8") if big else ("5x8", "4x6", "4x6")
        slots: list[Slot | None] = []
        y = 1
        for font in fonts:
            fh = FONT_HEIGHTS[font]
            slots.append(Slot(x, y, w, font) if y + fh <= bar_y else None)
            y += fh + (2 if big else 1)
        title = slots[0] or Slot(x, 0, w, "4x6")
        return Layout(
            width,
            height,
            art=(0, 0, side),
            title=title,
            artist=slots[1],
            album=slots[2],
            progress=(x, bar_y, w - 1, 2),
            times=None,
            clock_font=clock[0],
            clock_scale=clock[1],
            date_font="4x6" if height >= 24 else None,
            text_fonts=("6x10", "5x8", "4x6"),
            mark=3,
        )
    # art on top; below it a title, an artist if there is room, and a progress bar
    title_font = "5x8" if height >= 40 else "4x6"
    title_h = FONT_HEIGHTS[title_font]
    text_h = title_h + 1 + FONT_HEIGHTS["4x6"] + 3
    if height - text_h - 1 < 8:
        text_h = title_h + 3
    side = max(1, min(width - 4, height - text_h - 1))
    y = side + 1
    artist = (
        Slot(1, y + title_h + 1, width - 2, "4x6")
        if y + title_h + 1 + FONT_HEIGHTS["4x6"] <= height - 3
        else None
    )
    return Layout(
        width,
        height,
        art=((width - side) // 2, 0, side),
        title=Slot(1, y, width - 2, title_font),
        artist=artist,
        album=None,
        progress=(2, height - 2, width - 4, 2),
        times=None,
        clock_font=clock[0],
        clock_scale=clock[1],
        date_font="4x6" if height >= 24 else None,
        text_fonts=("5x8", "4x6"),
        mark=3 if width >= 48 else 2,
    )
