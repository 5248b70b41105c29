"""Token cache faults, through real spotipy against the loopback fake: a cache other users can
read, a state directory the service cannot write, a refresh run as root, and the faults that
must not be mistaken for a dead token."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import time
from pathlib import Path

import pytest
from fakes.spotify import Reply, fake_track
from needledrop import files
from needledrop.config import Config, PathsConfig, SpotifyConfig
from needledrop.render import Renderer
from needledrop.runner import Runner
from needledrop.spotify import (
    CredentialsRejected,
    Offline,
    ReauthNeeded,
    SpotifySource,
    TokenUnavailable,
    write_token_file,
)
from needledrop.status import RunStatus, read_status


def expire(path: Path) -> None:
    token = json.loads(path.read_text())
    token["expires_at"] = int(time.time()) - 10
    mode = stat.S_IMODE(path.stat().st_mode)
    path.write_text(json.dumps(token))
    path.chmod(mode)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def warnings_about(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING and words in r.getMessage()]


# --- a cache other users can read -----------------------------------------------------------


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660, 0o666, 0o601, 0o700], ids=oct)
def test_a_cache_open_to_other_users_is_set_to_0600_and_said_once(
    fake, make_source, token_path, caplog, mode
):
    fake.player = fake_track()
    token_path.chmod(mode)
    src = make_source()
    for t in range(5):
        assert src.poll(now=float(t)) is not None
    assert mode_of(token_path) == 0o600
    [warning] = warnings_about(caplog, "open to other users")
    assert str(token_path) in warning.getMessage()
    assert f"{mode:04o}" in warning.getMessage()


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o400], ids=oct)
def test_a_cache_only_the_owner_and_its_group_can_read_is_left_alone(
    fake, make_source, token_path, caplog, mode
):
    fake.player = fake_track()
    token_path.chmod(mode)
    assert make_source().poll(now=0.0) is not None
    assert mode_of(token_path) == mode
    assert warnings_about(caplog, "open to other users") == []


def test_a_cache_whose_mode_cannot_be_fixed_is_refused_with_the_fix(
    fake, make_source, token_path, monkeypatch
):
    """As the service user, a 0644 cache owned by root cannot be chmod-ed (EPERM)."""
    fake.player = fake_track()
    token_path.chmod(0o644)

    def chmod(path: object, mode: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", chmod)
    with pytest.raises(TokenUnavailable) as err:
        make_source().poll(now=0.0)
    message = str(err.value)
    assert "0644" in message and "(Operation not permitted)" in message  # no errno noise
    assert f"chmod 600 {token_path}" in message
    assert fake.calls_to("player") == []  # the exposed token was not used


# --- a state directory the service cannot write ----------------------------------------------


@pytest.fixture
def read_only_state(token_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The token's directory as a read-only filesystem: as root (the test machine) a chmod
    would not stop us, so creating a file there fails with EROFS as the kernel would."""
    directory = token_path.parent
    real_mkstemp = files.tempfile.mkstemp

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        if Path(str(kwargs.get("dir"))) == directory:
            raise OSError(errno.EROFS, "Read-only file system")
        return real_mkstemp(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)
    return directory


def test_read_only_state_dir_keeps_the_refreshed_token_in_memory_and_music_shows(
    fake, make_source, token_path, read_only_state, caplog
):
    fake.player = fake_track(title="Still here")
    expire(token_path)
    before = token_path.read_bytes()
    src = make_source()
    for t in range(6):
        pb = src.poll(now=float(t))
        assert pb is not None and pb.item is not None and pb.item.title == "Still here"
    assert len(fake.calls_to("token")) == 1  # refreshed once, not on every poll
    assert token_path.read_bytes() == before
    [warning] = warnings_about(caplog, "cannot save")
    assert str(token_path) in warning.getMessage()
    assert "Read-only file system" in warning.getMessage()
    assert not any(r.exc_info for r in caplog.records)  # no traceback
    info = src.token_info()
    assert info is not None and info.save_error == "Read-only file system"
    assert info.expires_at is not None and info.expires_at > time.time()


