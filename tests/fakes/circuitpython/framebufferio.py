"""Stand-in for ``framebufferio``: a display whose root group the harness inspects."""

from __future__ import annotations

DISPLAYS = []


class FramebufferDisplay:
    def __init__(self, framebuffer, auto_refresh=True) -> None:
        self.width = framebuffer.width
        self.height = framebuffer.height
        self.root_group = None
        DISPLAYS.append(self)
