"""The rgbmatrix and emulator backends, driven through RGBMatrixEmulator (no GPIO here).

RGBMatrixEmulator exposes `RGBMatrix` and `RGBMatrixOptions` under the same names as the real
binding, so the rgbmatrix backend is given the emulator's module in place of `rgbmatrix`. Its
"raw" display adapter keeps the pixel buffers it was shown, which the tests read back.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from needledrop.backends import BackendError
from needledrop.backends.emulator import (
    CONFIG_NAME,
    EmulatorBackend,
    EmulatorSettings,
    import_emulator,
)
from needledrop.backends.rgbmatrix import OPTION_NAMES, RgbMatrixBackend
from needledrop.config import MatrixConfig
from PIL import Image

RAW = EmulatorSettings(adapter="raw")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A scratch CWD, and a fresh raw adapter (the emulator keeps one adapter per process)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    emu = import_emulator(tmp_path / "emu-import", RAW)
    from RGBMatrixEmulator.adapters.raw_adapter import RawAdapter

    RawAdapter.INSTANCE = None
    yield cwd
    RawAdapter.INSTANCE = None
    del emu


def _pattern(size: tuple[int, int]) -> Image.Image:
    w, h = size
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    arr[..., 0] = (np.arange(w) * 255 // max(1, w - 1))[None, :]
    arr[..., 1] = (np.arange(h) * 255 // max(1, h - 1))[:, None]
    arr[5:9, 7:30, 2] = 200
    return Image.fromarray(arr, "RGB")


def _last_shown(adapter: object) -> np.ndarray:
    frames = adapter.frames  # type: ignore[attr-defined]
    return np.asarray(frames[max(frames)])


def test_rgbmatrix_backend_sets_every_option_and_draws_through_swaponvsync(
    workdir: Path, tmp_path: Path
) -> None:
    emu = import_emulator(tmp_path / "emu-import", RAW)
    with_values = MatrixConfig(
        rows=32,
        cols=64,
        chain_length=1,
        gpio_slowdown=4,
        brightness=100,
        pwm_bits=7,
        pwm_dither_bits=1,
        scan_mode=1,
        inverse_colors=True,
        rp1_rio=1,
        limit_refresh_rate_hz=120,
        panel_type="FM6126A",
        led_rgb_sequence="RBG",
        drop_priv_user="needledrop",
        drop_priv_group="needledrop",
    )
    os.chdir(tmp_path / "emu-import")  # the emulator reads its config from the CWD
    backend = RgbMatrixBackend(with_values, module=emu)
    for name in OPTION_NAMES:
        assert getattr(backend.options, name) == getattr(with_values, name), name
    assert backend.size == (64, 32)
    first = backend.canvas
    frame = _pattern((64, 32))
    backend.show(frame)
    assert np.array_equal(_last_shown(first.display_adapter), np.asarray(frame))


def test_rgbmatrix_backend_reports_an_option_the_binding_lacks(workdir: Path) -> None:
    class OldOptions:
        __slots__ = tuple(n for n in OPTION_NAMES if n != "rp1_rio")

    old = SimpleNamespace(__name__="rgbmatrix", RGBMatrixOptions=OldOptions)
    with pytest.raises(BackendError, match=r"no RGBMatrixOptions\.rp1_rio"):
        RgbMatrixBackend(MatrixConfig(), module=old)  # type: ignore[arg-type]


def test_emulator_backend_chain_of_three_panels_is_192_wide(workdir: Path, tmp_path: Path) -> None:
    cfg = MatrixConfig(rows=64, cols=64, chain_length=3)
    backend = EmulatorBackend(cfg, tmp_path / "state", RAW)
    assert backend.size == cfg.size == (192, 64)
    frame = _pattern(backend.size)
    backend.show(frame)
    assert np.array_equal(_last_shown(backend.adapter), np.asarray(frame))


def test_emulator_backend_keeps_its_config_in_the_state_dir_not_the_cwd(
    workdir: Path, tmp_path: Path
) -> None:
    backend = EmulatorBackend(MatrixConfig(rows=32, cols=32), tmp_path / "state", RAW)
    assert not (workdir / CONFIG_NAME).exists()
    assert (tmp_path / "state" / CONFIG_NAME).exists()
    assert Path.cwd() == workdir
    backend.show(_pattern((32, 32)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) in LISTEN state on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, _, hexport = local.partition(":")
            if state == "0A" and int(hexport, 16) == port:
                found.add(addr)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs /proc/net/tcp")
def test_emulator_browser_view_listens_on_loopback_only(tmp_path: Path) -> None:
    port = _free_port()
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from needledrop.backends.emulator import EmulatorBackend, EmulatorSettings
        from needledrop.config import MatrixConfig
        from PIL import Image
        b = EmulatorBackend(MatrixConfig(rows=32, cols=32), Path({str(tmp_path)!r}) / "state",
                            EmulatorSettings(adapter="browser", port={port}))
        b.show(Image.new("RGB", (32, 32), (255, 0, 0)))
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""  # PIPE: always there
        assert line.strip() == "ready", proc.stderr.read() if proc.stderr else ""
        deadline = time.monotonic() + 10
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _listening(port) == {"0100007F"}  # 127.0.0.1, and nothing else
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert resp.status == 200
        assert not (tmp_path / CONFIG_NAME).exists()
    finally:
        proc.kill()
        proc.wait(timeout=10)
