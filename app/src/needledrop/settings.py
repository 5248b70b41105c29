"""Every bounded config setting, defined once: type, default, limits, description.

The app's validation (config.py) reads these definitions; so do the boundary-table tests and
the rgb_matrix role, whose panel variables ``rgb_matrix_<name>`` are generated from the
``[matrix]`` definitions (``scripts/panel-contract.py``; docs/panel.md). Change a limit here and
regenerate; a test fails while the role and the app disagree.

The panel limits are rpi-rgb-led-matrix's own (commit cf60d08): ``RGBMatrix::Options::Validate``
in lib/options-initialize.cc, the GPIO slowdown and RP1 checks in lib/led-matrix.cc, the
mappings in lib/hardware-mapping.c, the multiplexers in lib/multiplex-mappers.cc. Where upstream
has no upper limit (cols, chain_length, limit_refresh_rate_hz) needledrop sets one, said in the
``origin`` of the setting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["int", "float", "bool", "str"]
Value = int | float | bool | str

OPTIONS_CC = "upstream lib/options-initialize.cc"
LED_MATRIX_CC = "upstream lib/led-matrix.cc"
NEEDLEDROP = "needledrop"

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
LED_RGB_SEQUENCES = ("RGB", "RBG", "GRB", "GBR", "BRG", "BGR")
MULTIPLEXING_MAX = 22  # registered multiplex mappers (lib/multiplex-mappers.cc)
PWM_BITS_MAX = 11  # Framebuffer::kBitPlanes (lib/framebuffer-internal.h)
PARALLEL_MAX = 3  # more chains only with hardware_mapping "compute-module" ...
PARALLEL_MAX_COMPUTE_MODULE = 6  # ... up to 6 (wide GPIO)
CANVAS_MIN = 16  # the smallest canvas side the renderer draws (render/layout.py), after mappers
SERVICE_USER = "needledrop"  # pi_base_service_user: the library drops to it after GPIO setup


@dataclass(frozen=True)
class Setting:
    """One config key: ``[section] name``, its type, default and what it allows."""

    section: str  # "" for a top-level key
    name: str
    kind: Kind
    default: Value
    description: str  # one line, for the role's argument_specs and docs/panel.md
    lo: int | float | None = None
    hi: int | float | None = None
    step: int = 1  # int settings: the value is a multiple of this (rows: 2)
    choices: tuple[str, ...] = ()
    origin: str = NEEDLEDROP  # where the limits come from
    # Other keys of the same section under which the limits hold (parallel: compute-module for
    # ``hi``; rows: a second chain for ``lo``, as the canvas must be CANVAS_MIN high).
    given: Mapping[str, Value] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}" if self.section else self.name

    @property
    def role_var(self) -> str | None:
        """The rgb_matrix role's variable for a panel option; None for other settings."""
        return f"rgb_matrix_{self.name}" if self.section == "matrix" else None

    @property
    def bounded(self) -> bool:
        return self.lo is not None or self.hi is not None

    def allowed(self) -> str:
        """What the setting allows, as the end of 'must be ...'."""
        if self.kind == "bool":
            return "true or false"
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "str":
            return "a string"
        noun = "an integer" if self.kind == "int" else "a number"
        if self.step == 2:
            noun = "an even integer"
        elif self.step > 1:
            noun = f"an integer multiple of {self.step}"
        if self.lo is not None and self.hi is not None:
            return f"{noun} from {_num(self.lo)} to {_num(self.hi)}"
        if self.lo is not None:
            return f"{noun} of at least {_num(self.lo)}"
        if self.hi is not None:
            return f"{noun} of at most {_num(self.hi)}"
        return noun

    def check(self, value: object) -> Value:
        """``value`` as this setting's type, or ValueError('must be ..., not ...')."""
        problem = f"must be {self.allowed()}, not {shown(value)}"
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise ValueError(problem)
        if self.kind == "str":
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise ValueError(problem)
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(problem)
        if self.kind == "int" and not isinstance(value, int):
            raise ValueError(problem)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(problem)
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise ValueError(problem)
        if self.kind == "int" and value % self.step:
            raise ValueError(problem)
        return float(value) if self.kind == "float" else value


