"""RGBMatrixEmulator (PyPI) in place of a panel: a browser view of the same frames.

RGBMatrixEmulator reads ``emulator_config.json`` from the current directory — and writes a
default one there if it is missing — both when it is imported and whenever an
``RGBMatrixOptions`` is made. So this backend writes its own config into a state directory
first and does the import and every construction with that directory as the current one,
then changes back. Its browser server listens on all interfaces by default (tornado's
``listen(port)``); here it is bound to ``host`` (127.0.0.1 unless configured otherwise).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from PIL import Image

from needledrop.backends import BackendError
from needledrop.backends.rgbmatrix import build_options
from needledrop.config import MatrixConfig
from needledrop.files import write_atomic

if TYPE_CHECKING:
    from needledrop.config import Config

CONFIG_NAME = "emulator_config.json"


@dataclass(frozen=True)
class EmulatorSettings:
    adapter: str = "browser"  # browser | raw (tests) | terminal | ...
    host: str = "127.0.0.1"
    port: int = 8888
    pixel_size: int = 8
    pixel_style: str = "square"

    def config_json(self) -> dict[str, Any]:
        return {
            "pixel_outline": 0,
            "pixel_size": self.pixel_size,
            "pixel_style": self.pixel_style,
            "pixel_glow": 0,
            "display_adapter": self.adapter,
            "allow_adapter_fallback": False,
            "icon_path": None,
            "emulator_title": "needledrop",
            "browser": {
                "_comment": "Written by needledrop; the server is bound to host only.",
                "port": self.port,
                "target_fps": 30,
                "fps_display": False,
                "quality": 90,
                "image_border": True,
                "debug_text": False,
                "image_format": "PNG",
                "open_immediately": False,
            },
            "log_level": "warning",
        }


@contextlib.contextmanager
def _in_directory(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@contextlib.contextmanager
def _listen_on(host: str) -> Iterator[None]:
    """Make tornado's Application.listen bind ``host`` while the emulator starts its server."""
    try:
        import tornado.web
    except ImportError:  # no browser adapter without tornado; nothing to bind
        yield
        return
    original = tornado.web.Application.listen

    def listen(self: Any, port: int, address: str | None = None, **kwargs: Any) -> Any:
        return original(self, port, address=host, **kwargs)

    tornado.web.Application.listen = listen  # type: ignore[method-assign]
    try:
        yield
    finally:
        tornado.web.Application.listen = original  # type: ignore[method-assign]


def write_emulator_config(state_dir: Path, settings: EmulatorSettings) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / CONFIG_NAME
    text = json.dumps(settings.config_json(), indent=2) + "\n"
    write_atomic(path, text.encode("utf-8"), 0o644)
    return path


def import_emulator(state_dir: Path, settings: EmulatorSettings) -> ModuleType:
    """Import RGBMatrixEmulator with our config in ``state_dir`` (and nothing in the CWD)."""
    write_emulator_config(state_dir, settings)
    with _in_directory(state_dir):
        try:
            return importlib.import_module("RGBMatrixEmulator")
        except ImportError:
            raise BackendError(
                "RGBMatrixEmulator is not installed; install needledrop[emulator] "
                "or use the png backend"
            ) from None


class EmulatorBackend:
    def __init__(self, cfg: MatrixConfig, state_dir: Path, settings: EmulatorSettings) -> None:
        self.state_dir = state_dir
        self.settings = settings
        self.module = import_emulator(state_dir, settings)
        with _in_directory(state_dir), _listen_on(settings.host):
            self.options = build_options(self.module, cfg)
            self.matrix = self.module.RGBMatrix(options=self.options)
            self.canvas = self.matrix.CreateFrameCanvas()
        self.size: tuple[int, int] = (int(self.matrix.width), int(self.matrix.height))

    @classmethod
    def from_config(cls, cfg: Config) -> EmulatorBackend:
        settings = EmulatorSettings(host=cfg.display.emulator_host, port=cfg.display.emulator_port)
        return cls(cfg.matrix, cfg.paths.state_dir / "emulator", settings)

    @property
    def adapter(self) -> Any:
        """The emulator's display adapter (the raw adapter keeps the frames it was shown)."""
        return self.canvas.display_adapter

    def show(self, image: Image.Image) -> None:
        if image.size != self.size:
            raise ValueError(f"frame is {image.size}, the emulated matrix is {self.size}")
        self.canvas.SetImage(image.convert("RGB"), 0, 0)
        self.canvas = self.matrix.SwapOnVSync(self.canvas)

    def close(self) -> None:
        return None
