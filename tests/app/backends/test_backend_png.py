"""The png backend: the latest frame always complete on disk, numbered snapshots on request."""

from __future__ import annotations

from pathlib import Path

import pytest
from needledrop.backends import Backend
from needledrop.backends.png import PngBackend
from PIL import Image, ImageChops


def _frame(color: tuple[int, int, int], size: tuple[int, int] = (64, 32)) -> Image.Image:
    img = Image.new("RGB", size, (0, 0, 0))
    img.paste(color, (3, 4, 20, 9))
    return img


def _same(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def test_latest_frame_file_holds_the_last_frame_shown_and_no_temp_files(
    tmp_path: Path,
) -> None:
    backend = PngBackend(tmp_path / "frames", (64, 32))
    assert isinstance(backend, Backend)
    backend.show(_frame((255, 0, 0)))
    backend.show(_frame((0, 255, 0)))
    with Image.open(backend.latest) as got:
        assert _same(got, _frame((0, 255, 0)))
    assert sorted(p.name for p in backend.latest.parent.iterdir()) == ["frame.png"]
    assert backend.latest.stat().st_mode & 0o777 == 0o644


def test_snapshots_keep_every_frame_numbered_in_order(tmp_path: Path) -> None:
    backend = PngBackend(tmp_path, (64, 32), snapshots=True)
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for c in colors:
        backend.show(_frame(c))
    for i, c in enumerate(colors, start=1):
        with Image.open(tmp_path / f"frame-{i:06d}.png") as got:
            assert _same(got, _frame(c))


def test_scale_enlarges_each_led_to_a_block_of_pixels(tmp_path: Path) -> None:
    backend = PngBackend(tmp_path, (64, 32), scale=4)
    backend.show(_frame((10, 20, 30)))
    with Image.open(backend.latest) as got:
        assert got.size == (256, 128)
        assert got.convert("RGB").getpixel((3 * 4, 4 * 4)) == (10, 20, 30)
        assert got.convert("RGB").getpixel((3 * 4 - 1, 4 * 4)) == (0, 0, 0)


def test_a_frame_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    backend = PngBackend(tmp_path, (64, 32))
    with pytest.raises(ValueError, match="display is"):
        backend.show(_frame((1, 2, 3), (32, 32)))
    assert not backend.latest.exists()
