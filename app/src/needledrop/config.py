"""TOML → typed, validated config. Every error names the key and what it allows.

One file (``--config`` or ``$NEEDLEDROP_CONFIG``) holds panel geometry, matrix options,
backend, polling, layout and night dimming. Spotify's client id, secret and redirect URI come
from the environment (``SPOTIPY_CLIENT_ID``, ``SPOTIPY_CLIENT_SECRET``,
``SPOTIPY_REDIRECT_URI``), as spotipy and the credentials role expect.

Example::

    source = "spotify"                   # or "demo"

    [paths]
    token_cache = "/var/lib/needledrop/spotify-token.json"   # never the working directory
    state_dir = "/var/lib/needledrop"                         # status.json, reauth-needed.json
    cache_dir = "/var/cache/needledrop"                       # album art

    [matrix]                             # RGBMatrixOptions, names as in the Python binding
    hardware_mapping = "adafruit-hat-pwm"
    rows = 64
    cols = 64
    chain_length = 1
    gpio_slowdown = 4
    drop_priv_user = "needledrop"
    drop_priv_group = "needledrop"

    [display]
    backend = "rgbmatrix"                # rgbmatrix | emulator | png

    [spotify]
    devices = ["Kitchen"]                # show only what plays on these devices; [] = any

    [polling]
    skip_bound_s = 10

    [night]
    enabled = true
    start = "22:30"
    end = "07:00"
    brightness = 15
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time as dtime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

CONFIG_ENV = "NEEDLEDROP_CONFIG"

# The hardware mappings compiled into rpi-rgb-led-matrix (lib/hardware-mapping.c).
HARDWARE_MAPPINGS = (
    "regular",
    "adafruit-hat",
    "adafruit-hat-pwm",
    "regular-pi1",
    "classic",
    "classic-pi1",
    "compute-module",
)
PANEL_TYPES = ("", "FM6126A", "FM6127")
MULTIPLEXING_MAX = 22  # number of registered multiplex mappers (lib/multiplex-mappers.cc)
PWM_BITS_MAX = 11  # Framebuffer::kBitPlanes
Backend = Literal["rgbmatrix", "emulator", "png"]
Source = Literal["spotify", "demo"]
BACKENDS: tuple[Backend, ...] = ("rgbmatrix", "emulator", "png")
SOURCES: tuple[Source, ...] = ("spotify", "demo")
_S = TypeVar("_S", bound=str)

DEFAULT_ACCOUNTS_URL = "https://accounts.spotify.com"
DEFAULT_API_URL = "https://api.spotify.com/v1/"


class ConfigError(Exception):
    """A config value a user wrote is wrong. ``str()`` is one sentence naming the key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"config: {key}: {message}")


