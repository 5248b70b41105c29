"""Config: TOML → typed, validated config; errors name the key and what is allowed."""

from __future__ import annotations

from datetime import time as dtime
from pathlib import Path

import pytest
from needledrop.cli import main
from needledrop.config import ConfigError, NightConfig, load_config, parse_config

FULL = """
source = "spotify"

[paths]
token_cache = "/var/lib/needledrop/spotify-token.json"
state_dir = "/var/lib/needledrop"
cache_dir = "/var/cache/needledrop"

[matrix]
hardware_mapping = "adafruit-hat-pwm"
rows = 64
cols = 64
chain_length = 3
parallel = 1
pwm_bits = 11
pwm_lsb_nanoseconds = 130
pwm_dither_bits = 1
brightness = 80
scan_mode = 0
multiplexing = 0
row_address_type = 0
disable_hardware_pulsing = false
show_refresh_rate = false
inverse_colors = false
led_rgb_sequence = "RBG"
pixel_mapper_config = ""
panel_type = "FM6126A"
limit_refresh_rate_hz = 120
gpio_slowdown = 4
rp1_rio = 1
drop_privileges = true
drop_priv_user = "needledrop"
drop_priv_group = "needledrop"

[display]
backend = "png"
fps = 15
png_dir = "/tmp/frames"

[layout]
scroll_px_per_s = 20
idle_after_s = 300

[night]
enabled = true
start = "22:30"
end = "07:00"
brightness = 15

[polling]
skip_bound_s = 8

[spotify]
devices = ["Kitchen"]
accounts_url = "http://127.0.0.1:9999"
api_url = "http://127.0.0.1:9999/v1"
"""

ENV = {
    "SPOTIPY_CLIENT_ID": "id",
    "SPOTIPY_CLIENT_SECRET": "secret",
    "SPOTIPY_REDIRECT_URI": "http://127.0.0.1:8888/callback",
}


