"""A 429 with a long Retry-After (the developer account's quota spent): the poll returns at once,
nothing is asked before the time Spotify gave, the display and the status say what is true, and
music comes back with the first poll after it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fakes.spotify import FakeSpotify, fake_track, rate_limited
from needledrop.cli import main
from needledrop.config import Config, PathsConfig, SpotifyConfig
from needledrop.render import Renderer, RenderSettings
from needledrop.runner import Runner
from needledrop.spotify import Offline, RateLimited, SpotifySource
from needledrop.state import DisplayState, Item, Playback, until_minute
from needledrop.status import RunStatus, iso, rate_limit_line, read_status, showing
from PIL import Image

T0 = 1_800_000_000.0  # the runner's clock (seconds since the epoch), driven by the test


# --- the source -------------------------------------------------------------------------------


def test_a_quota_429_is_rate_limited_for_its_retry_after_and_says_quota(fake, make_source):
    fake.script("player", rate_limited(3600, quota=True))
    with pytest.raises(RateLimited) as err:
        make_source().poll(now=T0)
    assert err.value.retry_after == 3600 and err.value.quota
    assert "quota" in str(err.value) and "3600 s" in str(err.value)
    assert len(fake.calls_to("player")) == 1


def test_a_plain_429_is_not_the_quota(fake, make_source):
    fake.script("player", rate_limited(30))
    with pytest.raises(RateLimited) as err:
        make_source().poll(now=T0)
    assert err.value.retry_after == 30 and not err.value.quota


def test_a_retry_after_date_is_counted_from_the_callers_now(fake, make_source):
    fake.script("player", rate_limited("Fri, 15 Jan 2027 08:00:00 GMT"))
    now = datetime(2027, 1, 15, 6, 30, tzinfo=UTC).timestamp()
    with pytest.raises(RateLimited) as err:
        make_source().poll(now=now)
    assert err.value.retry_after == 5400


# --- the run loop: returns at once, waits, comes back -----------------------------------------


class Frames:
    def __init__(self) -> None:
        self.shown: list[Image.Image] = []

    def show(self, image: Image.Image) -> None:
        self.shown.append(image)

    def close(self) -> None:
        pass


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any sleep (spotipy's retry adapter sleeping out a Retry-After) fails the test."""

    def sleep(seconds: float) -> None:
        raise AssertionError(f"something slept {seconds} s")

    monkeypatch.setattr(time, "sleep", sleep)


@pytest.fixture
def runner(fake: FakeSpotify, spotify_cfg: SpotifyConfig, token_path: Path) -> Iterator[Runner]:
    cfg = Config(
        spotify=spotify_cfg,
        paths=PathsConfig(
            token_cache=token_path,
            state_dir=token_path.parent,
            cache_dir=token_path.parent / "cache",
        ),
    )
    source = SpotifySource(spotify_cfg, token_path)
    renderer = Renderer(64, 32, RenderSettings(tz=UTC), None)
    yield Runner(cfg, source, renderer, Frames(), now=T0, token_info=source.token_info)
    source.close()


def status(runner: Runner) -> dict[str, object]:
    return json.loads(runner.cfg.paths.status_file.read_text())


def test_a_long_retry_after_returns_at_once_and_the_next_poll_is_an_hour_later(
    fake, runner, no_sleep
):
    fake.player = fake_track(
        title="Before", duration_ms=200_000, progress_ms=150_000, image_url=None
    )
    runner.step(T0)
    fake.script("player", rate_limited(3600, quota=True))
    hit = runner.plan.next_at
    runner.step(hit)  # returned: the test goes on without any sleep
    assert hit + 3600 <= runner.plan.next_at < hit + 3601
    doc = status(runner)
    assert doc["rate_limited"] is True and doc["rate_limit_reason"] == "quota"
    assert doc["rate_limited_until"] == iso(runner.plan.next_at) == doc["next_poll_at"]
    assert doc["offline"] is False
    assert len(fake.calls_to("player")) == 2


def test_during_the_wait_nothing_is_asked_and_the_screen_turns_to_the_paused_clock(
    fake, runner, no_sleep
):
    fake.player = fake_track(
        title="Before", duration_ms=200_000, progress_ms=150_000, image_url=None
    )
    runner.step(T0)  # 50 s of the track left
    fake.script("player", rate_limited(3600, quota=True))
    runner.step(T0 + 10)
    until = runner.plan.next_at
    assert status(runner)["showing"]["title"] == "Before"  # type: ignore[index]
    for t in range(20, 3600, 30):
        runner.step(T0 + t)
    assert len(fake.calls_to("player")) == 2  # nothing asked during Retry-After
    assert status(runner)["showing"] == {"screen": "rate_limited", "until": iso(until)}
    # The token fixture signed in long before T0: the sign-in's corner mark stays on the clock.
    assert runner.state.token_expiring
    paused_clock = Renderer(64, 32, RenderSettings(tz=UTC), None).frame(
        DisplayState(rate_limited_until=until, token_expiring=True), T0 + 3590
    )
    assert runner.backend.shown[-1].tobytes() == paused_clock.tobytes()  # type: ignore[attr-defined]


