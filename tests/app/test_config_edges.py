"""Config edges: the canvas size each pixel mapper gives and the arguments each refuses; the
file and environment errors a user meets first (no file, a missing file, a bad byte on the
first lines, a port 0 URL, a redirect URI Spotify refuses); the documented defaults that are
not bounded settings (the night window, the art cache).

The sizes follow upstream's mappers (lib/pixel-mapper.cc), as ``config.mapped_size`` documents:
a wrong size here is a picture drawn for the wrong canvas on the panel.
"""

from __future__ import annotations

import dataclasses
from datetime import time as dtime
from pathlib import Path

import pytest
from needledrop.config import CONFIG_ENV, ConfigError, load_config, parse_config


def _size(**matrix: object) -> tuple[int, int]:
    return parse_config({"matrix": matrix}, {}).size


def _refused(**matrix: object) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config({"matrix": matrix}, {})
    assert err.value.key == "matrix.pixel_mapper_config"
    return str(err.value)


@pytest.mark.parametrize(
    ("mappers", "size"),
    [
        ("", (128, 32)),
        ("Rotate", (128, 32)),  # no angle: 0
        ("Rotate:0", (128, 32)),
        ("Rotate:90", (32, 128)),
        ("Rotate:180", (128, 32)),  # half a turn keeps the shape
        ("Rotate:270", (32, 128)),
        ("Rotate:-90", (32, 128)),
        ("Rotate:90;Rotate:90", (128, 32)),
        ("Mirror:H", (128, 32)),
        ("Mirror:v", (128, 32)),  # upstream takes either case
        ("V-mapper", (64, 64)),
        ("V-mapper:Z", (64, 64)),
        ("V-mapper:z", (64, 64)),
        ("Remap:40,20|0,0n", (40, 20)),
        ("Remap:16,16|0,0n", (16, 16)),  # the smallest canvas needledrop draws
        (" Rotate:90 ; Mirror:H ", (32, 128)),
    ],
)
def test_each_mapper_gives_upstreams_canvas_size(mappers, size):
    got = _size(rows=32, cols=64, chain_length=2, pixel_mapper_config=mappers)
    assert got == size and all(type(n) is int for n in got)


@pytest.mark.parametrize(
    ("chain_length", "parallel", "size"),
    [(2, 2, (64, 64)), (3, 2, (64, 96)), (4, 1, (32, 128))],
)
def test_the_v_mapper_trades_chain_for_parallel(chain_length, parallel, size):
    matrix = {"cols": 32, "chain_length": chain_length, "parallel": parallel}
    got = _size(rows=32, **matrix, pixel_mapper_config="V-mapper")
    assert got == size and all(type(n) is int for n in got)


@pytest.mark.parametrize(
    ("cols", "chain_length", "size"),
    [
        (64, 2, (64, 64)),
        (32, 4, (64, 64)),
        # upstream cuts the U at a 32-pixel boundary: 126 columns fold into 32, not 63
        (63, 2, (32, 64)),
        (48, 4, (96, 64)),
    ],
)
def test_the_u_mapper_folds_the_chain_at_32_pixel_boundaries(cols, chain_length, size):
    assert _size(rows=32, cols=cols, chain_length=chain_length, pixel_mapper_config="U-mapper") == (
        size
    )


@pytest.mark.parametrize(
    ("mappers", "says"),
    [
        ("Mirror:X", "Mirror takes H or V, not 'X'"),
        ("Mirror", "Mirror takes H or V, not ''"),
        ("V-mapper:X", "V-mapper takes nothing or Z, not 'X'"),
        ("Rotate:ninety", "Rotate takes a multiple of 90 degrees, not 'ninety'"),
        ("Remap:40|0,0n", "Remap starts with WIDTH,HEIGHT|"),
        ("Remap:40,x|0,0n", "Remap starts with WIDTH,HEIGHT|"),
        ("Remap:0,20|", "maps the 128x32 panel to 0x20 pixels at 'Remap'"),
        ("Remap:20,0|", "maps the 128x32 panel to 20x0 pixels at 'Remap'"),
    ],
)
def test_a_mapper_with_a_bad_argument_is_refused_by_name(mappers, says):
    assert says in _refused(rows=32, cols=64, chain_length=2, pixel_mapper_config=mappers)


@pytest.mark.parametrize("key", ["api_url", "accounts_url"])
def test_a_spotify_url_with_port_0_is_refused_and_port_1_taken(key):
    with pytest.raises(ConfigError) as err:
        parse_config({"spotify": {key: "http://127.0.0.1:0/"}}, {})
    assert err.value.key == f"spotify.{key}"
    cfg = parse_config({"spotify": {key: "http://127.0.0.1:1/"}}, {})
    assert getattr(cfg.spotify, key).startswith("http://127.0.0.1:1")


def test_a_missing_config_file_is_one_sentence_naming_it(tmp_path):
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as err:
        load_config(missing, {})
    assert err.value.key == "--config"
    assert f"cannot read {missing}: No such file or directory" in str(err.value)


@pytest.mark.parametrize(
    ("raw", "line"),
    [(b"\xff\n", 1), (b"\n\xff", 2), (b"\n\n# \xfe\n", 3)],
)
def test_a_bad_byte_is_reported_on_its_line(tmp_path, raw, line):
    path = tmp_path / "c.toml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as err:
        load_config(path, {})
    assert f"on line {line})" in str(err.value)


