"""The run loop's bookkeeping a person reads: poll and error counts, when something last played,
the journal lines, frames drawn only on change, the status heartbeat, `--duration` ending the
loop (found by mutation testing; docs/testing.md)."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from needledrop.config import Config, PathsConfig, SpotifyConfig
from needledrop.render import Renderer
from needledrop.runner import Runner
from needledrop.spotify import Offline, TokenUnavailable
from needledrop.state import Item, Playback
from needledrop.status import HEARTBEAT_S

SONG = Item("track", "Song", "Band", "Album", 200_000, item_id="spotify:track:1")


class Answers:
    """A source answering polls from a list (the last answer repeats)."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)

    def poll(self, now: float) -> Playback | None:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return replace(answer, observed_at=now) if isinstance(answer, Playback) else None


class Frames:
    def __init__(self) -> None:
        self.shown = 0

    def show(self, image: object) -> None:
        self.shown += 1

    def close(self) -> None:
        pass


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return Config(
        paths=PathsConfig(
            token_cache=tmp_path / "token.json",
            state_dir=tmp_path / "state",
            cache_dir=tmp_path / "cache",
        ),
        spotify=SpotifyConfig(client_id="id", client_secret="s"),
    )


def runner_for(cfg: Config, source: object) -> tuple[Runner, Frames]:
    frames = Frames()
    renderer = Renderer(64, 32, cfg, cfg.paths.art_cache_dir)
    return Runner(cfg, source, renderer, frames, now=0.0), frames  # type: ignore[arg-type]


def playing(is_playing: bool = True) -> Playback:
    return Playback(SONG, is_playing, 10_000, 0.0)


def test_polls_and_errors_are_counted_one_each(cfg):
    runner, _ = runner_for(cfg, Answers(playing(), Offline("DNS"), playing()))
    for _ in range(3):
        runner.step(runner.plan.next_at)
    doc = json.loads(cfg.paths.status_file.read_text())
    assert (doc["polls"], doc["api_errors"]) == (3, 1)


def test_last_played_is_when_a_poll_last_saw_something_playing(cfg):
    runner, _ = runner_for(cfg, Answers(playing(), playing(False), None))
    runner.step(5.0)
    assert runner.state.last_played_at == 5.0
    runner.step(runner.plan.next_at)  # paused: still 5.0
    assert runner.state.last_played_at == 5.0
    runner.step(runner.plan.next_at)  # nothing playing: still 5.0, and no crash
    assert runner.state.last_played_at == 5.0 and runner.state.playback is None


def test_a_new_track_is_logged_with_its_title_and_artist(cfg, caplog):
    runner, _ = runner_for(cfg, Answers(playing()))
    with caplog.at_level(logging.INFO, logger="needledrop.runner"):
        runner.step(0.0)
    assert "start: Song — Band" in caplog.messages


@pytest.mark.parametrize("failure", [Offline("DNS"), TokenUnavailable("no token cache")])
def test_recovery_from_offline_or_a_message_is_logged(cfg, caplog, failure):
    runner, _ = runner_for(cfg, Answers(failure, playing()))
    runner.step(0.0)
    with caplog.at_level(logging.INFO, logger="needledrop.runner"):
        runner.step(runner.plan.next_at)
    assert "polling works again" in caplog.messages


def test_a_frame_is_drawn_only_when_something_visible_changed(cfg):
    runner, frames = runner_for(cfg, Answers(playing(False)))
    assert runner.frames == 0
    runner.step(0.0)
    assert runner.frames == frames.shown == 1
    assert runner.draw(0.5) is False  # paused, nothing moves
    assert runner.frames == frames.shown == 1


def test_the_status_is_rewritten_on_the_heartbeat_exactly(cfg):
    runner, _ = runner_for(cfg, Answers(playing(False)))
    runner.step(0.0)
    runner.plan = replace(runner.plan, next_at=1e9)  # no more polls
    cfg.paths.status_file.write_text("{}")
    runner.step(HEARTBEAT_S - 0.5)
    assert cfg.paths.status_file.read_text() == "{}"
    runner.step(HEARTBEAT_S)
    assert json.loads(cfg.paths.status_file.read_text())["polls"] == 1


def test_run_ends_at_until_and_records_the_stop(cfg):
    runner, _ = runner_for(cfg, Answers(playing()))
    ticks = iter(range(1_000_000))

    def clock() -> float:
        return 100.0 + next(ticks) * 0.01  # every call a hundredth of a second later

    done = threading.Event()
    loop = threading.Thread(
        target=lambda: (runner.run(threading.Event(), clock=clock, until=100.5), done.set())
    )
    loop.start()
    loop.join(30)
    assert done.is_set(), "run() did not stop at `until`"
    assert runner.status.stopped_at is not None and runner.status.stopped_at >= 100.5
    assert json.loads(cfg.paths.status_file.read_text())["stopped_at"] is not None
