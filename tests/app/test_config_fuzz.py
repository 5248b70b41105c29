"""Arbitrary TOML at every key: a valid config, or exit 2 with one sentence naming the key.

Documents go through load_config (what every CLI command calls) from a real file; one test runs
the installed CLI in a subprocess to show exit 2 and no traceback.
"""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from needledrop.cli import main
from needledrop.config import Config, ConfigError, load_config
from needledrop.settings import SETTINGS

ENV = {"SPOTIPY_CLIENT_ID": "id", "SPOTIPY_CLIENT_SECRET": "secret"}

# Keys with their own checks (paths, times, URLs, device list, loopback host).
SPECIAL = [
    "paths.token_cache",
    "paths.state_dir",
    "paths.cache_dir",
    "night.start",
    "night.end",
    "spotify.accounts_url",
    "spotify.api_url",
    "spotify.devices",
    "display.emulator_host",
    "display.png_dir",
]
KEYS = [s.key for s in SETTINGS] + SPECIAL
SECTIONS = sorted({k.partition(".")[0] for k in KEYS if "." in k})

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.5, 1e308]),
    st.text(max_size=12),
    st.sampled_from(["", "22:30", "25:00", "/abs/path", "rel", "http://[::1", "U-mapper"]),
    st.times(),
    st.dates(min_value=date(1, 1, 1)),
    st.datetimes(),
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def cfg_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "needledrop.toml"


def _check_valid(cfg: Config) -> None:
    """What a config load_config accepts guarantees: every defined value within its limits."""
    for s in SETTINGS:
        v = getattr(getattr(cfg, s.section) if s.section else cfg, s.name)
        assert s.check(v) == v, s.key
        if isinstance(v, float):
            assert math.isfinite(v), s.key
    width, height = cfg.size
    assert width >= 1 and height >= 1


def _load(path: Path, text: bytes) -> Config | ConfigError:
    path.write_bytes(text)
    try:
        cfg = load_config(path, ENV)
    except ConfigError as e:
        message = str(e)
        assert "\n" not in message and message.startswith("config: "), message
        return e
    _check_valid(cfg)
    return cfg


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(KEYS), value=toml_values)
@example(key="polling.backoff_min_s", value=301)  # above the default maximum (found by a run)
def test_any_toml_value_at_any_key_is_valid_or_names_that_key(cfg_path, key, value):
    section, _, name = key.rpartition(".")
    doc: dict[str, Any] = {section: {name: value}} if section else {name: value}
    result = _load(cfg_path, tomli_w.dumps(doc).encode())
    if isinstance(result, ConfigError):
        assert result.key == key, (result.key, str(result))


@settings(max_examples=200, deadline=None)
@given(section=st.sampled_from(SECTIONS), value=toml_values)
def test_any_toml_value_in_place_of_a_section_is_valid_or_names_it(cfg_path, section, value):
    result = _load(cfg_path, tomli_w.dumps({section: value}).encode())
    if isinstance(result, ConfigError):
        assert result.key.split(".")[0] == section, str(result)


@settings(max_examples=150, deadline=None)
@given(
    doc=st.dictionaries(
        st.sampled_from(KEYS),
        toml_values,
        max_size=6,
    )
)
def test_several_keys_at_once_are_valid_or_name_one_of_them(cfg_path, doc):
    nested: dict[str, Any] = {}
    for key, value in doc.items():
        section, _, name = key.rpartition(".")
        (nested.setdefault(section, {}) if section else nested)[name] = value
    result = _load(cfg_path, tomli_w.dumps(nested).encode())
    if isinstance(result, ConfigError):
        assert result.key in doc or result.key.split(".")[0] in nested, str(result)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_as_a_file_are_valid_or_one_sentence(cfg_path, raw):
    _load(cfg_path, raw)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b"[polling]\nskip_bound_s = nan\n", "polling.skip_bound_s: must be a number from 1"),
        (b"[polling]\nbackoff_min_s = inf\n", "polling.backoff_min_s: must be a number"),
        (b"[layout]\nidle_after_s = -inf\n", "layout.idle_after_s: must be a number"),
        (b'[display]\nbackend = "png\xff"\n', "is not UTF-8 text (byte 0xff on line 2)"),
        (b"\xfe\xff[matrix]\n", "is not UTF-8 text"),
        (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nests arrays or tables too deeply"),
        (b"a = " + b"{b = " * 5000 + b"1" + b"}" * 5000, "nests arrays or tables too deeply"),
        (b"[matrix]\nrows = " + b"9" * 5000 + b"\n", "has a value Python cannot read"),
        (b"[matrix]\ncols = 99999999999999999999999\n", "matrix.cols: must be an integer"),
        (
            b'[matrix]\ncols = 16\nchain_length = 2\npixel_mapper_config = "U-mapper"\n',
            "matrix.pixel_mapper_config: maps the 32x32 panel to 0x64 pixels",
        ),
        (b'[matrix]\npixel_mapper_config = "U-mapper"\n', "even chain_length of at least 2"),
        (b'[matrix]\npixel_mapper_config = "Rotate:45"\n', "multiple of 90 degrees"),
        (b'[matrix]\npixel_mapper_config = "Bogus"\n', "unknown mapper 'Bogus'"),
        (b"[matrix]\nrowz = 32\n", "matrix.rowz: is not a known key; did you mean 'rows'?"),
        (b'[spotify]\napi_url = "http://[::1"\n', "spotify.api_url: must be an http(s) URL"),
        (b'[paths]\nstate_dir = "/var/\\u0000x"\n', "paths.state_dir: must be a path without NUL"),
        (b"matrix = 3\n", "matrix: must be a table ([matrix]), not 3"),
        (b'[display]\n"a\\nb" = 1\n', 'display."a\\nb": is not a known key'),
    ],
)
def test_bad_files_are_one_sentence_naming_key_and_fix(cfg_path, text, says):
    result = _load(cfg_path, text)
    assert isinstance(result, ConfigError)
    assert says in str(result)


def test_cli_exits_2_with_one_line_for_every_kind_of_bad_file(tmp_path, capsys):
    bad = [b"[polling]\nskip_bound_s = nan\n", b"\xff", b"a = " + b"[" * 5000 + b"]" * 5000]
    for i, text in enumerate(bad):
        path = tmp_path / f"{i}.toml"
        path.write_bytes(text)
        assert main(["run", "--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("needledrop: config: "), err


def test_installed_cli_exits_2_without_a_traceback(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b"[polling]\nskip_bound_s = nan\n")
    done = subprocess.run(
        [sys.executable, "-m", "needledrop", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "needledrop: config: polling.skip_bound_s: must be a number from 1 to 120, not nan\n"
    )


def test_times_and_dates_parse_into_the_night_window(cfg_path):
    result = _load(cfg_path, b"[night]\nenabled = true\nstart = 22:30:00\nend = 06:00:00\n")
    assert isinstance(result, Config)
    assert result.night.start == time(22, 30) and result.night.end == time(6, 0)
    assert isinstance(
        _load(cfg_path, tomli_w.dumps({"night": {"start": datetime(2026, 1, 1)}}).encode()),
        ConfigError,
    )
