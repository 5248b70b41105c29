"""Where frames go: a real panel (rgbmatrix), RGBMatrixEmulator, or PNG files.

Every backend shows the same RGB frames the renderer draws; `open_backend(cfg)` picks one from
``[display] backend``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PIL import Image

if TYPE_CHECKING:
    from needledrop.config import Config


class BackendError(Exception):
    """A backend cannot start. ``str()`` is one sentence for the user."""


@runtime_checkable
class Backend(Protocol):
    size: tuple[int, int]  # width, height the frames must have

    def show(self, image: Image.Image) -> None:
        """Put ``image`` (RGB, ``size``) on the display."""

    def close(self) -> None:
        """Release the display (blank a real panel, stop the emulator's server)."""


def open_backend(cfg: Config) -> Backend:
    """The backend ``cfg.display.backend`` names, sized from ``cfg.matrix``."""
    kind = cfg.display.backend
    if kind == "png":
        from needledrop.backends.png import PngBackend

        return PngBackend(cfg.display.png_dir, cfg.size)
    if kind == "emulator":
        from needledrop.backends.emulator import EmulatorBackend

        return EmulatorBackend.from_config(cfg)
    if kind == "rgbmatrix":
        from needledrop.backends.rgbmatrix import RgbMatrixBackend

        return RgbMatrixBackend(cfg.matrix)
    raise BackendError(f"unknown backend {kind!r} (use rgbmatrix, emulator or png)")


__all__ = ["Backend", "BackendError", "open_backend"]