@pytest.mark.parametrize("chain_length", [1, 3, 5])
def test_the_u_mapper_refuses_an_odd_chain(chain_length):
    says = _refused(rows=32, cols=64, chain_length=chain_length, pixel_mapper_config="U-mapper")
    assert "U-mapper needs an even chain_length of at least 2" in says


def test_no_config_file_anywhere_names_both_ways_to_give_one(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(None, {})
    assert err.value.key == "--config"
    assert f"use --config or ${CONFIG_ENV}" in str(err.value)
    path = tmp_path / "c.toml"
    path.write_text("[night]\nenabled = true\n")
    assert load_config(None, {CONFIG_ENV: str(path)}).night.enabled


def test_the_default_night_window_is_the_documented_22_to_7():
    night = parse_config({"night": {"enabled": True}}, {}).night
    assert (night.start, night.end) == (dtime(22, 0), dtime(7, 0))
    assert not night.is_night(dtime(21, 59)) and night.is_night(dtime(22, 0))
    assert night.is_night(dtime(6, 59)) and not night.is_night(dtime(7, 0))


def test_the_apps_files_live_under_the_configured_directories():
    paths = parse_config(
        {"paths": {"cache_dir": "/srv/nd-cache", "state_dir": "/srv/nd-state"}}, {}
    ).paths
    assert paths.art_cache_dir == Path("/srv/nd-cache/art")
    assert paths.status_file == Path("/srv/nd-state/status.json")
    assert paths.reauth_file == Path("/srv/nd-state/reauth-needed.json")


def test_backoff_max_may_equal_backoff_min():
    polling = parse_config({"polling": {"backoff_min_s": 5, "backoff_max_s": 5}}, {}).polling
    assert polling.backoff_min_s == polling.backoff_max_s == 5.0


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("http://127.0.0.1:99999/callback", "must be a URL such as http://127.0.0.1:8888/callback"),
        ("http://[::1/callback", "must be a URL such as http://127.0.0.1:8888/callback"),
        ("http://example.org/callback", "must be https unless it is a loopback address"),
        ("http://192.168.1.5:8888/callback", "must be https unless it is a loopback address"),
    ],
)
def test_a_redirect_uri_spotify_refuses_is_named(uri, says):
    with pytest.raises(ConfigError) as err:
        parse_config({}, {"SPOTIPY_REDIRECT_URI": uri})
    assert err.value.key == "SPOTIPY_REDIRECT_URI"
    assert says in str(err.value)


@pytest.mark.parametrize(
    "uri",
    ["https://example.org/callback", "http://127.0.0.1:8888/callback", "http://[::1]:8888/cb"],
)
def test_https_anywhere_and_http_on_loopback_are_taken_as_redirect_uris(uri):
    assert parse_config({}, {"SPOTIPY_REDIRECT_URI": uri}).spotify.redirect_uri == uri


def test_stack_to_row_puts_the_parallel_chains_side_by_side():
    size = _size(rows=32, cols=64, parallel=2, pixel_mapper_config="StackToRow")
    assert size == (128, 32) and all(isinstance(n, int) for n in size)


@pytest.mark.parametrize(
    ("uri", "suggested"),
    [
        ("http://localhost/", "use http://127.0.0.1:8888/"),
        ("http://localhost", "use http://127.0.0.1:8888/callback"),
        ("http://localhost:9000/cb", "use http://127.0.0.1:9000/cb"),
    ],
)
def test_a_localhost_redirect_uri_gets_the_loopback_uri_to_use(uri, suggested):
    with pytest.raises(ConfigError) as err:
        parse_config({}, {"SPOTIPY_REDIRECT_URI": uri})
    assert str(err.value).endswith(suggested)


@pytest.mark.parametrize("uri", ["ftp://127.0.0.1/callback", "http:///callback"])
def test_a_redirect_uri_needs_http_and_a_host(uri):
    with pytest.raises(ConfigError, match="must be a URL such as"):
        parse_config({}, {"SPOTIPY_REDIRECT_URI": uri})


def test_a_night_window_within_one_day_holds_from_start_until_end():
    night = parse_config({"night": {"enabled": True, "start": "01:00", "end": "05:00"}}, {}).night
    assert [night.is_night(dtime(h, m)) for h, m in [(0, 59), (1, 0), (4, 59), (5, 0)]] == [
        False,
        True,
        True,
        False,
    ]


def test_the_parsed_config_cannot_be_changed_by_the_code_it_is_handed_to():
    """The run loop's poll thread and the renderer share one Config: none of it is writable."""
    cfg = parse_config({}, {})
    records = [cfg, *(getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name != "source")]
    assert len(records) == 9  # the Config and its 8 sections
    for record in records:
        name = dataclasses.fields(record)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, name, getattr(record, name))


def test_a_path_under_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    paths = parse_config({"paths": {"state_dir": "~/needledrop"}}, {}).paths
    assert paths.state_dir == tmp_path / "needledrop"


def test_of_several_unknown_keys_the_first_in_order_is_named():
    with pytest.raises(ConfigError) as err:
        parse_config({"matrix": {"rowz": 32, "colz": 64}}, {})
    assert err.value.key == "matrix.colz"
    assert "did you mean 'cols'?" in str(err.value)
