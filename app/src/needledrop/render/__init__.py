"""The renderer: layouts per panel size, bitmap fonts, art cache, screens.

The run loop uses `Renderer(width, height, settings, art_cache_dir)` with `.frame(state, now)`
and `.changed(state, now)`; `settings` is a `RenderSettings` or the app's `Config`.
"""

from needledrop.render.art import ArtCache, placeholder_art
from needledrop.render.layout import LAYOUTS, Layout, layout_for
from needledrop.render.renderer import Renderer, RenderSettings, format_duration, marquee_offset

__all__ = [
    "LAYOUTS",
    "ArtCache",
    "Layout",
    "RenderSettings",
    "Renderer",
    "format_duration",
    "layout_for",
    "marquee_offset",
    "placeholder_art",
]
