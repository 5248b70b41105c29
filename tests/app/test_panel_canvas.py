"""Config validation refuses exactly the panels the renderer cannot draw.

For any panel (rows, cols, chain_length, parallel, pixel_mapper_config): either the config is
refused with one sentence naming the keys and the fix (exit 2 from the CLI), or the renderer
draws every scene at the canvas size the config computes, after the pixel mappers.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as hs
from needledrop.cli import main
from needledrop.config import ConfigError, parse_config
from needledrop.render import Renderer, RenderSettings
from needledrop.settings import CANVAS_MIN
from needledrop.state import DisplayState, Item, Playback

T0 = 1_795_037_400.0
TRACK = Item("track", "A title far too long for any panel", "A band", "LP", 200_000, "x")
EPISODE = Item("episode", "Episode", "Show", "Show", 3_600_000, "e")
AD = Item("ad", "", "", "", 30_000)


def scenes() -> list[DisplayState]:
    """Every screen the renderer has: track, episode, ad (playing, paused, offline, rate
    limited), idle clock, nothing playing, re-auth, a message, the rate-limit clock."""
    out = []
    for item in (TRACK, EPISODE, AD):
        for playing in (True, False):
            pb = Playback(item, playing, 10_000, T0, "Kitchen")
            out += [
                DisplayState(playback=pb, last_played_at=T0),
                DisplayState(playback=pb, last_played_at=T0, offline=True),
                DisplayState(playback=pb, last_played_at=T0, rate_limited_until=T0 + 3600),
            ]
    out += [
        DisplayState(),
        DisplayState(last_played_at=T0),
        DisplayState(reauth_needed=True),
        DisplayState(message="Spotify token cache /x is missing; run 'needledrop auth'."),
        DisplayState(rate_limited_until=T0 + 30 * 3600, rate_limit_quota=True),
    ]
    return out


SCENES = scenes()

MAPPERS = hs.one_of(
    hs.sampled_from(
        ["Rotate:0", "Rotate:90", "Rotate:180", "Rotate:270", "Mirror:H", "Mirror:V"]
        + ["U-mapper", "V-mapper", "V-mapper:Z", "StackToRow", "Rotate:45", "Nope"]
    ),
    hs.builds(lambda w, h: f"Remap:{w},{h}|0,0n", hs.integers(0, 80), hs.integers(0, 80)),
)
PANELS = hs.fixed_dictionaries(
    {
        "rows": hs.integers(4, 34).map(lambda r: r * 2 if r > 4 else r),
        "cols": hs.sampled_from([8, 16, 24, 32, 64, 128]),
        "chain_length": hs.integers(1, 4),
        "parallel": hs.integers(1, 3),
        "pixel_mapper_config": hs.lists(MAPPERS, max_size=3).map(";".join),
    }
)


@settings(max_examples=150, deadline=None)
@given(panel=PANELS)
@example({"rows": 8, "cols": 16, "chain_length": 1, "parallel": 1, "pixel_mapper_config": ""})
@example({"rows": 16, "cols": 16, "chain_length": 1, "parallel": 1, "pixel_mapper_config": ""})
@example({"rows": 8, "cols": 32, "chain_length": 1, "parallel": 2, "pixel_mapper_config": ""})
@example(
    {"rows": 8, "cols": 64, "chain_length": 1, "parallel": 1, "pixel_mapper_config": "Rotate:90"}
)
def test_either_refused_in_one_sentence_or_every_scene_is_drawn(panel: dict[str, Any]) -> None:
    try:
        cfg = parse_config({"matrix": panel}, {})
    except ConfigError as e:
        said = str(e)
        assert said.startswith("config: matrix") and "\n" not in said and ". " not in said, said
        return
    width, height = cfg.size
    assert width >= CANVAS_MIN and height >= CANVAS_MIN
    renderer = Renderer(width, height, RenderSettings(tz=UTC), None)
    for state in SCENES:
        for dt in (0.0, 2.5, 4000.0):
            assert renderer.frame(state, T0 + dt).size == (width, height)


def test_a_16x8_panel_is_refused_naming_the_keys_and_the_fix() -> None:
    try:
        parse_config({"matrix": {"rows": 8, "cols": 16}}, {})
    except ConfigError as e:
        assert str(e) == (
            "config: matrix: the panel is 16x8 pixels (cols 16 x chain_length 1 by rows 8 x "
            "parallel 1); needledrop draws panels from 16x16 up: raise rows, cols, chain_length "
            "or parallel"
        )
    else:
        raise AssertionError("a 16x8 canvas was accepted")


def test_a_mapper_that_leaves_too_few_rows_names_pixel_mapper_config() -> None:
    panel = {"rows": 8, "cols": 32, "pixel_mapper_config": "Rotate:90"}
    try:
        parse_config({"matrix": panel}, {})
    except ConfigError as e:
        assert "8x32 pixels after pixel_mapper_config" in str(e)
        assert str(e).endswith("or change pixel_mapper_config")
    else:
        raise AssertionError("an 8x32 canvas was accepted")


def test_needledrop_run_exits_2_with_one_line_and_no_traceback(tmp_path, capsys) -> None:
    path = tmp_path / "needledrop.toml"
    path.write_text('source = "demo"\n[display]\nbackend = "png"\n[matrix]\nrows = 8\ncols = 16\n')
    assert main(["run", "--config", str(path), "--duration", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("needledrop: config: matrix: the panel is 16x8 pixels")
