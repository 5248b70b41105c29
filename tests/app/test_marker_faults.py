"""The re-auth marker and the status files when the state directory misbehaves.

Whatever state the path is in (its directory a file, the marker a directory, any OSError the
kernel gives), the run loop goes on: it says once in the log which path and why, keeps the
screen right, and removes or writes the marker once the path works again.
"""

from __future__ import annotations

import errno
import io
import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from needledrop.config import Config, PathsConfig, SpotifyConfig
from needledrop.render import Renderer
from needledrop.runner import Runner
from needledrop.spotify import ReauthNeeded
from needledrop.state import Item, Playback
from needledrop.status import ReauthRecord, clear_reauth, read_status, write_reauth
from PIL import Image

ITEM = Item("track", "Song", "Band", "Album", 200_000, item_id="spotify:track:1")
PLAYING = Playback(ITEM, True, 10_000, 0.0, "Kitchen")
RECORD = ReauthRecord(
    since="2027-01-01T00:00:00+00:00", reason="r", token_cache="t", client_id=None
)

# Every OSError subclass an unlink or open may raise, by errno.
ERRNOS = [
    errno.EACCES,
    errno.EPERM,
    errno.EISDIR,
    errno.EROFS,
    errno.EIO,
    errno.EBUSY,
    errno.ELOOP,
    errno.ENAMETOOLONG,
    errno.ENOSPC,
    errno.EDQUOT,
]


class Source:
    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)

    def poll(self, now: float) -> Playback | None:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return replace(PLAYING, observed_at=now)


class Frames:
    def show(self, image: Image.Image) -> None:
        pass

    def close(self) -> None:
        pass


def config(tmp: Path) -> Config:
    return Config(
        paths=PathsConfig(token_cache=tmp / "token.json", state_dir=tmp / "state", cache_dir=tmp),
        spotify=SpotifyConfig(client_id="fake-client-id", client_secret="s"),
    )


def runner_for(cfg: Config, *answers: object) -> Runner:
    renderer = Renderer(64, 32, cfg, cfg.paths.art_cache_dir)
    return Runner(cfg, Source(*answers), renderer, Frames(), now=0.0)  # type: ignore[arg-type]


