"""The run loop: source → state → scheduler → renderer → backend, with real pieces."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import replace

import pytest
from fakes.spotify import FakeSpotify, fake_track
from needledrop.config import Config, PathsConfig, SpotifyConfig
from needledrop.render import Renderer
from needledrop.runner import Runner
from needledrop.spotify import (
    Offline,
    RateLimited,
    ReauthNeeded,
    SpotifySource,
    TokenUnavailable,
    write_token_file,
)
from needledrop.state import Item, Playback
from needledrop.status import read_status
from PIL import Image

ITEM = Item("track", "Song", "Band", "Album", 200_000, item_id="spotify:track:1")


class ScriptedSource:
    """Answers polls from a list: a Playback/None, or an exception to raise."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.polls: list[float] = []

    def poll(self, now: float) -> Playback | None:
        self.polls.append(now)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, Playback):
            return replace(answer, observed_at=now)
        return None  # type: ignore[return-value]


class RecordingBackend:
    def __init__(self) -> None:
        self.frames: list[Image.Image] = []
        self.closed = False

    def show(self, image: Image.Image) -> None:
        self.frames.append(image)

    def close(self) -> None:
        self.closed = True


def playing(progress_ms: int = 10_000) -> Playback:
    return Playback(ITEM, True, progress_ms, 0.0, "Kitchen")


@pytest.fixture
def make_runner(cfg: Config) -> Callable[..., tuple[Runner, RecordingBackend]]:
    def make(source: object, config: Config = cfg) -> tuple[Runner, RecordingBackend]:
        backend = RecordingBackend()
        renderer = Renderer(64, 32, config, config.paths.art_cache_dir)
        runner = Runner(config, source, renderer, backend, now=0.0)  # type: ignore[arg-type]
        return runner, backend

    return make


def test_offline_keeps_the_last_track_with_an_offline_mark_until_a_poll_works(
    make_runner,
):
    source = ScriptedSource(playing(), Offline("DNS"), Offline("DNS"), playing(20_000))
    runner, backend = make_runner(source)
    runner.step(0.0)
    assert runner.state.playback is not None and not runner.state.offline
    runner.step(runner.plan.next_at)
    assert runner.state.offline and runner.state.playback.item == ITEM
    offline_frame = backend.frames[-1]
    runner.step(runner.plan.next_at)
    assert runner.plan.failures == 2
    runner.step(runner.plan.next_at)
    assert not runner.state.offline and runner.plan.failures == 0
    assert backend.frames[-1].tobytes() != offline_frame.tobytes()


def test_429_waits_for_retry_after_without_freezing_frames(make_runner):
    source = ScriptedSource(playing(), RateLimited("429", 120.0), playing())
    runner, backend = make_runner(source)
    runner.step(0.0)
    runner.step(runner.plan.next_at)
    hit_at = source.polls[-1]
    assert runner.plan.next_at >= hit_at + 120.0
    frames_before = len(backend.frames)
    t = hit_at
    while t < hit_at + 119.0:
        t += 1.0
        runner.step(t)
    assert source.polls[-1] == hit_at  # nothing asked during Retry-After
    assert len(backend.frames) > frames_before + 10  # the progress bar kept moving
    runner.step(runner.plan.next_at)
    assert len(source.polls) == 3


def test_reauth_writes_the_marker_and_shows_the_reauth_screen_then_clears(make_runner, cfg):
    source = ScriptedSource(playing(), ReauthNeeded("invalid_grant"), playing())
    runner, _backend = make_runner(source)
    runner.step(0.0)
    runner.step(runner.plan.next_at)
    marker = json.loads(cfg.paths.reauth_file.read_text())
    assert marker["reauth_needed"] is True
    assert marker["token_cache"] == str(cfg.paths.token_cache)
    assert marker["client_id"] == "fake-client-id"
    assert runner.state.reauth_needed
    status = json.loads(cfg.paths.status_file.read_text())
    assert status["reauth_needed"] is True and status["showing"]["screen"] == "reauth"
    assert runner.plan.next_at - source.polls[-1] == cfg.polling.token_check_s
    runner.step(runner.plan.next_at)
    assert not cfg.paths.reauth_file.exists()
    assert not runner.state.reauth_needed


def test_missing_token_shows_a_message_and_reports_unhealthy(make_runner, cfg):
    source = ScriptedSource(TokenUnavailable("Spotify token cache /x is missing."))
    runner, _backend = make_runner(source)
    runner.step(0.0)
    assert runner.state.message == "Spotify token cache /x is missing."
    doc, healthy = read_status(cfg.paths.status_file, cfg.paths.reauth_file, 1.0)
    assert doc["showing"] == {"screen": "message", "message": runner.state.message}
    assert doc["last_error"] == runner.state.message
    assert not healthy