def _num(x: int | float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def shown(value: object) -> str:
    """A short, one-line description of a value a user wrote (safe for any TOML value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value.bit_length() <= 64 else "an integer too large"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37]) + "..."
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__} value"


# --- [matrix]: rgbmatrix.RGBMatrixOptions, names as in the Python binding --------------------

MATRIX: tuple[Setting, ...] = (
    Setting(
        "matrix",
        "hardware_mapping",
        "str",
        "regular",
        "How the panel is wired to the GPIO (board or HAT).",
        choices=HARDWARE_MAPPINGS,
        origin="upstream lib/hardware-mapping.c",
    ),
    Setting(
        "matrix",
        "rows",
        "int",
        32,
        "Rows of one panel.",
        8,
        64,
        step=2,
        origin=OPTIONS_CC,
        given={"parallel": 2},  # 8 rows on one chain: a canvas lower than CANVAS_MIN
    ),
    Setting(
        "matrix",
        "cols",
        "int",
        64,
        "Columns of one panel.",
        16,
        1024,
        origin=f"{OPTIONS_CC}: at least 16; needledrop: at most 1024",
    ),
    Setting(
        "matrix",
        "chain_length",
        "int",
        1,
        "Panels daisy-chained on one output.",
        1,
        32,
        origin=f"{OPTIONS_CC}: at least 1; needledrop: at most 32",
    ),
    Setting(
        "matrix",
        "parallel",
        "int",
        1,
        f"Parallel chains; more than {PARALLEL_MAX} only with hardware_mapping compute-module.",
        1,
        PARALLEL_MAX_COMPUTE_MODULE,
        origin=OPTIONS_CC,
        given={"hardware_mapping": "compute-module"},
    ),
    Setting(
        "matrix",
        "pwm_bits",
        "int",
        11,
        "PWM bits per colour; fewer refresh faster with fewer colours.",
        1,
        PWM_BITS_MAX,
        origin=OPTIONS_CC,
    ),
    Setting(
        "matrix",
        "pwm_lsb_nanoseconds",
        "int",
        130,
        "Time of the least significant PWM bit; more is brighter and flickers more.",
        50,
        3000,
        origin=OPTIONS_CC,
    ),
    Setting(
        "matrix",
        "pwm_dither_bits",
        "int",
        0,
        "Time-dithered lower PWM bits (faster refresh, less colour depth).",
        0,
        2,
        origin=OPTIONS_CC,
    ),
    Setting(
        "matrix", "brightness", "int", 100, "Brightness in percent.", 1, 100, origin=OPTIONS_CC
    ),
    Setting(
        "matrix",
        "scan_mode",
        "int",
        0,
        "0 progressive, 1 interlaced.",
        0,
        1,
        origin=OPTIONS_CC,
    ),
    Setting(
        "matrix",
        "multiplexing",
        "int",
        0,
        "Multiplexer of outdoor panels; 0 for none.",
        0,
        MULTIPLEXING_MAX,
        origin="upstream lib/multiplex-mappers.cc",
    ),
    Setting(
        "matrix",
        "row_address_type",
        "int",
        0,
        "Row addressing: 0 direct, 1 AB, 2 direct row select, 3 ABC, 4 ABC shift + DE, 5 test.",
        0,
        5,
        origin=OPTIONS_CC,
    ),
    Setting(
        "matrix",
        "disable_hardware_pulsing",
        "bool",
        False,
        "Time the PWM in software (needed when the sound module is loaded).",
    ),
    Setting("matrix", "show_refresh_rate", "bool", False, "Print the refresh rate on stdout."),
    Setting("matrix", "inverse_colors", "bool", False, "Invert the colours (some panels)."),
    Setting(
        "matrix",
        "led_rgb_sequence",
        "str",
        "RGB",
        "Order of the colour channels on the panel.",
        choices=LED_RGB_SEQUENCES,
        origin=OPTIONS_CC,
    ),
    Setting(
        "matrix",
        "pixel_mapper_config",
        "str",
        "",
        'Pixel mappers separated by ";", e.g. "U-mapper;Rotate:90"; "" for none.',
        origin="upstream lib/pixel-mapper.cc",
    ),
    Setting(
        "matrix",
        "panel_type",
        "str",
        "",
        'Panel chip that needs an init sequence; "" for none.',
        choices=PANEL_TYPES,
        origin="upstream lib/framebuffer.cc",
    ),
    Setting(
        "matrix",
        "limit_refresh_rate_hz",
        "int",
        0,
        "Cap the refresh rate (Hz) for steadier timing; 0 for no cap.",
        0,
        10000,
        origin="needledrop; upstream: below 1 is no cap",
    ),
    Setting(
        "matrix",
        "gpio_slowdown",
        "int",
        1,
        "GPIO slowdown; faster Pis need more (Pi 4: 2..4); -1 is a memory barrier on ARM.",
        -1,
        10,
        origin=LED_MATRIX_CC,
    ),
    Setting(
        "matrix",
        "rp1_rio",
        "int",
        0,
        "Pi 5 (RP1) only: 0 drives the panel with PIO, 1 with registered IO.",
        0,
        1,
        origin=LED_MATRIX_CC,
    ),
    Setting(
        "matrix",
        "drop_privileges",
        "bool",
        True,
        "Drop root after the GPIO is set up (the app then runs as drop_priv_user).",
    ),
    Setting(
        "matrix",
        "drop_priv_user",
        "str",
        SERVICE_USER,
        "User the library drops to after opening the GPIO (pi_base's service user).",
    ),
    Setting(
        "matrix",
        "drop_priv_group",
        "str",
        SERVICE_USER,
        "Group the library drops to after opening the GPIO.",
    ),
)

# --- the other sections ---------------------------------------------------------------------

OTHER: tuple[Setting, ...] = (
    Setting(
        "",
        "source",
        "str",
        "spotify",
        "Where playback comes from; follow: another display's (docs/sharing.md).",
        choices=("spotify", "demo", "follow"),
    ),
    Setting(
        "display",
        "backend",
        "str",
        "rgbmatrix",
        "What draws the frames.",
        choices=("rgbmatrix", "emulator", "png"),
    ),
    Setting("display", "fps", "int", 10, "Frame rate while something animates.", 1, 60),
    Setting("display", "emulator_port", "int", 8888, "Emulator backend: browser port.", 1, 65535),
    Setting(
        "layout", "scroll_px_per_s", "float", 16.0, "Scroll speed of long text; 0 cuts it.", 0, 200
    ),
    Setting("layout", "show_progress", "bool", True, "Draw the progress bar."),
    Setting(
        "layout",
        "idle_after_s",
        "float",
        600.0,
        "Nothing played this long: the idle screen (clock).",
        0,
        86400,
    ),
    Setting("layout", "clock_24h", "bool", True, "24-hour clock on the idle screen."),
    Setting(
        "layout",
        "token_warning_days",
        "int",
        14,
        "Mark the panel and warn in the status this many days before the sign-in expires.",
        0,
        180,
    ),
    Setting("night", "enabled", "bool", False, "Dim the panel between start and end."),
    Setting("night", "brightness", "int", 20, "Percent of the configured brightness.", 1, 100),
    Setting(
        "polling",
        "skip_bound_s",
        "float",
        10.0,
        "Longest a manual skip may go unseen while playing.",
        1,
        120,
    ),
    Setting("polling", "paused_s", "float", 30.0, "Poll interval while paused.", 1, 3600),
    Setting("polling", "idle_s", "float", 60.0, "Poll interval while nothing plays.", 1, 3600),
    Setting("polling", "burst_s", "float", 2.0, "Poll interval right after a skip.", 1, 120),
    Setting(
        "polling", "burst_window_s", "float", 10.0, "How long the burst interval holds.", 0, 3600
    ),
    Setting("polling", "end_margin_s", "float", 0.3, "Poll this long after a track's end.", 0, 10),
    Setting("polling", "request_timeout_s", "float", 5.0, "Timeout of one request.", 0.5, 60),
    Setting(
        "polling",
        "backoff_min_s",
        "float",
        2.0,
        "First retry after a network error or 5xx.",
        0.1,
        3600,
        given={"backoff_max_s": 86400},
    ),
    Setting(
        "polling",
        "backoff_max_s",
        "float",
        300.0,
        "Longest retry interval; at least backoff_min_s.",
        1,
        86400,
        given={"backoff_min_s": 0.1},
    ),
    Setting(
        "polling",
        "token_check_s",
        "float",
        30.0,
        "While re-auth is needed: how often to look for a new token.",
        1,
        3600,
    ),
)

# --- [share]: one Spotify poll per account (share.py, docs/sharing.md) -------------------------

SHARE: tuple[Setting, ...] = (
    Setting("share", "serve", "bool", False, "Serve this display's observations to followers."),
    Setting(
        "share", "port", "int", 8765, "Port the primary serves on (0: any free port).", 0, 65535
    ),
    Setting(
        "share",
        "long_poll_s",
        "float",
        20.0,
        "Longest a follower's request waits for a change.",
        1,
        60,
    ),
    Setting(
        "share",
        "failover_s",
        "float",
        30.0,
        "A follower polls Spotify itself when its primary is unreachable this long.",
        1,
        3600,
    ),
    Setting(
        "share",
        "recheck_s",
        "float",
        20.0,
        "While failed over, how often a follower asks its primary again.",
        1,
        3600,
    ),
    Setting(
        "share",
        "max_skew_s",
        "float",
        60.0,
        "Largest clock difference a signed request may show.",
        5,
        3600,
    ),
    Setting(
        "share",
        "rate_per_s",
        "float",
        5.0,
        "Requests per second one address may make to the primary.",
        0.1,
        1000,
    ),
)

SETTINGS: tuple[Setting, ...] = MATRIX + OTHER + SHARE


def section(name: str) -> dict[str, Setting]:
    """The settings of one section by name (``""``: the top-level keys)."""
    return {s.name: s for s in SETTINGS if s.section == name}