def test_full_example_parses_into_typed_values(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(FULL)
    cfg = load_config(path, ENV)
    assert cfg.matrix.hardware_mapping == "adafruit-hat-pwm"
    assert cfg.matrix.rp1_rio == 1 and cfg.matrix.panel_type == "FM6126A"
    assert cfg.size == (192, 64)
    assert cfg.display.backend == "png" and cfg.display.png_dir == Path("/tmp/frames")
    assert cfg.night.start == dtime(22, 30) and cfg.night.brightness == 15
    assert cfg.polling.skip_bound_s == 8.0
    assert cfg.spotify.devices == ("Kitchen",)
    assert cfg.spotify.api_url == "http://127.0.0.1:9999/v1/"
    assert cfg.spotify.require_credentials() == ("id", "secret")
    assert cfg.paths.reauth_file == Path("/var/lib/needledrop/reauth-needed.json")


def test_empty_config_takes_defaults():
    cfg = parse_config({}, {})
    assert cfg.size == (64, 32)
    assert cfg.source == "spotify"


@pytest.mark.parametrize(
    ("doc", "key", "allowed"),
    [
        (
            {"matrix": {"hardware_mapping": "adafruit"}},
            "matrix.hardware_mapping",
            "'adafruit-hat'",
        ),
        ({"matrix": {"rows": 33}}, "matrix.rows", "even integer from 8 to 64"),
        ({"matrix": {"rows": 128}}, "matrix.rows", "from 8 to 64"),
        ({"matrix": {"rp1_rio": 2}}, "matrix.rp1_rio", "from 0 to 1"),
        ({"matrix": {"brightness": 0}}, "matrix.brightness", "from 1 to 100"),
        ({"matrix": {"pwm_bits": 12}}, "matrix.pwm_bits", "from 1 to 11"),
        (
            {"matrix": {"pwm_lsb_nanoseconds": 10}},
            "matrix.pwm_lsb_nanoseconds",
            "50 to 3000",
        ),
        ({"matrix": {"parallel": 4}}, "matrix.parallel", "from 1 to 3"),
        ({"matrix": {"multiplexing": 23}}, "matrix.multiplexing", "from 0 to 22"),
        ({"matrix": {"row_address_type": 6}}, "matrix.row_address_type", "from 0 to 5"),
        (
            {"matrix": {"led_rgb_sequence": "RGG"}},
            "matrix.led_rgb_sequence",
            "'BGR'",
        ),
        ({"matrix": {"panel_type": "FM6128"}}, "matrix.panel_type", "'FM6127'"),
        (
            {"matrix": {"drop_privileges": "yes"}},
            "matrix.drop_privileges",
            "true or false",
        ),
        ({"matrix": {"rowz": 32}}, "matrix.rowz", "not a known key"),
        ({"display": {"backend": "hdmi"}}, "display.backend", "'emulator'"),
        (
            {"display": {"emulator_host": "0.0.0.0"}},
            "display.emulator_host",
            "loopback",
        ),
        ({"paths": {"token_cache": ".cache"}}, "paths.token_cache", "absolute path"),
        ({"night": {"start": "25:00"}}, "night.start", "time of day"),
        ({"polling": {"skip_bound_s": 0.5}}, "polling.skip_bound_s", "from 1 to 120"),
        ({"spotify": {"devices": "Kitchen"}}, "spotify.devices", "list of strings"),
        ({"spotify": {"api_url": "ftp://x"}}, "spotify.api_url", "http(s) URL"),
        ({"source": "radio"}, "source", "'demo'"),
        ({"colour": "red"}, "colour", "not a known key"),
    ],
)
def test_invalid_value_names_the_key_and_the_allowed_values(doc, key, allowed):
    with pytest.raises(ConfigError) as err:
        parse_config(doc, {})
    assert err.value.key == key
    assert allowed in str(err.value)


def test_compute_module_allows_six_parallel_chains():
    cfg = parse_config({"matrix": {"hardware_mapping": "compute-module", "parallel": 6}}, {})
    assert cfg.matrix.parallel == 6


def test_localhost_redirect_uri_is_rejected_with_the_loopback_alternative():
    with pytest.raises(ConfigError) as err:
        parse_config({}, {"SPOTIPY_REDIRECT_URI": "http://localhost:8080/callback"})
    assert err.value.key == "SPOTIPY_REDIRECT_URI"
    assert "http://127.0.0.1:8080/callback" in str(err.value)


def test_missing_credentials_name_the_environment_variable():
    cfg = parse_config({}, {"SPOTIPY_CLIENT_ID": "id"})
    with pytest.raises(ConfigError, match="SPOTIPY_CLIENT_SECRET"):
        cfg.spotify.require_credentials()


@pytest.mark.parametrize(
    ("matrix", "size"),
    [
        ({"rows": 32, "cols": 32}, (32, 32)),
        (
            {
                "rows": 32,
                "cols": 64,
                "chain_length": 2,
                "pixel_mapper_config": "U-mapper",
            },
            (64, 64),
        ),
        (
            {
                "rows": 64,
                "cols": 64,
                "chain_length": 2,
                "pixel_mapper_config": "V-mapper",
            },
            (64, 128),
        ),
        ({"rows": 32, "cols": 64, "pixel_mapper_config": "Rotate:90"}, (32, 64)),
        ({"rows": 64, "cols": 64, "chain_length": 2, "parallel": 1}, (128, 64)),
    ],
)
def test_canvas_size_follows_chain_parallel_and_pixel_mappers(matrix, size):
    assert parse_config({"matrix": matrix}, {}).size == size


def test_night_window_may_cross_midnight():
    night = NightConfig(enabled=True, start=dtime(22, 0), end=dtime(7, 0))
    assert night.is_night(dtime(23, 30)) and night.is_night(dtime(6, 59))
    assert not night.is_night(dtime(7, 0)) and not night.is_night(dtime(12, 0))
    assert not NightConfig(enabled=False).is_night(dtime(23, 0))


def test_cli_reports_a_bad_config_in_one_line_with_exit_code_2(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[matrix]\nhardware_mapping = "hat"\n')
    assert main(["status", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "matrix.hardware_mapping" in err and "Traceback" not in err


def test_cli_reports_unparseable_toml_in_one_line(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("[matrix\n")
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not valid TOML" in err and err.count("\n") == 1
