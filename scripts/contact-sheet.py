#!/usr/bin/env python3
"""One PNG showing each display's latest frame, its hostname and its status line.

    python scripts/contact-sheet.py OUT.png HOST FRAME.png "STATUS LINE" [HOST FRAME STATUS ...]

Frames are scaled up (nearest neighbour, like LEDs) to a common height and stacked; a missing or
unreadable frame is drawn as a grey box saying so, so the sheet always shows every display.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PAD, LINE, TARGET_H = 12, 14, 192


def tile(host: str, frame: Path, status: str) -> Image.Image:
    try:
        with Image.open(frame) as im:
            img = im.convert("RGB")
    except OSError as e:
        img = Image.new("RGB", (64, 32), (60, 60, 60))
        status = f"{status} (no frame: {e.strerror or e})"
    scale = max(1, TARGET_H // img.height)
    img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    font = ImageFont.load_default(size=12)
    status = status.replace("\u2014", "-")  # Pillow's built-in font has no em dash
    width = max(img.width, 8 * max(len(host), len(status))) + 2 * PAD
    out = Image.new("RGB", (width, img.height + 2 * LINE + 3 * PAD), (16, 16, 16))
    draw = ImageDraw.Draw(out)
    draw.text((PAD, PAD), host, fill=(255, 255, 255), font=font)
    out.paste(img, (PAD, PAD + LINE + PAD // 2))
    draw.text((PAD, img.height + LINE + 2 * PAD), status, fill=(180, 220, 180), font=font)
    return out


def main(argv: list[str]) -> int:
    if len(argv) < 4 or (len(argv) - 1) % 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = Path(argv[0])
    tiles = [tile(argv[i], Path(argv[i + 1]), argv[i + 2]) for i in range(1, len(argv), 3)]
    sheet = Image.new(
        "RGB", (max(t.width for t in tiles), sum(t.height for t in tiles)), (16, 16, 16)
    )
    y = 0
    for t in tiles:
        sheet.paste(t, (0, y))
        y += t.height
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, "PNG")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