class Fault:
    """Makes every unlink and open of one path fail with ``code`` while ``on``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, path: Path, code: int) -> None:
        self.path, self.code, self.on = path, code, True
        unlink, open_, io_open = os.unlink, os.open, io.open

        def failing_unlink(p: object, *a: object, **k: object) -> None:
            self.check(p)
            unlink(p, *a, **k)  # type: ignore[arg-type]

        def failing_open(p: object, *a: object, **k: object) -> int:
            self.check(p)
            return open_(p, *a, **k)  # type: ignore[arg-type]

        def failing_io_open(p: object, *a: object, **k: object) -> object:
            if isinstance(p, str | bytes | os.PathLike):
                self.check(p)
            return io_open(p, *a, **k)  # type: ignore[call-overload]

        monkeypatch.setattr(io, "open", failing_io_open)
        monkeypatch.setattr(os, "unlink", failing_unlink)
        monkeypatch.setattr(os, "open", failing_open)

    def check(self, p: object) -> None:
        if self.on and Path(os.fsdecode(p)).parent == self.path.parent:  # type: ignore[arg-type]
            raise OSError(self.code, os.strerror(self.code), str(p))


def warnings_about(caplog: pytest.LogCaptureFixture, path: Path) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and str(path) in r.getMessage()
    ]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(code=hs.sampled_from(ERRNOS), polls=hs.integers(2, 6))
def test_a_marker_that_cannot_be_removed_never_stops_the_loop_and_is_said_once(
    tmp_path_factory, monkeypatch, caplog, code, polls
):
    tmp = tmp_path_factory.mktemp("m")
    cfg = config(tmp)
    marker = cfg.paths.reauth_file
    write_reauth(marker, RECORD)  # left by an earlier run
    runner = runner_for(cfg, PLAYING)
    caplog.clear()
    with monkeypatch.context() as mp:
        fault = Fault(mp, marker, code)
        with caplog.at_level(logging.WARNING, logger="needledrop.runner"):
            for _ in range(polls):
                runner.step(runner.plan.next_at)  # the first good poll tries to remove it
        said = warnings_about(caplog, marker)
        assert len(said) == 1, said
        assert os.strerror(code) in said[0] and "\n" not in said[0]
        assert runner.status.polls == polls and not runner.state.reauth_needed
        assert marker.exists()  # nothing removed behind anyone's back
        fault.on = False
        runner.step(runner.plan.next_at)
    assert not marker.exists()  # the next good poll after the fault removes it


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(code=hs.sampled_from(ERRNOS))
def test_a_marker_that_cannot_be_written_is_said_once_and_written_when_it_can(
    tmp_path_factory, monkeypatch, caplog, code
):
    cfg = config(tmp_path_factory.mktemp("m"))
    marker = cfg.paths.reauth_file
    marker.parent.mkdir(parents=True)
    runner = runner_for(cfg, ReauthNeeded("invalid_grant"))
    with monkeypatch.context() as mp:
        fault = Fault(mp, marker, code)
        with caplog.at_level(logging.WARNING, logger="needledrop.runner"):
            for _ in range(3):
                runner.step(runner.plan.next_at)
        assert len(warnings_about(caplog, marker)) == 1
        assert runner.state.reauth_needed  # the screen says it all the same
        fault.on = False
        runner.step(runner.plan.next_at)
    assert marker.exists()  # written once the directory works: the playbook finds it


def _dir_is_a_file(state: Path) -> None:
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("not a directory")


def _marker_is_a_dir(state: Path) -> None:
    (state / "reauth-needed.json").mkdir(parents=True)


def _marker_is_a_dangling_loop(state: Path) -> None:
    state.mkdir(parents=True)
    (state / "reauth-needed.json").symlink_to(state / "reauth-needed.json")


@pytest.mark.parametrize(
    "spoil",
    [_dir_is_a_file, _marker_is_a_dir, _marker_is_a_dangling_loop],
    ids=lambda f: f.__name__,
)
def test_real_states_of_the_path_never_stop_the_loop_or_the_status_command(tmp_path, caplog, spoil):
    cfg = config(tmp_path)
    spoil(cfg.paths.state_dir)
    runner = runner_for(cfg, PLAYING, ReauthNeeded("invalid_grant"), PLAYING)
    with caplog.at_level(logging.WARNING, logger="needledrop.runner"):
        for _ in range(6):
            runner.step(runner.plan.next_at)
    assert runner.status.polls == 6
    marker_warnings = [m for m in warnings_about(caplog, cfg.paths.reauth_file) if "marker" in m]
    assert len(set(marker_warnings)) == len(marker_warnings)  # each fault said once
    doc, healthy = read_status(cfg.paths.status_file, cfg.paths.reauth_file, 0.0)
    assert isinstance(doc, dict) and isinstance(healthy, bool)


def test_clear_reauth_says_no_marker_only_when_there_is_none(tmp_path):
    marker = tmp_path / "state" / "reauth-needed.json"
    assert clear_reauth(marker) is False  # no directory
    _dir_is_a_file(tmp_path / "state")
    assert clear_reauth(marker) is False  # the directory is a file: no marker can be there
    (tmp_path / "state").unlink()
    marker.mkdir(parents=True)
    with pytest.raises(OSError):
        clear_reauth(marker)  # something is there and stays: the caller must know


def test_status_command_with_an_unreadable_marker_reports_it_without_claiming(
    tmp_path, monkeypatch
):
    marker = tmp_path / "reauth-needed.json"
    write_reauth(marker, RECORD)
    Fault(monkeypatch, marker, errno.EACCES)
    doc, _ = read_status(tmp_path / "status.json", marker, 0.0)
    assert doc["reauth_file_error"] == f"cannot read {marker}: Permission denied"


@pytest.mark.parametrize("code", ERRNOS, ids=errno.errorcode.get)
def test_an_unreadable_state_directory_at_start_is_said_and_the_start_goes_on(
    tmp_path, monkeypatch, caplog, code
):
    from needledrop.runner import remove_stale_temporaries_at_start

    cfg = config(tmp_path)
    cfg.paths.state_dir.mkdir()
    scandir = os.scandir

    def failing_scandir(p: object) -> object:
        if Path(os.fsdecode(p)) == cfg.paths.state_dir:  # type: ignore[arg-type]
            raise OSError(code, os.strerror(code), str(p))
        return scandir(p)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", failing_scandir)
    with caplog.at_level(logging.WARNING):
        assert remove_stale_temporaries_at_start(cfg) == []
    said = warnings_about(caplog, cfg.paths.state_dir)
    assert len(said) == 1 and os.strerror(code) in said[0], said