def test_an_unsaved_token_is_saved_once_the_directory_is_writable_again(
    fake, make_source, token_path, read_only_state, monkeypatch, caplog
):
    caplog.set_level(logging.INFO)
    fake.player = fake_track()
    fake.expires_in = 0  # every access token is expired at once: each poll refreshes
    expire(token_path)
    src = make_source()
    src.poll(now=0.0)
    src.poll(now=1.0)
    assert len(warnings_about(caplog, "cannot save")) == 1  # said once, not per refresh
    monkeypatch.undo()  # the filesystem is writable again
    src.poll(now=2.0)
    saved = json.loads(token_path.read_text())
    assert saved["access_token"] in fake.access_tokens
    assert saved["authorized_at"] == 1_760_000_000  # kept through the unsaved refreshes
    assert src.token_file.save_error is None
    assert [
        r.getMessage() for r in caplog.records if "saved the Spotify token" in r.getMessage()
    ] == [f"saved the Spotify token to {token_path} again"]


def test_a_refreshed_token_saved_at_once_says_nothing_about_saving(
    fake, make_source, token_path, caplog
):
    fake.player = fake_track()
    fake.expires_in = 0  # each poll refreshes
    expire(token_path)
    src = make_source()
    with caplog.at_level(logging.DEBUG):
        for t in range(3):
            src.poll(now=float(t))
    assert len(fake.calls_to("token")) >= 2
    assert [r for r in caplog.records if "sav" in r.getMessage()] == []


def test_a_pushed_token_wins_over_the_unsaved_one(fake, make_source, token_path, read_only_state):
    fake.player = fake_track()
    expire(token_path)
    src = make_source()
    src.poll(now=0.0)
    fake.revoke()  # the old grant dies; the fleet pushes a new one (not through our writer)
    token_path.write_text(json.dumps(fake.grant()))
    token_path.chmod(0o600)
    assert src.poll(now=1.0) is not None


def test_with_a_read_only_state_dir_the_runner_shows_music(
    fake, spotify_cfg, token_path, read_only_state, caplog
):
    fake.player = fake_track(title="On screen", image_url=None)
    expire(token_path)
    cfg = Config(
        spotify=spotify_cfg,
        paths=PathsConfig(
            token_cache=token_path, state_dir=read_only_state, cache_dir=read_only_state.parent
        ),
    )
    source = SpotifySource(spotify_cfg, token_path)
    runner = Runner(
        cfg, source, Renderer(64, 32), _NoBackend(), now=0.0, token_info=source.token_info
    )
    try:
        for _ in range(4):
            runner.step(runner.plan.next_at)
    finally:
        source.close()
    pb = runner.state.playback
    assert pb is not None and pb.item is not None and pb.item.title == "On screen"
    assert runner.status.last_error is None and not runner.state.offline
    assert len(fake.calls_to("token")) == 1
    assert not any(r.exc_info for r in caplog.records)
    assert runner.status.token_save_error == "Read-only file system"


class _NoBackend:
    def show(self, image: object) -> None:
        pass

    def close(self) -> None:
        pass


# --- a refresh run as root ------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_a_refresh_run_as_root_keeps_the_service_users_owner_and_group(
    fake, make_source, token_path
):
    fake.player = fake_track()
    expire(token_path)
    os.chown(token_path, 65534, 65533)
    token_path.chmod(0o640)
    old = json.loads(token_path.read_text())
    assert make_source().poll(now=0.0) is not None
    st = token_path.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65533, 0o640)
    assert json.loads(token_path.read_text())["access_token"] != old["access_token"]