def test_when_the_wait_is_over_the_next_poll_brings_the_music_back(fake, runner, no_sleep):
    fake.player = fake_track(title="Before", image_url=None)
    runner.step(T0)
    fake.script("player", rate_limited(3600, quota=True))
    runner.step(T0 + 10)
    fake.player = fake_track(title="After the wait", image_url=None)
    runner.step(runner.plan.next_at)
    assert len(fake.calls_to("player")) == 3
    pb = runner.state.playback
    assert pb is not None and pb.item is not None and pb.item.title == "After the wait"
    assert runner.state.rate_limited_until is None
    doc = status(runner)
    assert doc["rate_limited"] is False and doc["rate_limited_until"] is None
    assert doc["rate_limit_reason"] is None
    assert doc["showing"]["title"] == "After the wait"  # type: ignore[index]


def test_a_network_fault_after_a_429_is_offline_not_rate_limited(runner):
    runner.source = _Answers(RateLimited("429", 60.0), Offline("DNS"))
    runner.step(T0)
    assert runner.state.rate_limited_until is not None and not runner.state.offline
    runner.step(runner.plan.next_at)
    assert runner.state.rate_limited_until is None and runner.state.offline


class _Answers:
    def __init__(self, *answers: Exception) -> None:
        self.answers = list(answers)

    def poll(self, now: float) -> Playback | None:
        raise self.answers.pop(0)


# --- status.json and `needledrop status` ------------------------------------------------------

SONG = Item("track", "Song", "Band", "Album", 200_000, "t1")


def test_status_says_rate_limited_until_when_and_why():
    until = T0 + 3600
    state = DisplayState(rate_limited_until=until, rate_limit_quota=False)
    doc = RunStatus("png", "spotify", (64, 32), T0).to_json(state, 600.0, T0)
    assert (doc["rate_limited"], doc["rate_limited_until"], doc["rate_limit_reason"]) == (
        True,
        iso(until),
        "too_many_requests",
    )
    plain = RunStatus("png", "spotify", (64, 32), T0).to_json(DisplayState(), 600.0, T0)
    assert (plain["rate_limited"], plain["rate_limited_until"], plain["rate_limit_reason"]) == (
        False,
        None,
        None,
    )


def test_showing_is_the_track_until_its_end_then_rate_limited():
    pb = Playback(SONG, True, 190_000, T0)  # 10 s left
    state = DisplayState(playback=pb, last_played_at=T0, rate_limited_until=T0 + 3600)
    assert showing(state, 600.0, T0 + 9)["title"] == "Song"
    assert showing(state, 600.0, T0 + 11) == {"screen": "rate_limited", "until": iso(T0 + 3600)}


