"""Headless backend: each frame written as a PNG file, atomically.

``frame.png`` (or ``latest_name``) in the directory is always the latest complete frame
(written to a temporary file and renamed over it, so a reader never sees half a frame). With
``snapshots`` on, every frame is also kept as ``frame-000001.png``, ``frame-000002.png``, ...
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from needledrop.backends import BackendError
from needledrop.files import write_atomic

LATEST = "frame.png"


class PngBackend:
    def __init__(
        self,
        directory: Path,
        size: tuple[int, int],
        *,
        snapshots: bool = False,
        scale: int = 1,
        latest_name: str = LATEST,
    ) -> None:
        self.directory = directory
        self.latest_name = latest_name
        self.size = size
        self.snapshots = snapshots
        self.scale = scale
        self.count = 0
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BackendError(f"cannot create the PNG frame directory {directory}: {e}") from None

    @property
    def latest(self) -> Path:
        return self.directory / self.latest_name

    def show(self, image: Image.Image) -> None:
        if image.size != self.size:
            raise ValueError(f"frame is {image.size}, the display is {self.size}")
        if self.scale > 1:
            w, h = self.size
            image = image.resize((w * self.scale, h * self.scale), Image.Resampling.NEAREST)
        self.count += 1
        write_png_atomic(image, self.latest)
        if self.snapshots:
            write_png_atomic(image, self.directory / f"frame-{self.count:06d}.png")

    def close(self) -> None:
        return None


def write_png_atomic(image: Image.Image, path: Path) -> None:
    """Write ``image`` to ``path`` so readers see the old file or the new one, never a part
    (files.write_atomic: encoded in memory first, fsync'ed, renamed)."""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    write_atomic(path, buf.getvalue(), 0o644)
