"""Bitmap fonts read from the BDF files shipped in ``fonts/`` (misc-fixed, public domain).

Pillow's own bitmap font format holds 256 glyphs; song titles need more (’, –, é, ø, Cyrillic,
Greek), so the BDF is read here into a code point → glyph table and text is drawn into an 8-bit
mask that callers paste in any colour.
"""

from __future__ import annotations

import gzip
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from PIL import Image

FONT_NAMES = ("4x6", "5x8", "6x10", "6x13B", "9x15B")
_FALLBACK_CHARS = ("\ufffd", "?")


@dataclass(frozen=True)
class Glyph:
    advance: int  # DWIDTH: pen movement in pixels
    width: int  # BBX
    height: int
    x_off: int
    y_off: int  # baseline to the bottom of the bitmap, up is positive
    bits: bytes  # rows of the bitmap, each padded to a whole byte, MSB first (PIL mode "1")


@dataclass(frozen=True)
class BitmapFont:
    name: str
    ascent: int
    descent: int
    glyphs: dict[int, Glyph]

    @property
    def height(self) -> int:
        return self.ascent + self.descent

    def glyph(self, ch: str) -> Glyph | None:
        """The glyph drawn for ``ch``: itself, its base letter, or a replacement mark."""
        g = self.glyphs.get(ord(ch))
        if g is not None:
            return g
        if unicodedata.combining(ch):
            return None  # a lone combining mark the font lacks: draw nothing
        base = unicodedata.normalize("NFKD", ch)[:1]
        if base and base != ch and ord(base) in self.glyphs:
            return self.glyphs[ord(base)]
        for fallback in _FALLBACK_CHARS:
            if ord(fallback) in self.glyphs:
                return self.glyphs[ord(fallback)]
        return None

    def _glyphs_for(self, text: str) -> list[Glyph]:
        out: list[Glyph] = []
        for ch in unicodedata.normalize("NFC", text):
            g = self.glyph(ch)
            if g is not None:
                out.append(g)
        return out

    def width(self, text: str) -> int:
        return sum(g.advance for g in self._glyphs_for(text))

    def mask(self, text: str) -> Image.Image:
        """``text`` as an "L" image (255 = ink) of the text's width and the font's height."""
        glyphs = self._glyphs_for(text)
        img = Image.new("L", (max(1, sum(g.advance for g in glyphs)), self.height), 0)
        x = 0
        for g in glyphs:
            if g.width and g.height:
                bitmap = Image.frombytes("1", (g.width, g.height), g.bits)
                top = self.ascent - g.y_off - g.height
                img.paste(255, (x + g.x_off, top), bitmap)
            x += g.advance
        return img


def parse_bdf(text: str, name: str) -> BitmapFont:
    """Read a BDF 2.1 font. Glyphs without an encoding (ENCODING -1) are skipped."""
    ascent = descent = 0
    glyphs: dict[int, Glyph] = {}
    lines = iter(text.splitlines())
    for line in lines:
        key, _, rest = line.partition(" ")
        if key == "FONT_ASCENT":
            ascent = int(rest)
        elif key == "FONT_DESCENT":
            descent = int(rest)
        elif key == "STARTCHAR":
            code, advance, bbx, rows = -1, 0, (0, 0, 0, 0), []
            for line in lines:
                key, _, rest = line.partition(" ")
                if key == "ENCODING":
                    code = int(rest.split()[0])
                elif key == "DWIDTH":
                    advance = int(rest.split()[0])
                elif key == "BBX":
                    w, h, xo, yo = (int(v) for v in rest.split())
                    bbx = (w, h, xo, yo)
                elif key == "BITMAP":
                    for line in lines:
                        if line.startswith("ENDCHAR"):
                            break
                        rows.append(bytes.fromhex(line.strip()))
                    break
            if code >= 0:
                row_bytes = (bbx[0] + 7) // 8
                bits = b"".join(r[:row_bytes].ljust(row_bytes, b"\0") for r in rows)
                glyphs[code] = Glyph(advance, bbx[0], bbx[1], bbx[2], bbx[3], bits)
    if not glyphs or ascent + descent <= 0:
        raise ValueError(f"font {name}: no glyphs or no FONT_ASCENT/FONT_DESCENT")
    return BitmapFont(name=name, ascent=ascent, descent=descent, glyphs=glyphs)


def load_font(name: str, directory: Path | None = None) -> BitmapFont:
    """Load one of FONT_NAMES from the package (or from ``directory``)."""
    if directory is not None:
        data = (directory / f"{name}.bdf.gz").read_bytes()
    else:
        data = resources.files("needledrop.render").joinpath("fonts", f"{name}.bdf.gz").read_bytes()
    return parse_bdf(gzip.decompress(data).decode("latin-1"), name)


@dataclass
class FontSet:
    """The fonts one renderer uses, each loaded once on first use."""

    directory: Path | None = None

    def __post_init__(self) -> None:
        self._fonts: dict[str, BitmapFont] = {}

    def __getitem__(self, name: str) -> BitmapFont:
        font = self._fonts.get(name)
        if font is None:
            font = self._fonts[name] = load_font(name, self.directory)
        return font
