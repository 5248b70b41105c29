"""The run loop's bookkeeping a person reads: poll and error counts, when something last played,
the journal lines, frames drawn only on change, the status heartbeat, `--duration` ending the
loop (found by mutation testing; docs/testing.md)."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace

import pytest
from needledrop.config import Config, parse_config
from needledrop.render import Renderer
from needledrop.runner import Runner, remove_stale_temporaries_at_start, stale_temporary_places
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
    t0 = 1_000.0
    frames = Frames()
    renderer = Renderer(64, 32, cfg, cfg.paths.art_cache_dir)
    runner = Runner(cfg, Answers(playing(False)), renderer, frames, now=t0)  # type: ignore[arg-type]
    runner.step(t0)
    runner.plan = replace(runner.plan, next_at=1e9)  # no more polls
    cfg.paths.status_file.write_text("{}")
    runner.step(t0 + HEARTBEAT_S - 0.5)
    assert cfg.paths.status_file.read_text() == "{}"
    runner.step(t0 + HEARTBEAT_S)
    assert json.loads(cfg.paths.status_file.read_text())["polls"] == 1


class CountingAnswers(Answers):
    def __init__(self, *answers: object) -> None:
        super().__init__(*answers)
        self.polls = 0

    def poll(self, now: float) -> Playback | None:
        self.polls += 1
        return super().poll(now)


class PacedStop(threading.Event):
    """A stop event that records how long the loop asks to wait, and returns at once."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout if timeout is not None else -1.0)
        return self.is_set()


def test_run_paces_frames_polls_once_ends_at_until_and_records_the_stop(cfg):
    source = CountingAnswers(None)  # nothing playing: the next poll is idle_s later
    runner, _ = runner_for(cfg, source)
    ticks = iter(range(1_000_000))

    def clock() -> float:
        return 100.0 + next(ticks) * 0.001  # every call a millisecond later

    stop = PacedStop()
    done = threading.Event()
    loop = threading.Thread(target=lambda: (runner.run(stop, clock=clock, until=100.5), done.set()))
    loop.start()
    loop.join(30)
    assert done.is_set(), "run() did not stop at `until`"
    frame_s = 1 / cfg.display.fps
    assert stop.waits and all(0 < w <= frame_s for w in stop.waits), stop.waits[:5]
    assert source.polls == 1 and runner.status.polls == 1  # one poll in flight, then idle_s
    assert runner.status.stopped_at is not None and runner.status.stopped_at >= 100.5
    assert json.loads(cfg.paths.status_file.read_text())["stopped_at"] is not None


def test_the_same_error_is_logged_once_and_a_new_one_again(cfg, caplog):
    runner, _ = runner_for(cfg, Answers(Offline("DNS"), Offline("DNS"), Offline("TLS")))
    with caplog.at_level(logging.WARNING, logger="needledrop.runner"):
        for _ in range(3):
            runner.step(runner.plan.next_at)
    assert [r.getMessage() for r in caplog.records] == ["DNS", "TLS"]


def test_a_status_file_that_cannot_be_written_is_logged_once_per_change(cfg, caplog):
    cfg.paths.status_file.mkdir(parents=True)  # a directory where the file should go
    runner, _ = runner_for(cfg, Answers(None, Offline("DNS")))  # idle: next poll in 60 s
    with caplog.at_level(logging.WARNING, logger="needledrop.runner"):
        runner.step(0.0)
        runner.step(HEARTBEAT_S + 1)  # the heartbeat tries again: no new warning
        assert runner.plan.next_at > HEARTBEAT_S + 1
        assert sum(m.startswith("cannot write") for m in caplog.messages) == 1
        runner.step(runner.plan.next_at)  # offline: the state changed
    cannot = [m for m in caplog.messages if m.startswith("cannot write")]
    assert len(cannot) == 2


def test_token_times_from_the_source_reach_the_status(cfg):
    from needledrop.spotify import TokenInfo

    infos = iter([TokenInfo(111, 222, "s"), TokenInfo(333, 222, "s")])
    frames = Frames()
    runner = Runner(
        cfg,
        Answers(playing()),  # type: ignore[arg-type]
        Renderer(64, 32, cfg, cfg.paths.art_cache_dir),
        frames,
        now=0.0,
        token_info=lambda: next(infos),
    )
    assert (runner.status.token_expires_at, runner.status.authorized_at) == (111, 222)
    runner.step(0.0)  # a good poll reads the token times again (a refresh moved them)
    assert runner.status.token_expires_at == 333


@pytest.mark.parametrize("failure", ["reauth", "message"])
def test_reauth_and_messages_replace_the_offline_mark(cfg, failure):
    from needledrop.spotify import ReauthNeeded

    second = ReauthNeeded("dead") if failure == "reauth" else TokenUnavailable("no cache")
    runner, _ = runner_for(cfg, Answers(Offline("DNS"), second))
    runner.step(0.0)
    assert runner.state.offline
    runner.step(runner.plan.next_at)
    assert not runner.state.offline


def test_the_first_frame_is_drawn(cfg):
    runner, frames = runner_for(cfg, Answers(None))
    assert runner.draw(0.0) is True and frames.shown == 1


# --- which temporaries the start removes -------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False])
def test_frames_written_into_the_state_dir_have_their_temporaries_removed_with_the_states(
    tmp_path, shared
):
    """png_dir may be state_dir: there both the status files' and the frames' temporaries go,
    nothing else; in a png_dir of its own only the frames'."""
    state = tmp_path / "state"
    png_dir = state if shared else tmp_path / "frames"
    cfg = parse_config(
        {
            "display": {"backend": "png", "png_dir": str(png_dir)},
            "paths": {"state_dir": str(state), "token_cache": str(state / "token.json")},
        },
        {},
    )
    accepts = stale_temporary_places(cfg)[png_dir]
    assert accepts is not None
    names = ["status.json", "reauth-needed.json", "token.json", "frame.png", "frame-000042.png"]
    expected = [True, True, True, True, True] if shared else [False, False, False, True, True]
    assert [accepts(n) for n in names] == expected
    assert not any(accepts(n) for n in ["notes.txt", "frame-1.png", "snapshot.png"])


def test_the_start_says_which_temporaries_it_removed_and_nothing_when_none(tmp_path, caplog):
    state = tmp_path / "state"
    cfg = parse_config({"paths": {"state_dir": str(state), "cache_dir": str(tmp_path / "c")}}, {})
    caplog.set_level(logging.INFO, logger="needledrop.runner")
    assert remove_stale_temporaries_at_start(cfg) == []
    assert [r for r in caplog.records if "temporary" in r.getMessage()] == []
    state.mkdir()
    stale = state / ".status.json.abcd1234.tmp"
    stale.write_text("{}")
    assert remove_stale_temporaries_at_start(cfg) == [stale]
    [said] = [r.getMessage() for r in caplog.records if "temporary" in r.getMessage()]
    assert said.startswith("removed 1 temporary file(s)") and str(stale) in said