@pytest.mark.parametrize(
    ("reason", "words"),
    [("quota", "developer quota spent"), ("too_many_requests", "too many requests")],
)
def test_the_status_line_is_in_local_time_and_plain_words(reason, words):
    until = datetime(2026, 11, 29, 13, 4, 30, tzinfo=UTC).timestamp()
    doc = {"rate_limited": True, "rate_limited_until": iso(until), "rate_limit_reason": reason}
    line = rate_limit_line(doc, until - 3000, ZoneInfo("Europe/Berlin"))
    assert line == f"rate-limited by Spotify until 14:05 ({words})"
    assert rate_limit_line(doc, until + 1, ZoneInfo("Europe/Berlin")) is None  # over
    far = rate_limit_line(doc, until - 30 * 3600, ZoneInfo("Europe/Berlin"))
    assert far == f"rate-limited by Spotify until 2026-11-29 14:05 ({words})"


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[ZoneInfo]:
    """The machine's local time zone (what `needledrop status` prints in) set to Berlin."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield ZoneInfo("Europe/Berlin")
    monkeypatch.undo()
    time.tzset()


def write_config(tmp_path: Path, fake: FakeSpotify) -> Path:
    path = tmp_path / "needledrop.toml"
    path.write_text(
        f'[paths]\ntoken_cache = "{tmp_path}/token.json"\nstate_dir = "{tmp_path}/state"\n'
        f'cache_dir = "{tmp_path}/cache"\n'
        f"[matrix]\nrows = 32\ncols = 64\n"
        f'[display]\nbackend = "png"\npng_dir = "{tmp_path}/frames"\n'
        f'[spotify]\naccounts_url = "{fake.url}"\napi_url = "{fake.api_url}"\n'
    )
    return path


def test_needledrop_status_prints_the_rate_limit_after_a_quota_429(
    tmp_path, fake, monkeypatch, capsys, berlin
):
    monkeypatch.setenv("SPOTIPY_CLIENT_ID", fake.client_id)
    monkeypatch.setenv("SPOTIPY_CLIENT_SECRET", fake.client_secret)
    config = write_config(tmp_path, fake)
    (tmp_path / "token.json").write_text(json.dumps(fake.grant()))
    fake.script("player", rate_limited(7200, quota=True))
    assert main(["run", "--config", str(config), "--duration", "0.5"]) == 0
    assert len(fake.calls_to("player")) == 1
    capsys.readouterr()
    main(["status", "--config", str(config), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["rate_limited"] is True and doc["rate_limit_reason"] == "quota"
    main(["status", "--config", str(config)])
    out = capsys.readouterr().out
    until = datetime.fromisoformat(doc["rate_limited_until"]).timestamp()
    hhmm = datetime.fromtimestamp(until_minute(until), berlin).strftime("%H:%M")
    assert f"rate-limited by Spotify until {hhmm} (developer quota spent)\n" in out
    doc2, _healthy = read_status(
        tmp_path / "state" / "status.json", tmp_path / "state" / "reauth-needed.json", until - 1
    )
    assert doc2["rate_limited_until"] == doc["rate_limited_until"]


def test_a_restart_during_the_wait_does_not_ask_sooner(fake, runner, no_sleep):
    fake.player = fake_track(image_url=None)
    fake.script("player", rate_limited(3600, quota=True))
    runner.step(T0)
    until = runner.plan.next_at
    cfg, source = runner.cfg, runner.source
    restarted = Runner(cfg, source, Renderer(64, 32), Frames(), now=T0 + 600)  # type: ignore[arg-type]
    assert until <= restarted.plan.next_at < until + 1
    assert restarted.state.rate_limited_until == restarted.plan.next_at
    assert restarted.state.rate_limit_quota
    restarted.step(T0 + 601)
    assert len(fake.calls_to("player")) == 1
    restarted.step(restarted.plan.next_at)
    assert len(fake.calls_to("player")) == 2 and restarted.state.rate_limited_until is None


@pytest.mark.parametrize("offset", [-2.0, 25 * 3600.0])
def test_a_wait_from_before_the_restart_that_is_over_or_implausible_is_ignored(runner, offset):
    runner.source = _Answers(RateLimited("429", 60.0))
    runner.step(T0)
    doc = status(runner)
    doc["rate_limited_until"] = iso(T0 + offset)
    runner.cfg.paths.status_file.write_text(json.dumps(doc))
    restarted = Runner(runner.cfg, runner.source, Renderer(64, 32), Frames(), now=T0)  # type: ignore[arg-type]
    assert restarted.plan.next_at == T0 and restarted.state.rate_limited_until is None


@pytest.mark.parametrize(
    ("written", "resumed"),
    [
        (-1.0, False),  # the wait (whole seconds, plus one) ends right now: nothing to wait for
        (0.0, True),
        (24 * 3600 - 1.0, True),  # the wait ends 24 hours from now: the longest taken over
        (24 * 3600.0, False),
    ],
)
def test_a_wait_from_before_the_restart_is_taken_over_up_to_24_hours(runner, written, resumed):
    runner.source = _Answers(RateLimited("429", 60.0))
    runner.step(T0)
    doc = status(runner)
    doc["rate_limited_until"] = iso(T0 + written)
    runner.cfg.paths.status_file.write_text(json.dumps(doc))
    restarted = Runner(runner.cfg, runner.source, Renderer(64, 32), Frames(), now=T0)  # type: ignore[arg-type]
    if resumed:
        assert restarted.plan.next_at == restarted.state.rate_limited_until == T0 + written + 1
    else:
        assert restarted.plan.next_at == T0 and restarted.state.rate_limited_until is None


@pytest.mark.parametrize(("quota", "reason"), [(False, "too_many_requests"), (True, "quota")])
def test_the_runner_says_quota_only_for_a_quota_429(runner, quota, reason):
    runner.source = _Answers(RateLimited("429", 60.0, quota=quota))
    runner.step(T0)
    assert runner.state.rate_limit_quota is quota
    assert status(runner)["rate_limit_reason"] == reason


@pytest.mark.parametrize("text", ["[]", '"limited"', "{}", '{"rate_limited": false, "x": 1}'])
def test_a_status_file_that_is_no_rate_limit_is_ignored_at_the_start(runner, text):
    runner.cfg.paths.status_file.parent.mkdir(parents=True, exist_ok=True)
    runner.cfg.paths.status_file.write_text(text)
    restarted = Runner(runner.cfg, runner.source, Renderer(64, 32), Frames(), now=T0)  # type: ignore[arg-type]
    assert restarted.plan.next_at == T0 and restarted.state.rate_limited_until is None
