"""Golden-image comparison for the renderer tests.

Goldens live in tests/app/golden/. To regenerate them on purpose (after a deliberate change to
how something looks), run ``UPDATE_GOLDEN=1 .venv/bin/pytest tests/app -q`` and look at the
changed PNGs before committing them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"


def compare_to_golden(img: Image.Image, name: str, tolerance: int = 0) -> None:
    """Fail unless ``img`` equals tests/app/golden/``name``.png.

    ``tolerance``: the largest per-channel difference allowed at any pixel. 0 for frames of
    bitmap text and flat shapes (drawn pixel-exactly); a few levels for frames with resampled
    art, whose Lanczos rounding may shift by a level between Pillow builds.
    """
    path = GOLDEN_DIR / f"{name}.png"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        img.save(path, optimize=True)
        return
    if not path.exists():
        pytest.fail(f"no golden image {path.name}; create it with UPDATE_GOLDEN=1")
    with Image.open(path) as f:
        want = f.convert("RGB")
    assert img.size == want.size, f"{name}: size {img.size} != golden {want.size}"
    diff = ImageChops.difference(img.convert("RGB"), want)
    worst = max(hi for _, hi in diff.getextrema())
    if worst > tolerance:
        out = Path(tempfile.gettempdir()) / "needledrop-golden-failures"
        out.mkdir(exist_ok=True)
        img.save(out / f"{name}.png")
        pytest.fail(
            f"{name}: differs from its golden by up to {worst} levels (allowed {tolerance}); "
            f"the frame drawn is {out / name}.png"
        )


@pytest.fixture
def golden() -> Callable[..., None]:
    return compare_to_golden
