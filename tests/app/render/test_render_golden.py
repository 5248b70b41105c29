"""Golden images of every screen at each supported panel size (the frames the png backend
writes and the docs show)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from needledrop.snapshot import DOC_SIZES, SCENES, demo_frame

TEXT_ONLY = {"idle", "reauth", "message"}  # bitmap text and flat shapes: pixel-exact
ART_TOLERANCE = 8  # Lanczos-resized art: a few levels of rounding between Pillow builds


@pytest.mark.parametrize("size", DOC_SIZES, ids=[f"{w}x{h}" for w, h in DOC_SIZES])
@pytest.mark.parametrize("scene", SCENES)
def test_screen_matches_golden_image(
    size: tuple[int, int], scene: str, golden: Callable[..., None]
) -> None:
    img = demo_frame(size, scene)
    assert img.size == size and img.mode == "RGB"
    golden(img, f"{scene}-{size[0]}x{size[1]}", 0 if scene in TEXT_ONLY else ART_TOLERANCE)
