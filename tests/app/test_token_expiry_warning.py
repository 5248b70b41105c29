"""Before the sign-in dies: the status says when and which command renews it, and the panel shows
a small violet corner mark from ``[layout] token_warning_days`` (14) days before the 6-month
limit; a pushed sign-in takes the mark away without a restart."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from needledrop.cli import main
from needledrop.config import Config, LayoutConfig, PathsConfig, SpotifyConfig, parse_config
from needledrop.render import Renderer
from needledrop.render.renderer import AMBER, EXPIRING, OFFLINE
from needledrop.runner import Runner
from needledrop.spotify import TokenInfo
from needledrop.state import DisplayState, Item, Playback
from needledrop.status import (
    DAY_S,
    REFRESH_TOKEN_LIFETIME_S,
    RENEW_COMMAND,
    RunStatus,
    expiry_line,
    read_status,
    token_expiry,
)
from PIL import Image

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
SONG = Item("track", "Song", "Band", "LP", 200_000, "t1")


def corner(img: Image.Image, n: int) -> set[object]:
    return {img.getpixel((x, y)) for x in range(img.width - n, img.width) for y in range(n)}


@given(
    left_s=st.integers(-400 * DAY_S, 400 * DAY_S),
    days=st.integers(0, 180),
)
def test_the_warning_holds_exactly_inside_the_configured_window(left_s: int, days: int) -> None:
    authorized = NOW - REFRESH_TOKEN_LIFETIME_S + left_s
    tok = token_expiry(authorized, NOW, days)
    assert tok["expiry_warning"] is (days > 0 and left_s < days * DAY_S)
    assert tok["days_left"] == left_s // DAY_S
    assert tok["expiry_warning_days"] == days
    assert (tok["renew_command"] == RENEW_COMMAND) is tok["expiry_warning"]
    assert tok["renew_command"] is None or "reauth.yml" in tok["renew_command"]


def test_without_a_sign_in_time_nothing_is_claimed() -> None:
    tok = token_expiry(None, NOW)
    assert tok["expiry_warning"] is False
    assert tok["days_left"] is None and tok["refresh_token_expires_about"] is None


def test_the_status_line_says_when_and_which_command_renews_it() -> None:
    doc = {"token": token_expiry(NOW - REFRESH_TOKEN_LIFETIME_S + 9 * DAY_S + 60, NOW)}
    line = expiry_line(doc)
    assert line is not None
    assert "2027-01-24" in line and "in 9 days" in line and RENEW_COMMAND in line
    dead = {"token": token_expiry(NOW - REFRESH_TOKEN_LIFETIME_S - 2 * DAY_S, NOW)}
    assert "expired about" in (expiry_line(dead) or "")
    assert expiry_line({"token": token_expiry(NOW - 30 * DAY_S, NOW)}) is None


def test_an_old_status_file_is_judged_at_the_time_of_asking(tmp_path: Path) -> None:
    # Written 20 days before its sign-in's warning window began; read now, inside it.
    authorized = NOW - REFRESH_TOKEN_LIFETIME_S + 5 * DAY_S
    written = RunStatus("png", "spotify", (64, 32), NOW - 30 * DAY_S, authorized_at=authorized)
    doc = written.to_json(DisplayState(), 600.0, NOW - 30 * DAY_S)
    assert doc["token"]["expiry_warning"] is False
    path = tmp_path / "status.json"
    path.write_text(json.dumps(doc))
    read, _ = read_status(path, tmp_path / "none", NOW)
    assert read["token"]["expiry_warning"] is True and read["token"]["days_left"] == 5
    later, _ = read_status(path, tmp_path / "none", NOW, warning_days=3)
    assert later["token"]["expiry_warning"] is False  # the configured window, not 14


def test_token_warning_days_is_a_layout_setting_with_limits() -> None:
    assert parse_config({}, {}).layout.token_warning_days == 14
    assert parse_config({"layout": {"token_warning_days": 30}}, {}).layout.token_warning_days == 30


class Playing:
    def poll(self, now: float) -> Playback:
        return Playback(SONG, True, 10_000, now, "Kitchen")


class Frames:
    def __init__(self) -> None:
        self.frames: list[Image.Image] = []

    def show(self, image: Image.Image) -> None:
        self.frames.append(image)

    def close(self) -> None:
        pass


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return Config(
        paths=PathsConfig(tmp_path / "t.json", tmp_path / "state", tmp_path / "cache"),
        spotify=SpotifyConfig(client_id="c", client_secret="s"),
    )


@pytest.mark.parametrize("days", [14, 30])
def test_the_panel_marks_an_expiring_sign_in_and_the_pushed_one_clears_it(
    cfg: Config, days: int
) -> None:
    cfg = replace(cfg, layout=LayoutConfig(token_warning_days=days))
    signed_in = [NOW - REFRESH_TOKEN_LIFETIME_S + (days - 1) * DAY_S]

    def info() -> TokenInfo:
        return TokenInfo(expires_at=None, authorized_at=int(signed_in[0]), scope="")

    backend = Frames()
    renderer = Renderer(64, 32, cfg, None)
    runner = Runner(cfg, Playing(), renderer, backend, now=NOW, token_info=info)  # type: ignore[arg-type]
    runner.step(NOW)
    n = renderer.layout.mark
    assert corner(backend.frames[-1], n) == {EXPIRING}
    status = json.loads(cfg.paths.status_file.read_text())
    assert status["token"]["expiry_warning"] is True
    assert status["token"]["renew_command"] == RENEW_COMMAND

    signed_in[0] = NOW + 60  # reauth.yml pushed a new sign-in; the next good poll reads it
    runner.step(runner.plan.next_at + 61)
    assert EXPIRING not in corner(backend.frames[-1], n)
    status = json.loads(cfg.paths.status_file.read_text())
    assert status["token"]["expiry_warning"] is False and status["token"]["days_left"] >= 181


def test_offline_and_rate_limit_marks_win_over_the_expiry_mark(cfg: Config) -> None:
    r = Renderer(64, 32, cfg, None)
    pb = Playback(SONG, True, 10_000, NOW, "Kitchen")
    n = r.layout.mark
    offline = DisplayState(playback=pb, offline=True, token_expiring=True)
    assert corner(r.frame(offline, NOW), n) == {OFFLINE}
    limited = DisplayState(playback=pb, rate_limited_until=NOW + 60, token_expiring=True)
    assert corner(r.frame(limited, NOW), n) == {AMBER}
    fine = DisplayState(playback=pb)
    assert EXPIRING not in corner(r.frame(fine, NOW), n)


def test_needledrop_status_prints_the_warning_and_the_command(
    cfg: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    now = time.time()
    toml = tmp_path / "n.toml"
    toml.write_text(
        f'[paths]\ntoken_cache = "{tmp_path / "t.json"}"\nstate_dir = "{tmp_path / "state"}"\n'
        "[layout]\ntoken_warning_days = 20\n"
    )
    authorized = int(now - REFRESH_TOKEN_LIFETIME_S + 19 * DAY_S)
    cache = {"access_token": "a", "refresh_token": "r", "expires_at": 1}
    (tmp_path / "t.json").write_text(json.dumps({**cache, "authorized_at": authorized}))
    rc = main(["status", "--config", str(toml)])
    out = capsys.readouterr().out
    assert rc == 1  # no service ran: not healthy, but the warning is there
    assert f"renew it on the controller with '{RENEW_COMMAND}'" in out
    main(["status", "--config", str(toml), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["token"]["expiry_warning"] is True and doc["token"]["expiry_warning_days"] == 20