# --- not a dead token -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"status": 403, "message": "Player command failed: Restriction violated"}},
        {"error": {"status": 403, "message": "User not registered in the Developer Dashboard"}},
    ],
)
def test_a_403_is_not_a_dead_token(fake, make_source, token_path, body):
    before = token_path.read_bytes()
    fake.script("player", Reply(403, body))
    src = make_source()
    with pytest.raises(Offline, match="403") as err:
        src.poll(now=0.0)
    assert not isinstance(err.value, ReauthNeeded)
    assert token_path.read_bytes() == before
    fake.player = fake_track(title="Allowed again")
    pb = src.poll(now=1.0)  # nothing was marked dead: the next poll just works
    assert pb is not None and pb.item is not None and pb.item.title == "Allowed again"


def runner_for(fake, spotify_cfg: SpotifyConfig, token_path: Path, tmp_path: Path, **overrides):
    cfg_spotify = SpotifyConfig(**{**spotify_cfg.__dict__, **overrides})
    cfg = Config(
        spotify=cfg_spotify,
        paths=PathsConfig(
            token_cache=token_path, state_dir=tmp_path / "st", cache_dir=tmp_path / "cache"
        ),
    )
    source = SpotifySource(cfg_spotify, token_path)
    return cfg, source, Runner(cfg, source, Renderer(64, 32), _NoBackend(), now=0.0)


def test_a_403_in_the_runner_writes_no_reauth_marker(fake, spotify_cfg, token_path, tmp_path):
    fake.script("player", Reply(403, {"error": {"status": 403, "message": "Forbidden"}}))
    cfg, source, runner = runner_for(fake, spotify_cfg, token_path, tmp_path)
    try:
        runner.step(0.0)
    finally:
        source.close()
    assert not runner.state.reauth_needed and not cfg.paths.reauth_file.exists()
    assert runner.state.offline
    assert runner.plan.next_at < cfg.polling.token_check_s  # backs off, retries soon


def test_rejected_client_credentials_are_a_message_not_a_network_fault(
    fake, spotify_cfg, token_path, tmp_path
):
    fake.player = fake_track()
    expire(token_path)
    cfg, source, runner = runner_for(fake, spotify_cfg, token_path, tmp_path, client_secret="wrong")
    try:
        runner.step(0.0)
    finally:
        source.close()
    assert not runner.state.offline and not runner.state.reauth_needed
    assert runner.state.message is not None and "invalid_client" in runner.state.message
    doc, healthy = read_status(cfg.paths.status_file, cfg.paths.reauth_file, 1.0)
    assert doc["showing"]["screen"] == "message" and not healthy
    assert runner.plan.next_at == cfg.polling.token_check_s  # no fast backoff hammering
    assert not cfg.paths.reauth_file.exists()  # a new sign-in would not help


def test_rejected_client_credentials_raise_credentials_rejected(fake, make_source, token_path):
    expire(token_path)
    with pytest.raises(CredentialsRejected) as err:
        make_source(client_secret="wrong").poll(now=0.0)
    assert not isinstance(err.value, Offline)


def test_a_token_written_by_auth_is_0600(tmp_path):
    path = tmp_path / "new" / "spotify-token.json"
    write_token_file(path, {"access_token": "a", "refresh_token": "r", "expires_at": 1})
    assert mode_of(path) == 0o600


def test_needledrop_status_says_the_token_cannot_be_saved(tmp_path, capsys, monkeypatch):
    from needledrop.cli import main
    from needledrop.files import write_json_atomic
    from needledrop.state import DisplayState

    monkeypatch.setenv("SPOTIPY_CLIENT_ID", "id")
    config = tmp_path / "needledrop.toml"
    config.write_text(
        f'[paths]\ntoken_cache = "{tmp_path}/token.json"\nstate_dir = "{tmp_path}"\n'
        f'cache_dir = "{tmp_path}/cache"\n'
    )
    st = RunStatus(
        "png", "spotify", (64, 32), time.time(), token_save_error="Read-only file system"
    )
    write_json_atomic(tmp_path / "status.json", st.to_json(DisplayState(), 600.0, time.time()))
    main(["status", "--config", str(config)])
    out = capsys.readouterr().out
    assert f"cannot be saved to {tmp_path}/token.json (Read-only file system)" in out
