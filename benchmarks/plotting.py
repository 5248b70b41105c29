"""The benchmarks' plots: a white Pillow canvas with the two font sizes their labels use."""

from __future__ import annotations

from typing import Any


def canvas(width: int, height: int) -> tuple[Any, Any, Any, Any]:
    """A white RGB image of width x height, its drawing context, a label font and a small one
    (Pillow's default font at 15 and 13 px, or its bitmap font without FreeType)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    try:
        font: Any = ImageFont.load_default(size=15)
        small: Any = ImageFont.load_default(size=13)
    except (TypeError, OSError):  # Pillow without FreeType
        font = small = ImageFont.load_default()
    return img, draw, font, small