def test_a_bug_in_the_source_is_logged_and_the_display_stays_up(make_runner, caplog):
    source = ScriptedSource(ZeroDivisionError("boom"), playing())
    runner, _backend = make_runner(source)
    with caplog.at_level(logging.ERROR, logger="needledrop.runner"):
        runner.step(0.0)
    # The journal gets the traceback (someone has to fix the bug), not only a status field.
    [record] = [r for r in caplog.records if r.exc_info is not None]
    assert record.levelno == logging.ERROR and record.exc_info[0] is ZeroDivisionError
    assert "ZeroDivisionError: boom" in caplog.text
    assert runner.state.offline
    assert "ZeroDivisionError" in (runner.status.last_error or "")
    runner.step(runner.plan.next_at)
    assert runner.state.playback is not None


def test_status_is_not_rewritten_every_frame(make_runner, cfg):
    runner, _backend = make_runner(ScriptedSource(playing()))
    runner.step(0.0)
    cfg.paths.status_file.write_text("{}")  # sentinel: a rewrite would replace it
    for t in range(1, 10):
        runner.step(t * 0.1)
    assert cfg.paths.status_file.read_text() == "{}"
    runner.step(45.0)  # the heartbeat (and a poll) rewrites it
    assert json.loads(cfg.paths.status_file.read_text())["polls"] >= 2


def test_status_reports_the_first_frame_at_once_and_counts_frames_on_the_heartbeat(
    make_runner, cfg
):
    runner, backend = make_runner(ScriptedSource(playing()))
    runner.step(0.0)
    doc = json.loads(cfg.paths.status_file.read_text())
    assert (doc["frames_shown"], doc["last_frame_at"]) == (1, "1970-01-01T00:00:00Z")
    for t in range(1, 50):
        runner.step(t * 1.0)
    runner.write_status(50.0, force=True)
    doc = json.loads(cfg.paths.status_file.read_text())
    assert doc["frames_shown"] == len(backend.frames) > 1
    assert doc["last_frame_at"] is not None and doc["last_frame_at"] > "1970-01-01T00:00:00Z"


class BlockingSource:
    """A poll that hangs until released: a stand-in for a slow network."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def poll(self, now: float) -> Playback | None:
        self.entered.set()
        self.release.wait(30)
        return None


class CountingBackend(RecordingBackend):
    def __init__(self, want: int) -> None:
        super().__init__()
        self.want = want
        self.enough = threading.Event()

    def show(self, image: Image.Image) -> None:
        super().show(image)
        if len(self.frames) >= self.want:
            self.enough.set()


class TickingRenderer:
    """Every frame differs (a stand-in for a scrolling title)."""

    def __init__(self) -> None:
        self.n = 0

    def changed(self, state: object, now: float) -> bool:
        return True

    def frame(self, state: object, now: float) -> Image.Image:
        self.n += 1
        return Image.new("RGB", (4, 4), (self.n % 256, 0, 0))


def test_a_hanging_poll_does_not_stop_frames(cfg):
    source = BlockingSource()
    backend = CountingBackend(want=5)
    cfg = replace(cfg, display=replace(cfg.display, fps=60))
    runner = Runner(cfg, source, TickingRenderer(), backend, now=0.0)
    stop = threading.Event()
    loop = threading.Thread(target=runner.run, args=(stop,))
    loop.start()
    try:
        assert source.entered.wait(10)
        frames_at_entry = len(backend.frames)
        assert backend.enough.wait(10)
        assert len(backend.frames) > frames_at_entry
        assert runner.status.polls == 0  # the poll is still hanging
    finally:
        source.release.set()
        stop.set()
        loop.join(10)
    assert runner.status.stopped_at is not None


def test_pushed_token_ends_reauth_without_restart(fake: FakeSpotify, tmp_path, make_runner):
    token_path = tmp_path / "token.json"
    write_token_file(token_path, fake.grant())
    fake.player = fake_track(title="Back again")
    spotify_cfg = SpotifyConfig(
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        accounts_url=fake.url,
        api_url=fake.api_url,
    )
    cfg = Config(
        spotify=spotify_cfg,
        paths=PathsConfig(token_cache=token_path, state_dir=tmp_path / "st", cache_dir=tmp_path),
    )
    source = SpotifySource(spotify_cfg, token_path)
    runner, _backend = make_runner(source, cfg)
    token = json.loads(token_path.read_text())
    token["expires_at"] = 0
    token_path.write_text(json.dumps(token))
    fake.revoke()
    runner.step(0.0)
    assert runner.state.reauth_needed and cfg.paths.reauth_file.exists()
    runner.step(runner.plan.next_at)  # same dead token: no new refresh attempt
    assert len(fake.calls_to("token")) == 1
    write_token_file(token_path, fake.grant())  # the fleet pushes a new token
    runner.step(runner.plan.next_at)
    assert not runner.state.reauth_needed and not cfg.paths.reauth_file.exists()
    assert runner.state.playback is not None
    assert runner.state.playback.item.title == "Back again"
    source.close()


def test_marker_left_by_an_earlier_run_is_removed_by_the_first_good_poll(make_runner, cfg):
    cfg.paths.reauth_file.parent.mkdir(parents=True)
    cfg.paths.reauth_file.write_text('{"reauth_needed": true}')
    runner, _backend = make_runner(ScriptedSource(playing()))
    runner.step(0.0)
    assert not cfg.paths.reauth_file.exists()
