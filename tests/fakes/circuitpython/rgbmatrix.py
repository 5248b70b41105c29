"""Stand-in for ``rgbmatrix``: checks the arguments code.py gives a real panel."""

from __future__ import annotations


class RGBMatrix:
    def __init__(
        self,
        *,
        width,
        height,
        bit_depth,
        rgb_pins,
        addr_pins,
        clock_pin,
        latch_pin,
        output_enable_pin,
        **_kw,
    ):
        if height not in (16, 32, 64) or len(addr_pins) != {16: 3, 32: 4, 64: 5}[height]:
            raise ValueError("address pins don't match the panel height")
        if len(rgb_pins) != 6 or not 1 <= bit_depth <= 6:
            raise ValueError("bad rgb pins or bit depth")
        self.width = width
        self.height = height
