"""The real panel, through hzeller's rpi-rgb-led-matrix Python binding (module ``rgbmatrix``).

The process starts as root for GPIO; ``RGBMatrix(options=...)`` then drops privileges to
``drop_priv_user``/``drop_priv_group``. Everything opened after that (art cache, state files)
must be readable and writable by that user; fonts are loaded from the installed package, which
is world-readable.

Frames go to an offscreen canvas with ``SetImage`` and are shown with ``SwapOnVSync``, which
returns the next canvas to draw on (double buffering, no tearing).
"""

from __future__ import annotations

import importlib
from dataclasses import fields
from types import ModuleType
from typing import Any

from PIL import Image

from needledrop.backends import BackendError
from needledrop.config import MatrixConfig

# MatrixConfig field → RGBMatrixOptions attribute (the same names at the pinned commit)
OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(MatrixConfig))


def build_options(module: ModuleType, cfg: MatrixConfig) -> Any:
    """An ``RGBMatrixOptions`` of ``module`` with every field of ``cfg`` set on it."""
    options = module.RGBMatrixOptions()
    for name in OPTION_NAMES:
        try:
            setattr(options, name, getattr(cfg, name))
        except AttributeError:
            raise BackendError(
                f"the installed {module.__name__} module has no RGBMatrixOptions.{name}; "
                "it is older than the pinned rpi-rgb-led-matrix commit"
            ) from None
    return options


class RgbMatrixBackend:
    def __init__(self, cfg: MatrixConfig, module: ModuleType | None = None) -> None:
        if module is None:
            try:
                module = importlib.import_module("rgbmatrix")
            except ImportError:
                raise BackendError(
                    "the rgbmatrix module is not installed; install the rpi-rgb-led-matrix "
                    "Python binding or use the emulator or png backend"
                ) from None
        self.options = build_options(module, cfg)
        try:
            self.matrix = module.RGBMatrix(options=self.options)
        except (RuntimeError, OSError) as e:
            raise BackendError(f"cannot start the LED matrix: {e}") from None
        self.size: tuple[int, int] = (int(self.matrix.width), int(self.matrix.height))
        self.canvas = self.matrix.CreateFrameCanvas()

    def show(self, image: Image.Image) -> None:
        if image.size != self.size:
            raise ValueError(f"frame is {image.size}, the matrix is {self.size}")
        self.canvas.SetImage(image.convert("RGB"), 0, 0)
        self.canvas = self.matrix.SwapOnVSync(self.canvas)

    def close(self) -> None:
        self.matrix.Clear()
