"""`needledrop render --demo`: the demo's frame written as a PNG, same picture every time."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from needledrop.snapshot import (
    SCENES,
    SnapshotError,
    add_render_arguments,
    demo_frame,
    parse_size,
    run_render,
)
from PIL import Image, ImageChops


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_render_arguments(p)
    return p.parse_args(list(argv))


def test_render_demo_writes_a_png_of_the_requested_size(tmp_path: Path) -> None:
    out = tmp_path / "f.png"
    assert run_render(_args("--demo", "--size", "64x64", "--out", str(out))) == 0
    with Image.open(out) as img:
        assert img.size == (64, 64)
        assert ImageChops.difference(img.convert("RGB"), demo_frame((64, 64))).getbbox() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]


def test_render_demo_scale_enlarges_leds(tmp_path: Path) -> None:
    out = tmp_path / "big.png"
    run_render(_args("--demo", "--size", "192x64", "--out", str(out), "--scale", "3"))
    with Image.open(out) as img:
        assert img.size == (576, 192)


def test_every_scene_draws_something_different(tmp_path: Path) -> None:
    frames = {s: demo_frame((128, 64), s).tobytes() for s in SCENES}
    assert len(set(frames.values())) == len(SCENES)


@pytest.mark.parametrize("bad", ["64", "64x", "x64", "8x8", "64 by 32", "2000x64"])
def test_a_bad_size_is_one_sentence_naming_the_option(bad: str) -> None:
    with pytest.raises(SnapshotError, match="--size") as e:
        parse_size(bad)
    assert "\n" not in str(e.value)


def test_sizes_are_read_as_width_then_height() -> None:
    assert parse_size("192x64") == (192, 64)
    assert parse_size("64X32") == (64, 32)
