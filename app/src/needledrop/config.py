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

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time as dtime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from needledrop.settings import CANVAS_MIN, PARALLEL_MAX, SETTINGS, Setting, shown

CONFIG_ENV = "NEEDLEDROP_CONFIG"

Backend = Literal["rgbmatrix", "emulator", "png"]
Source = Literal["spotify", "demo", "follow"]
SHARE_KEY_ENV = "NEEDLEDROP_SHARE_KEY"
SHARE_KEY_MIN = 16  # characters of the per-account key

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
    drop_priv_user: str = "needledrop"
    drop_priv_group: str = "needledrop"

    @property
    def size(self) -> tuple[int, int]:
        """The canvas size (width, height) the app draws, after the pixel mappers."""
        return mapped_size(self)


def mapped_size(m: MatrixConfig) -> tuple[int, int]:
    """The canvas size after ``m.pixel_mapper_config``, or ValueError saying what is wrong.

    Follows the size mapping and parameter checks of upstream's mappers (lib/pixel-mapper.cc:
    Rotate, Mirror, U-mapper, V-mapper, StackToRow, Remap); a chain that leaves no pixel, or a
    mapper upstream would refuse, is an error here rather than a crash at start.
    """
    width, height = m.cols * m.chain_length, m.rows * m.parallel
    for mapper in filter(None, (p.strip() for p in m.pixel_mapper_config.split(";"))):
        name, _, arg = (x.strip() for x in mapper.partition(":"))
        if name == "Rotate":
            try:
                angle = int(arg or "0")
            except ValueError:
                raise ValueError(f"Rotate takes a multiple of 90 degrees, not {arg!r}") from None
            if angle % 90:
                raise ValueError(f"Rotate takes a multiple of 90 degrees, not {angle}")
            if angle % 180:
                width, height = height, width
        elif name == "Mirror":
            if arg.upper() not in ("H", "V"):
                raise ValueError(f"Mirror takes H or V, not {arg!r}")
        elif name == "U-mapper":
            if m.chain_length < 2 or m.chain_length % 2:
                raise ValueError("U-mapper needs an even chain_length of at least 2")
            width, height = (width // 64) * 32, height * 2
        elif name == "V-mapper":
            if arg and arg.upper() != "Z":
                raise ValueError(f"V-mapper takes nothing or Z, not {arg!r}")
            width, height = (
                width * m.parallel // m.chain_length,
                height * m.chain_length // m.parallel,
            )
        elif name == "StackToRow":
            width, height = width * m.parallel, height // m.parallel
        elif name == "Remap":
            w, _, rest = arg.partition(",")
            h = rest.partition("|")[0]
            if not (w.strip().isdigit() and h.strip().isdigit()):
                raise ValueError(f"Remap starts with WIDTH,HEIGHT|, not {arg!r}")
            width, height = int(w), int(h)
        else:
            known = "Rotate, Mirror, U-mapper, V-mapper, StackToRow, Remap"
            raise ValueError(f"has an unknown mapper {name!r} (known: {known})")
        if width < 1 or height < 1:
            raise ValueError(
                f"maps the {m.cols * m.chain_length}x{m.rows * m.parallel} panel to "
                f"{width}x{height} pixels at {name!r}; check the mappers against "
                "cols, chain_length and parallel"
            )
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
    token_warning_days: int = 14  # mark + status warning this long before the sign-in dies


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
class ShareConfig:
    """One Spotify poll per account (share.py): the primary serves, followers follow."""

    serve: bool = False  # this display is its account's primary
    bind: str = "127.0.0.1"  # the LAN address the primary listens on
    port: int = 8765
    primary_url: str = ""  # source = "follow": the primary's http://HOST:PORT
    long_poll_s: float = 20.0
    failover_s: float = 30.0
    recheck_s: float = 20.0
    max_skew_s: float = 60.0
    rate_per_s: float = 5.0
    key: str | None = field(default=None, repr=False)  # $NEEDLEDROP_SHARE_KEY

    @property
    def role(self) -> str:
        """primary, follower or solo (set by parse_config from the source)."""
        return "primary" if self.serve else "follower" if self.primary_url else "solo"

    def require_key(self) -> bytes:
        """The account's key, or a ConfigError naming the variable (run needs it, status not)."""
        if self.key is None or len(self.key) < SHARE_KEY_MIN:
            raise ConfigError(
                SHARE_KEY_ENV,
                f"must hold the account's share key (at least {SHARE_KEY_MIN} characters) when "
                "sharing; put it in the environment file",
            )
        return self.key.encode()


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
    share: ShareConfig = field(default_factory=ShareConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)

    @property
    def size(self) -> tuple[int, int]:
        return self.matrix.size


# --- parsing ------------------------------------------------------------------------------------


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _Section:
    """Reads typed values out of one TOML table and rejects keys nobody reads."""

    def __init__(self, name: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(name, f"must be a table ([{name}]), not {shown(data)}")
        self.name = name
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def key(self, k: str) -> str:
        """The dotted name of key ``k``, quoted as TOML quotes it when it is not a bare key."""
        shown_k = k if _BARE_KEY.fullmatch(k) else json.dumps(k)
        return f"{self.name}.{shown_k}" if self.name else shown_k

    def _get(self, k: str) -> Any:
        self.used.add(k)
        return self.data.get(k)

    def settings(self) -> dict[str, Any]:
        """Every defined setting of this section (settings.py), checked, by name."""
        values: dict[str, Any] = {}
        for st in SETTINGS:
            if st.section == self.name:
                values[st.name] = self.setting(st)
        return values

    def setting(self, st: Setting) -> Any:
        v = self._get(st.name)
        if v is None:
            return st.default
        try:
            return st.check(v)
        except ValueError as e:
            raise ConfigError(self.key(st.name), str(e)) from None

    def string(self, k: str, default: str) -> str:
        v = self._get(k)
        if v is None:
            return default
        if not isinstance(v, str):
            raise ConfigError(self.key(k), f"must be a string, not {shown(v)}")
        return v

    def path(self, k: str, default: Path) -> Path:
        v = self.string(k, str(default))
        if "\0" in v:
            raise ConfigError(self.key(k), "must be a path without NUL characters")
        p = Path(v).expanduser() if v.startswith("~") else Path(v)
        if not p.is_absolute():
            raise ConfigError(self.key(k), f"must be an absolute path, not {shown(v)}")
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
        raise ConfigError(self.key(k), f'must be a time of day such as "22:30", not {shown(v)}')

    def strings(self, k: str) -> tuple[str, ...]:
        v = self._get(k)
        if v is None:
            return ()
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise ConfigError(self.key(k), f"must be a list of strings, not {shown(v)}")
        return tuple(v)

    def section(self, k: str) -> _Section:
        self.used.add(k)
        return _Section(self.key(k), self.data.get(k, {}))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            name = unknown[0]
            close = difflib.get_close_matches(name, sorted(self.used), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "remove it"
            allowed = ", ".join(sorted(self.used))
            raise ConfigError(self.key(name), f"is not a known key; {hint} (known here: {allowed})")


def _matrix(s: _Section) -> MatrixConfig:
    m = MatrixConfig(**s.settings())
    if m.parallel > PARALLEL_MAX and m.hardware_mapping != "compute-module":
        raise ConfigError(
            s.key("parallel"),
            f"must be from 1 to {PARALLEL_MAX} unless hardware_mapping is 'compute-module', "
            f"not {m.parallel}",
        )
    try:
        width, height = mapped_size(m)
    except ValueError as e:
        raise ConfigError(s.key("pixel_mapper_config"), str(e)) from None
    problem = canvas_problem(m, width, height)
    if problem is not None:
        raise ConfigError(s.name, problem)
    s.done()
    return m


def canvas_problem(m: MatrixConfig, width: int, height: int) -> str | None:
    """Why the renderer cannot draw on a ``width`` x ``height`` canvas of ``m``, or None."""
    if width >= CANVAS_MIN and height >= CANVAS_MIN:
        return None
    mapped = bool(m.pixel_mapper_config.strip())
    how = (
        "after pixel_mapper_config"
        if mapped
        else f"(cols {m.cols} x chain_length {m.chain_length} by rows {m.rows} x parallel "
        f"{m.parallel})"
    )
    fix = "raise rows, cols, chain_length or parallel" + (
        ", or change pixel_mapper_config" if mapped else ""
    )
    return (
        f"the panel is {width}x{height} pixels {how}; needledrop draws panels from "
        f"{CANVAS_MIN}x{CANVAS_MIN} up: {fix}"
    )


def _display(s: _Section) -> DisplayConfig:
    d = DisplayConfig()
    host = s.string("emulator_host", d.emulator_host)
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigError(
            s.key("emulator_host"),
            f"must be a loopback address such as 127.0.0.1, not {shown(host)}",
        )
    c = DisplayConfig(
        png_dir=s.path("png_dir", d.png_dir),
        emulator_host=host,
        **s.settings(),
    )
    s.done()
    return c


def _layout(s: _Section) -> LayoutConfig:
    c = LayoutConfig(**s.settings())
    s.done()
    return c


def _night(s: _Section) -> NightConfig:
    d = NightConfig()
    c = NightConfig(start=s.clock("start", d.start), end=s.clock("end", d.end), **s.settings())
    s.done()
    return c


def _polling(s: _Section) -> PollingConfig:
    c = PollingConfig(**s.settings())
    if c.backoff_max_s < c.backoff_min_s:
        # Name the key the file set: a lone backoff_min_s above the default maximum is the
        # minimum's fault, not that of a maximum the user never wrote.
        if "backoff_min_s" in s.data and "backoff_max_s" not in s.data:
            raise ConfigError(
                s.key("backoff_min_s"),
                f"must be at most polling.backoff_max_s ({c.backoff_max_s}, the default), "
                f"not {c.backoff_min_s}; lower it or raise backoff_max_s too",
            )
        raise ConfigError(
            s.key("backoff_max_s"),
            f"must be at least polling.backoff_min_s ({c.backoff_min_s}), not {c.backoff_max_s}",
        )
    s.done()
    return c


def _url(s: _Section, k: str, default: str) -> str:
    v = s.string(k, default)
    try:
        parts = urlsplit(v)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port or IPv6 literal
        ok = False
    if not ok:
        raise ConfigError(s.key(k), f"must be an http(s) URL, not {shown(v)}")
    return v


def redirect_uri_problem(uri: str) -> str | None:
    """Why Spotify would reject this redirect URI for a loopback sign-in, or None if fine."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:  # a bad port or IPv6 literal
        return f"must be a URL such as http://127.0.0.1:8888/callback, not {uri!r}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be a URL such as http://127.0.0.1:8888/callback, not {uri!r}"
    if parts.hostname == "localhost":
        return (
            "must not use 'localhost' (Spotify rejects it since November 2025); "
            f"use http://127.0.0.1:{port or 8888}{parts.path or '/callback'}"
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


def _share(s: _Section, source: str, env: Mapping[str, str]) -> ShareConfig:
    d = ShareConfig()
    bind = s.string("bind", d.bind)
    if not bind or any(c.isspace() or c in "/[]" for c in bind):
        raise ConfigError(
            s.key("bind"), f"must be an address such as 192.168.1.20, not {shown(bind)}"
        )
    url = s.string("primary_url", d.primary_url)
    if url:
        url = _url(s, "primary_url", d.primary_url).rstrip("/")
    key = env.get(SHARE_KEY_ENV) or None
    c = ShareConfig(bind=bind, primary_url=url, key=key, **s.settings())
    s.done()
    if source == "follow" and not c.primary_url:
        raise ConfigError(
            s.key("primary_url"), 'must name the primary (http://HOST:PORT) when source = "follow"'
        )
    if source != "follow" and c.primary_url:
        raise ConfigError(s.key("primary_url"), 'is only read with source = "follow"; remove it')
    if c.serve and source != "spotify":
        raise ConfigError(s.key("serve"), 'needs source = "spotify" (the primary polls Spotify)')
    return c  # the key is checked where it is used (require_key): `status` needs none


def _paths(s: _Section) -> PathsConfig:
    d = PathsConfig()
    c = PathsConfig(
        token_cache=s.path("token_cache", d.token_cache),
        state_dir=s.path("state_dir", d.state_dir),
        cache_dir=s.path("cache_dir", d.cache_dir),
    )
    s.done()
    return c


_SOURCE = next(st for st in SETTINGS if st.key == "source")


def parse_config(data: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    """Validate a parsed TOML document. Raises ConfigError naming the first bad key."""
    root = _Section("", dict(data))
    source = root.setting(_SOURCE)
    cfg = Config(
        source=source,
        matrix=_matrix(root.section("matrix")),
        display=_display(root.section("display")),
        layout=_layout(root.section("layout")),
        night=_night(root.section("night")),
        polling=_polling(root.section("polling")),
        spotify=_spotify(root.section("spotify"), env),
        share=_share(root.section("share"), source, env),
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
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError("--config", f"cannot read {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            "--config",
            f"{path} is not UTF-8 text (byte {raw[e.start]:#04x} on line {line}); save it as UTF-8",
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        why = str(e).replace("\n", " ")
        raise ConfigError("--config", f"{path} is not valid TOML ({why})") from None
    except RecursionError:
        raise ConfigError(
            "--config", f"{path} nests arrays or tables too deeply; flatten them"
        ) from None
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        raise ConfigError("--config", f"{path} has a value Python cannot read ({e})") from None
    return parse_config(data, env)