# --- records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatrixConfig:
    """The fields of rgbmatrix.RGBMatrixOptions (Python binding), with upstream's limits."""

    hardware_mapping: str = "regular"
    rows: int = 32
    cols: int = 64
    chain_length: int = 1
    parallel: int = 1
    pwm_bits: int = 11
    pwm_lsb_nanoseconds: int = 130
    pwm_dither_bits: int = 0
    brightness: int = 100
    scan_mode: int = 0
    multiplexing: int = 0
    row_address_type: int = 0
    disable_hardware_pulsing: bool = False
    show_refresh_rate: bool = False
    inverse_colors: bool = False
    led_rgb_sequence: str = "RGB"
    pixel_mapper_config: str = ""
    panel_type: str = ""
    limit_refresh_rate_hz: int = 0
    gpio_slowdown: int = 1
    rp1_rio: int = 0
    drop_privileges: bool = True
    drop_priv_user: str = "daemon"
    drop_priv_group: str = "daemon"

    @property
    def size(self) -> tuple[int, int]:
        """The canvas size (width, height) the app draws, after the pixel mappers.

        Follows the size mapping of upstream's U-mapper, V-mapper and Rotate; other mappers
        keep the size.
        """
        width, height = self.cols * self.chain_length, self.rows * self.parallel
        for mapper in filter(None, (m.strip() for m in self.pixel_mapper_config.split(";"))):
            name, _, arg = mapper.partition(":")
            if name == "U-mapper":  # lib/pixel-mapper.cc UArrangementMapper
                width, height = (width // 64) * 32, height * 2
            elif name == "V-mapper":  # VerticalMapper
                width, height = (
                    width * self.parallel // self.chain_length,
                    height * self.chain_length // self.parallel,
                )
            elif name == "Rotate" and arg.strip() in ("90", "270"):
                width, height = height, width
        return width, height


@dataclass(frozen=True)
class DisplayConfig:
    """Which backend draws the frames, and how often."""

    backend: Backend = "rgbmatrix"
    fps: int = 10  # frame rate while something animates (scrolling, progress)
    png_dir: Path = Path("/var/lib/needledrop/frames")  # png backend: where frames go
    emulator_host: str = "127.0.0.1"  # emulator backend: browser view bound here only
    emulator_port: int = 8888


@dataclass(frozen=True)
class LayoutConfig:
    """What the renderer shows and how it moves."""

    scroll_px_per_s: float = 16.0
    show_progress: bool = True
    idle_after_s: float = 600.0  # nothing played this long → idle screen (clock)
    clock_24h: bool = True


@dataclass(frozen=True)
class NightConfig:
    """Dim the panel between ``start`` and ``end`` (local time; may cross midnight)."""

    enabled: bool = False
    start: dtime = dtime(22, 0)
    end: dtime = dtime(7, 0)
    brightness: int = 20  # percent of the configured brightness

    def is_night(self, t: dtime) -> bool:
        if not self.enabled or self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


@dataclass(frozen=True)
class PollingConfig:
    """How often to ask Spotify. See schedule.py for how these combine."""

    skip_bound_s: float = 10.0  # longest a manual skip may go unseen while playing
    paused_s: float = 30.0  # interval while paused
    idle_s: float = 60.0  # interval while nothing plays (204, private session, filtered device)
    burst_s: float = 2.0  # interval right after a skip (skips come in bursts) ...
    burst_window_s: float = 10.0  # ... for this long
    end_margin_s: float = 0.3  # poll this long after the predicted end of a track
    request_timeout_s: float = 5.0
    backoff_min_s: float = 2.0  # first retry after a network error or 5xx
    backoff_max_s: float = 300.0
    token_check_s: float = 30.0  # while reauth is needed: how often to look for a new token


@dataclass(frozen=True)
class SpotifyConfig:
    """Where the source gets its credentials, token and data."""

    client_id: str | None = None  # $SPOTIPY_CLIENT_ID
    client_secret: str | None = None  # $SPOTIPY_CLIENT_SECRET
    redirect_uri: str = "http://127.0.0.1:8888/callback"  # $SPOTIPY_REDIRECT_URI
    accounts_url: str = DEFAULT_ACCOUNTS_URL
    api_url: str = DEFAULT_API_URL
    devices: tuple[str, ...] = ()  # only show playback on these device names; () = any

    def require_credentials(self) -> tuple[str, str]:
        """The client id and secret, or a ConfigError naming the missing variable."""
        if not self.client_id:
            raise ConfigError("SPOTIPY_CLIENT_ID", "is not set in the environment")
        if not self.client_secret:
            raise ConfigError("SPOTIPY_CLIENT_SECRET", "is not set in the environment")
        return self.client_id, self.client_secret


@dataclass(frozen=True)
class PathsConfig:
    token_cache: Path = Path("/var/lib/needledrop/spotify-token.json")
    state_dir: Path = Path("/var/lib/needledrop")
    cache_dir: Path = Path("/var/cache/needledrop")

    @property
    def status_file(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def reauth_file(self) -> Path:
        return self.state_dir / "reauth-needed.json"

    @property
    def art_cache_dir(self) -> Path:
        return self.cache_dir / "art"


@dataclass(frozen=True)
class Config:
    source: Source = "spotify"
    matrix: MatrixConfig = field(default_factory=MatrixConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    layout: LayoutConfig = field(default_factory=LayoutConfig)
    night: NightConfig = field(default_factory=NightConfig)
    polling: PollingConfig = field(default_factory=PollingConfig)
    spotify: SpotifyConfig = field(default_factory=SpotifyConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)

    @property
    def size(self) -> tuple[int, int]:
        return self.matrix.size


# --- parsing ------------------------------------------------------------------------------------


class _Section:
    """Reads typed values out of one TOML table and rejects keys nobody reads."""

    def __init__(self, name: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(name, "must be a table")
        self.name = name
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def key(self, k: str) -> str:
        return f"{self.name}.{k}" if self.name else k

    def _get(self, k: str) -> Any:
        self.used.add(k)
        return self.data.get(k)

    def integer(self, k: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        v = self._get(k)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(self.key(k), f"must be an integer{_range(lo, hi)}, not {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ConfigError(self.key(k), f"must be an integer{_range(lo, hi)}, not {v!r}")
        return v

    def number(
        self, k: str, default: float, lo: float | None = None, hi: float | None = None
    ) -> float:
        v = self._get(k)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(self.key(k), f"must be a number{_range(lo, hi)}, not {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ConfigError(self.key(k), f"must be a number{_range(lo, hi)}, not {v!r}")
        return float(v)

    def boolean(self, k: str, default: bool) -> bool:
        v = self._get(k)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise ConfigError(self.key(k), f"must be true or false, not {v!r}")
        return v

    def string(self, k: str, default: str) -> str:
        v = self._get(k)
        if v is None:
            return default
        if not isinstance(v, str):
            raise ConfigError(self.key(k), f"must be a string, not {v!r}")
        return v

    def choice(self, k: str, default: _S, allowed: tuple[_S, ...]) -> _S:
        v = self.string(k, default)
        for a in allowed:
            if a == v:
                return a
        shown = ", ".join(repr(a) for a in allowed)
        raise ConfigError(self.key(k), f"must be one of {shown}, not {v!r}")

    def path(self, k: str, default: Path) -> Path:
        v = self.string(k, str(default))
        p = Path(v).expanduser()
        if not p.is_absolute():
            raise ConfigError(self.key(k), f"must be an absolute path, not {v!r}")
        return p

    def clock(self, k: str, default: dtime) -> dtime:
        v = self._get(k)
        if v is None:
            return default
        if isinstance(v, dtime):
            return v
        if isinstance(v, str):
            try:
                return dtime.fromisoformat(v)
            except ValueError:
                pass
        raise ConfigError(self.key(k), f'must be a time of day such as "22:30", not {v!r}')

    def strings(self, k: str) -> tuple[str, ...]:
        v = self._get(k)
        if v is None:
            return ()
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise ConfigError(self.key(k), f"must be a list of strings, not {v!r}")
        return tuple(v)

    def section(self, k: str) -> _Section:
        self.used.add(k)
        return _Section(self.key(k), self.data.get(k, {}))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            allowed = ", ".join(sorted(self.used))
            raise ConfigError(self.key(unknown[0]), f"is not a known key (known here: {allowed})")


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" from {lo} to {hi}"
    if lo is not None:
        return f" of at least {lo}"
    if hi is not None:
        return f" of at most {hi}"
    return ""


def _matrix(s: _Section) -> MatrixConfig:
    d = MatrixConfig()
    hw = s.choice("hardware_mapping", d.hardware_mapping, HARDWARE_MAPPINGS)
    rows = s.integer("rows", d.rows, 8, 64)
    if rows % 2:
        raise ConfigError(s.key("rows"), f"must be an even integer from 8 to 64, not {rows}")
    seq = s.string("led_rgb_sequence", d.led_rgb_sequence)
    if sorted(seq.upper()) != ["B", "G", "R"]:
        raise ConfigError(
            s.key("led_rgb_sequence"),
            f"must be the letters R, G and B in some order, not {seq!r}",
        )
    m = MatrixConfig(
        hardware_mapping=hw,
        rows=rows,
        cols=s.integer("cols", d.cols, 16, 1024),
        chain_length=s.integer("chain_length", d.chain_length, 1, 32),
        parallel=s.integer("parallel", d.parallel, 1, 6 if hw == "compute-module" else 3),
        pwm_bits=s.integer("pwm_bits", d.pwm_bits, 1, PWM_BITS_MAX),
        pwm_lsb_nanoseconds=s.integer("pwm_lsb_nanoseconds", d.pwm_lsb_nanoseconds, 50, 3000),
        pwm_dither_bits=s.integer("pwm_dither_bits", d.pwm_dither_bits, 0, 2),
        brightness=s.integer("brightness", d.brightness, 1, 100),
        scan_mode=s.integer("scan_mode", d.scan_mode, 0, 1),
        multiplexing=s.integer("multiplexing", d.multiplexing, 0, MULTIPLEXING_MAX),
        row_address_type=s.integer("row_address_type", d.row_address_type, 0, 5),
        disable_hardware_pulsing=s.boolean("disable_hardware_pulsing", d.disable_hardware_pulsing),
        show_refresh_rate=s.boolean("show_refresh_rate", d.show_refresh_rate),
        inverse_colors=s.boolean("inverse_colors", d.inverse_colors),
        led_rgb_sequence=seq,
        pixel_mapper_config=s.string("pixel_mapper_config", d.pixel_mapper_config),
        panel_type=s.choice("panel_type", d.panel_type, PANEL_TYPES),
        limit_refresh_rate_hz=s.integer("limit_refresh_rate_hz", d.limit_refresh_rate_hz, 0, 10000),
        gpio_slowdown=s.integer("gpio_slowdown", d.gpio_slowdown, -1, 5),
        rp1_rio=s.integer("rp1_rio", d.rp1_rio, 0, 1),
        drop_privileges=s.boolean("drop_privileges", d.drop_privileges),
        drop_priv_user=s.string("drop_priv_user", d.drop_priv_user),
        drop_priv_group=s.string("drop_priv_group", d.drop_priv_group),
    )
    s.done()
    return m


def _display(s: _Section) -> DisplayConfig:
    d = DisplayConfig()
    host = s.string("emulator_host", d.emulator_host)
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigError(
            s.key("emulator_host"),
            f"must be a loopback address such as 127.0.0.1, not {host!r}",
        )
    c = DisplayConfig(
        backend=s.choice("backend", d.backend, BACKENDS),
        fps=s.integer("fps", d.fps, 1, 60),
        png_dir=s.path("png_dir", d.png_dir),
        emulator_host=host,
        emulator_port=s.integer("emulator_port", d.emulator_port, 1, 65535),
    )
    s.done()
    return c


def _layout(s: _Section) -> LayoutConfig:
    d = LayoutConfig()
    c = LayoutConfig(
        scroll_px_per_s=s.number("scroll_px_per_s", d.scroll_px_per_s, 0, 200),
        show_progress=s.boolean("show_progress", d.show_progress),
        idle_after_s=s.number("idle_after_s", d.idle_after_s, 0),
        clock_24h=s.boolean("clock_24h", d.clock_24h),
    )
    s.done()
    return c


def _night(s: _Section) -> NightConfig:
    d = NightConfig()
    c = NightConfig(
        enabled=s.boolean("enabled", d.enabled),
        start=s.clock("start", d.start),
        end=s.clock("end", d.end),
        brightness=s.integer("brightness", d.brightness, 1, 100),
    )
    s.done()
    return c


def _polling(s: _Section) -> PollingConfig:
    d = PollingConfig()
    c = PollingConfig(
        skip_bound_s=s.number("skip_bound_s", d.skip_bound_s, 1, 120),
        paused_s=s.number("paused_s", d.paused_s, 1, 3600),
        idle_s=s.number("idle_s", d.idle_s, 1, 3600),
        burst_s=s.number("burst_s", d.burst_s, 1, 120),
        burst_window_s=s.number("burst_window_s", d.burst_window_s, 0, 3600),
        end_margin_s=s.number("end_margin_s", d.end_margin_s, 0, 10),
        request_timeout_s=s.number("request_timeout_s", d.request_timeout_s, 0.5, 60),
        backoff_min_s=s.number("backoff_min_s", d.backoff_min_s, 0.1, 3600),
        backoff_max_s=s.number("backoff_max_s", d.backoff_max_s, 1, 86400),
        token_check_s=s.number("token_check_s", d.token_check_s, 1, 3600),
    )
    if c.backoff_max_s < c.backoff_min_s:
        raise ConfigError(s.key("backoff_max_s"), "must be at least polling.backoff_min_s")
    s.done()
    return c


def _url(s: _Section, k: str, default: str) -> str:
    v = s.string(k, default)
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(s.key(k), f"must be an http(s) URL, not {v!r}")
    return v


def redirect_uri_problem(uri: str) -> str | None:
    """Why Spotify would reject this redirect URI for a loopback sign-in, or None if fine."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be a URL such as http://127.0.0.1:8888/callback, not {uri!r}"
    if parts.hostname == "localhost":
        return (
            "must not use 'localhost' (Spotify rejects it since November 2025); "
            f"use http://127.0.0.1:{parts.port or 8888}{parts.path or '/callback'}"
        )
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "::1"):
        return f"must be https unless it is a loopback address, not {uri!r}"
    return None


def _spotify(s: _Section, env: Mapping[str, str]) -> SpotifyConfig:
    d = SpotifyConfig()
    redirect = env.get("SPOTIPY_REDIRECT_URI") or d.redirect_uri
    problem = redirect_uri_problem(redirect)
    if problem:
        raise ConfigError("SPOTIPY_REDIRECT_URI", problem)
    api = _url(s, "api_url", d.api_url)
    c = SpotifyConfig(
        client_id=env.get("SPOTIPY_CLIENT_ID") or None,
        client_secret=env.get("SPOTIPY_CLIENT_SECRET") or None,
        redirect_uri=redirect,
        accounts_url=_url(s, "accounts_url", d.accounts_url).rstrip("/"),
        api_url=api if api.endswith("/") else api + "/",
        devices=s.strings("devices"),
    )
    s.done()
    return c


def _paths(s: _Section) -> PathsConfig:
    d = PathsConfig()
    c = PathsConfig(
        token_cache=s.path("token_cache", d.token_cache),
        state_dir=s.path("state_dir", d.state_dir),
        cache_dir=s.path("cache_dir", d.cache_dir),
    )
    s.done()
    return c


def parse_config(data: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    """Validate a parsed TOML document. Raises ConfigError naming the first bad key."""
    root = _Section("", dict(data))
    cfg = Config(
        source=root.choice("source", "spotify", SOURCES),
        matrix=_matrix(root.section("matrix")),
        display=_display(root.section("display")),
        layout=_layout(root.section("layout")),
        night=_night(root.section("night")),
        polling=_polling(root.section("polling")),
        spotify=_spotify(root.section("spotify"), env),
        paths=_paths(root.section("paths")),
    )
    root.done()
    return cfg


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read the config file (``path``, else ``$NEEDLEDROP_CONFIG``) and validate it."""
    env = os.environ if env is None else env
    if path is None:
        if not env.get(CONFIG_ENV):
            raise ConfigError("--config", f"no config file given (use --config or ${CONFIG_ENV})")
        path = Path(env[CONFIG_ENV])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError("--config", f"cannot read {path}: {e.strerror or e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("--config", f"{path} is not valid TOML ({e})") from None
    return parse_config(data, env)
