"""The shipped bitmap fonts: public domain, documented, and covering what titles use."""

from __future__ import annotations

import gzip
from importlib import resources

import pytest
from needledrop.render.font import FONT_NAMES, load_font

FONTS = resources.files("needledrop.render").joinpath("fonts")


@pytest.mark.parametrize("name", FONT_NAMES)
def test_each_font_file_says_public_domain_and_is_listed_in_the_readme(
    name: str,
) -> None:
    bdf = gzip.decompress(FONTS.joinpath(f"{name}.bdf.gz").read_bytes()).decode("latin-1")
    assert 'COPYRIGHT "Public domain' in bdf
    assert f"`{name}.bdf.gz`" in FONTS.joinpath("README.md").read_text()
    assert name in FONTS.joinpath("LICENSE").read_text()


def test_only_listed_fonts_are_shipped() -> None:
    shipped = {p.name for p in FONTS.iterdir() if p.name.endswith(".bdf.gz")}
    assert shipped == {f"{n}.bdf.gz" for n in FONT_NAMES}


@pytest.mark.parametrize("ch", ["’", "é", "ø", "–", "Ω", "Ж"])
def test_typographic_and_accented_letters_have_their_own_glyph(ch: str) -> None:
    font = load_font("5x8")
    assert font.mask(ch).tobytes() != font.mask("?").tobytes()
    assert font.glyph(ch) is font.glyphs[ord(ch)]


def test_a_letter_no_font_has_falls_back_to_a_replacement_of_the_same_width() -> None:
    font = load_font("4x6")
    assert font.width("東") == font.width("?")
    assert font.mask("東").getbbox() is not None


def test_text_mask_is_as_wide_as_the_advances_and_as_high_as_the_font() -> None:
    font = load_font("6x13B")
    m = font.mask("Hello")
    assert m.size == (5 * 6, 13)
