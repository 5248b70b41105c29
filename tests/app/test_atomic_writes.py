"""The one atomic writer, proven: a failure at each step (serialise, write, fsync, rename) leaves
the old file intact and no temporary behind; the new file appears only whole; a writer killed
with SIGKILL at any moment leaves a whole file, and the next start removes its temporary."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import multiprocessing
import os
import random
import signal
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from needledrop import files
from needledrop.backends.png import write_png_atomic
from needledrop.files import remove_stale_temporaries, write_atomic, write_json_atomic
from needledrop.render.art import ArtCache
from needledrop.spotify import write_token_file
from needledrop.status import write_reauth
from PIL import Image

OLD_TOKEN = {"access_token": "old-at", "refresh_token": "old-rt", "expires_at": 1}
NEW_TOKEN = {"access_token": "new-at", "refresh_token": "new-rt", "expires_at": 2}


def leftovers(directory: Path, keep: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != keep)


class Boom(OSError):
    pass


def failing(step: str) -> Callable[..., object]:
    def fail(*args: object, **kwargs: object) -> object:
        raise Boom(errno.EIO, f"injected failure at {step}")

    return fail


# --- a failure at each step -------------------------------------------------------------------

STEPS = ("write", "fsync", "rename")


def inject(monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    target = {"write": "write", "fsync": "fsync", "rename": "replace"}[step]
    monkeypatch.setattr(files.os, target, failing(step))


@pytest.mark.parametrize("step", STEPS)
def test_a_failed_step_leaves_the_old_token_and_no_temporary(tmp_path, monkeypatch, step):
    path = tmp_path / "spotify-token.json"
    write_token_file(path, OLD_TOKEN)
    before = path.read_bytes()
    inject(monkeypatch, step)
    with pytest.raises(Boom):
        write_token_file(path, NEW_TOKEN)
    assert path.read_bytes() == before
    assert leftovers(tmp_path, path.name) == []


def test_a_failing_serialiser_touches_nothing(tmp_path):
    path = tmp_path / "status.json"
    write_json_atomic(path, {"polls": 1})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_json_atomic(path, {"polls": object()})  # not JSON
    assert path.read_bytes() == before
    assert leftovers(tmp_path, path.name) == []


class Unencodable:
    """An image whose encoder fails halfway, as a full disk or a Pillow bug would."""

    size = (4, 4)

    def save(self, fp: object, fmt: str) -> None:
        fp.write(b"\x89PNG half")  # type: ignore[attr-defined]
        raise OSError("encoder failed")


def test_a_png_encoder_failing_halfway_touches_nothing(tmp_path):
    path = tmp_path / "frame.png"
    write_png_atomic(Image.new("RGB", (4, 4), (1, 2, 3)), path)
    before = path.read_bytes()
    with pytest.raises(OSError, match="encoder"):
        write_png_atomic(Unencodable(), path)  # type: ignore[arg-type]
    assert path.read_bytes() == before
    assert leftovers(tmp_path, path.name) == []


def write_each(kind: str, path: Path, version: int) -> None:
    """Write ``path`` through one of the app's writers; ``version`` changes the content."""
    if kind == "token":
        write_token_file(path, {**OLD_TOKEN, "expires_at": version})
    elif kind == "status":
        write_json_atomic(path, {"polls": version})
    elif kind == "reauth":
        from needledrop.status import ReauthRecord

        write_reauth(path, ReauthRecord(str(version), "invalid_grant", "/t", None))
    elif kind == "png":
        write_png_atomic(Image.new("RGB", (4, 4), (version, 0, 0)), path)
    elif kind == "emulator":
        from needledrop.backends.emulator import EmulatorSettings, write_emulator_config

        written = write_emulator_config(path.parent, EmulatorSettings(port=8000 + version))
        assert written == path
    else:
        raise AssertionError(kind)


WRITERS = {
    "token": "spotify-token.json",
    "status": "status.json",
    "reauth": "reauth-needed.json",
    "png": "frame.png",
    "emulator": "emulator_config.json",
}


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("kind", WRITERS)
def test_every_writer_of_the_app_goes_through_the_atomic_writer(tmp_path, monkeypatch, kind, step):
    path = tmp_path / WRITERS[kind]
    write_each(kind, path, 1)
    before = path.read_bytes()
    inject(monkeypatch, step)
    with pytest.raises(Boom):
        write_each(kind, path, 2)
    assert path.read_bytes() == before
    assert leftovers(tmp_path, path.name) == []


@pytest.mark.parametrize("step", STEPS)
def test_the_art_cache_writes_through_the_atomic_writer(tmp_path, monkeypatch, step):
    src = tmp_path / "cover.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(src)
    cache_dir = tmp_path / "art"
    inject(monkeypatch, step)
    art = ArtCache(cache_dir, background=False)
    assert art.get(src.as_uri(), 4, now=0.0) is not None  # shown from memory all the same
    assert list(cache_dir.iterdir()) == []  # nothing half-written, no temporaries


def test_fsync_happens_on_the_new_content_before_the_rename(tmp_path, monkeypatch):
    """The order a power cut needs: data on disk, then the name switched."""
    path = tmp_path / "spotify-token.json"
    write_token_file(path, OLD_TOKEN)
    events: list[tuple[str, object]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        st_ = os.fstat(fd)
        if stat.S_ISREG(st_.st_mode):
            os.lseek(fd, 0, os.SEEK_SET)
            events.append(("fsync", (st_.st_ino, os.read(fd, 1 << 16))))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(("rename", (os.stat(src).st_ino, Path(dst))))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    write_token_file(path, NEW_TOKEN)
    kinds = [k for k, _ in events]
    assert kinds == ["fsync", "rename"]
    (ino_synced, synced), (ino_renamed, dst) = (v for _, v in events)
    assert ino_synced == ino_renamed == path.stat().st_ino  # the file that became the cache
    assert json.loads(synced) == NEW_TOKEN  # ... held the whole new token when synced
    assert dst == path


def test_the_token_file_is_never_written_in_place(tmp_path):
    """A reader holding the old file (here: a hard link to it) keeps a whole old token."""
    path = tmp_path / "spotify-token.json"
    write_token_file(path, OLD_TOKEN)
    held = tmp_path / "held-by-a-reader"
    os.link(path, held)
    write_token_file(path, NEW_TOKEN)
    assert json.loads(held.read_text()) == OLD_TOKEN
    assert json.loads(path.read_text()) == NEW_TOKEN


@settings(max_examples=60, deadline=None)
@given(
    old=st.binary(max_size=4096),
    new=st.binary(min_size=1, max_size=70_000),
    step=st.sampled_from((None, *STEPS)),
)
def test_the_file_is_the_old_or_the_new_content_never_anything_else(old, new, step):
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        path = Path(d) / "f.bin"
        path.write_bytes(old)
        if step is not None:
            inject(mp, step)
            with pytest.raises(Boom):
                write_atomic(path, new)
        else:
            write_atomic(path, new)
        assert path.read_bytes() == (old if step else new)
        assert os.listdir(d) == ["f.bin"]


def test_a_short_write_is_continued_not_truncated(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(files.os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))
    path = tmp_path / "status.json"
    write_json_atomic(path, {"showing": "x" * 500})
    assert json.loads(path.read_text()) == {"showing": "x" * 500}


# --- modes and owners -------------------------------------------------------------------------


def test_a_token_file_is_created_0600_and_a_0640_file_stays_0640(tmp_path):
    path = tmp_path / "t.json"
    write_token_file(path, OLD_TOKEN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o640)
    write_token_file(path, NEW_TOKEN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    path.chmod(0o644)
    write_token_file(path, OLD_TOKEN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
@pytest.mark.parametrize("kind", ["token", "status"])
def test_a_rewrite_as_root_keeps_the_owner_and_group(tmp_path, kind):
    path = tmp_path / WRITERS[kind]
    write_each(kind, path, 1)
    os.chown(path, 65534, 65533)
    write_each(kind, path, 2)
    st_ = path.stat()
    assert (st_.st_uid, st_.st_gid) == (65534, 65533)


# --- stale temporaries ------------------------------------------------------------------------


def plant(directory: Path, name: str, content: bytes = b'{"refresh_token": "rt-secret"}') -> Path:
    path = directory / name
    path.write_bytes(content)
    return path


def test_only_the_apps_own_unlocked_temporaries_are_removed(tmp_path):
    ours = plant(tmp_path, ".spotify-token.json.k2j4_x9a.tmp")
    other_target = plant(tmp_path, ".notes.txt.abcdefgh.tmp")
    not_ours = [
        plant(tmp_path, "spotify-token.json.bak"),
        plant(tmp_path, ".spotify-token.json.short.tmp"),  # not 8 random characters
        plant(tmp_path, ".spotify-token.json.ABCDEFGH.tmp"),  # mkstemp never uses capitals
        plant(tmp_path, "editor.tmp"),
        plant(tmp_path, ".tmp-abcdefgh"),  # the old art naming: only in the art cache
    ]
    link = tmp_path / ".spotify-token.json.zzzzzzzz.tmp"
    link.symlink_to(tmp_path / "spotify-token.json.bak")
    live = plant(tmp_path, ".spotify-token.json.livewrit.tmp")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a writer at work right now
    try:
        removed = remove_stale_temporaries(tmp_path, {"spotify-token.json"}.__contains__)
    finally:
        os.close(fd)
    assert removed == [ours]
    assert not ours.exists()
    assert all(p.exists() for p in [other_target, *not_ours, live])
    assert link.is_symlink()


def test_in_a_directory_of_our_own_any_of_our_temporaries_goes(tmp_path):
    a = plant(tmp_path, ".0123abcd.orig.abcdefgh.tmp")
    legacy = plant(tmp_path, ".tmp-a1b2c3d4")
    keep = plant(tmp_path, "0123abcd-64.png")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted([a, legacy])
    assert keep.exists()


def test_a_missing_directory_has_nothing_to_remove(tmp_path):
    assert remove_stale_temporaries(tmp_path / "none") == []


@pytest.mark.parametrize("call", ["open", "unlink"])
def test_a_temporary_that_cannot_be_checked_or_removed_is_left_and_the_others_still_go(
    tmp_path, monkeypatch, call
):
    stale = {plant(tmp_path, f".status.json.{c * 8}.tmp") for c in "abc"}
    real = getattr(os, call)
    refused: list[str] = []

    def refusing_the_first(path: str, *args: object) -> object:
        if not refused:
            refused.append(path)
            raise PermissionError(errno.EACCES, "injected", path)
        return real(path, *args)

    monkeypatch.setattr(files.os, call, refusing_the_first)
    removed = remove_stale_temporaries(tmp_path)
    assert [p for p in stale if p.exists()] == [Path(refused[0])]
    assert sorted(removed) == sorted(stale - {Path(refused[0])})


# --- kill -9 ----------------------------------------------------------------------------------

PAD = "x" * 200_000  # a big token: a kill at a random moment often lands inside a write


def write_forever(path: Path, hold: str, ready: EventType) -> None:
    """The writer process: the token cache rewritten in a loop, or stopped inside the first
    write at ``hold`` (write, fsync, rename), as the service's refresh would be."""
    if hold:
        name = {"write": "write", "fsync": "fsync", "rename": "replace"}[hold]

        def stopped(*args: object) -> None:
            ready.set()
            time.sleep(3600)

        setattr(files.os, name, stopped)  # this process only: it is a fork
    else:
        ready.set()
    n = 0
    while True:
        n += 1
        token = {"access_token": f"at-{n}", "refresh_token": f"rt-{n}", "expires_at": n}
        write_token_file(path, token | {"pad": PAD})


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Callable[[str], multiprocessing.Process]]:
    """Start a writer (forked: the app is already imported, so a start costs milliseconds) and
    return once it is writing or stopped at its step."""
    ctx = multiprocessing.get_context("fork")
    procs: list[multiprocessing.Process] = []

    def start(hold: str) -> multiprocessing.Process:
        ready = ctx.Event()
        proc = ctx.Process(
            target=write_forever, args=(tmp_path / "spotify-token.json", hold, ready)
        )
        proc.start()
        procs.append(proc)
        assert ready.wait(30), "the writer did not start"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.join()


def kill_9(proc: multiprocessing.Process) -> None:
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL


def whole_token(path: Path) -> dict[str, object]:
    token = json.loads(path.read_text())
    assert token["access_token"] == f"at-{token['expires_at']}"
    assert token["refresh_token"] == f"rt-{token['expires_at']}"
    return token


def token_temporaries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if files.temp_target(p.name) == "spotify-token.json"]


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_at_each_step_leaves_the_old_token_whole_then_start_removes_the_temporary(
    tmp_path, writer, step
):
    path = tmp_path / "spotify-token.json"
    write_token_file(path, {**OLD_TOKEN, "expires_at": 0})
    before = path.read_bytes()
    proc = writer(step)  # stopped inside the write, at ``step``
    [temp] = token_temporaries(tmp_path)
    assert remove_stale_temporaries(tmp_path) == []  # its writer lives: not touched
    kill_9(proc)
    assert path.read_bytes() == before
    assert remove_stale_temporaries(tmp_path) == [temp]
    assert token_temporaries(tmp_path) == []


def test_kill_9_at_random_moments_never_leaves_a_broken_token(tmp_path, writer):
    rng = random.Random(20_261_129)
    path = tmp_path / "spotify-token.json"
    for _ in range(25):
        proc = writer("")
        proc.join(timeout=rng.uniform(0.0, 0.05))  # let it write for a random while
        kill_9(proc)
        if path.exists():
            whole_token(path)
        remove_stale_temporaries(tmp_path)
        assert token_temporaries(tmp_path) == []
    whole_token(path)


def test_needledrop_run_removes_stale_temporaries_of_its_writers_and_nothing_else(tmp_path):
    from needledrop.cli import main

    state, art, frames = tmp_path / "state", tmp_path / "cache" / "art", tmp_path / "frames"
    for d in (state, art, frames):
        d.mkdir(parents=True)
    config = tmp_path / "needledrop.toml"
    config.write_text(
        f'source = "demo"\n[paths]\ntoken_cache = "{tmp_path}/spotify-token.json"\n'
        f'state_dir = "{state}"\ncache_dir = "{tmp_path}/cache"\n'
        f'[matrix]\nrows = 32\ncols = 64\n[display]\nbackend = "png"\npng_dir = "{frames}"\n'
    )
    stale = [
        plant(tmp_path, ".spotify-token.json.a1b2c3d4.tmp"),
        plant(state, ".status.json.a1b2c3d4.tmp"),
        plant(state, ".reauth-needed.json.zz99zz99.tmp"),
        plant(art, ".0123abcd.orig.a1b2c3d4.tmp"),
        plant(art, ".tmp-a1b2c3d4"),
        plant(frames, ".frame.png.a1b2c3d4.tmp"),
        plant(frames, ".frame-000007.png.a1b2c3d4.tmp"),
    ]
    others = [
        plant(tmp_path, ".needledrop.toml.a1b2c3d4.tmp"),  # not a file the app writes here
        plant(tmp_path, ".tmp-a1b2c3d4"),  # the old art naming outside the art cache
        plant(state, "notes.tmp"),
        plant(frames, ".snapshot.png.a1b2c3d4.tmp"),
    ]
    assert main(["run", "--config", str(config), "--duration", "0.2"]) == 0
    assert [p for p in stale if p.exists()] == []
    assert [p for p in others if not p.exists()] == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the writer as another user")
@pytest.mark.parametrize(("groups", "gid"), [([65533], 65533), ([], 65534)])
def test_a_rewrite_by_another_user_keeps_the_group_if_it_may(groups, gid):
    """Not root, not the owner: the writer cannot give the file back to its owner, but keeps
    its group when it is a member (the group's readers still read the new file); otherwise the
    file is its own, as a plain rewrite would make it, and the write still succeeds."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        directory = Path(tmp)
        os.chown(directory, 65534, 65534)
        path = directory / "status.json"
        path.write_bytes(b"old")
        os.chown(path, 0, 65533)
        path.chmod(0o664)
        pid = os.fork()
        if pid == 0:  # the child: the service user, also in the file's group
            code = 1
            try:
                os.setgroups(groups)
                os.setgid(65534)
                os.setuid(65534)
                write_atomic(path, b"new", 0o640)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        st_ = path.stat()
        assert path.read_bytes() == b"new"
        assert (st_.st_uid, st_.st_gid, stat.S_IMODE(st_.st_mode)) == (65534, gid, 0o640)


@pytest.mark.parametrize(
    ("call", "error"),
    [("open", errno.EACCES), ("fsync", errno.EINVAL), ("fsync", errno.EROFS), ("fsync", errno.EIO)],
)
def test_a_directory_that_cannot_be_synced_does_not_fail_the_write(
    tmp_path, monkeypatch, caplog, call, error
):
    """Some filesystems cannot open or fsync a directory: the rename is done, the write stands."""
    real = getattr(os, call)

    def refuse_directories(target: object, *args: object) -> object:
        if isinstance(target, int):
            is_dir = stat.S_ISDIR(os.fstat(target).st_mode)
        else:
            is_dir = os.path.isdir(target)  # type: ignore[arg-type]
        if is_dir:
            raise OSError(error, os.strerror(error))
        return real(target, *args)

    monkeypatch.setattr(files.os, call, refuse_directories)
    path = tmp_path / "t.json"
    with caplog.at_level(logging.DEBUG, logger="needledrop.files"):
        write_token_file(path, NEW_TOKEN)
    assert json.loads(path.read_text()) == NEW_TOKEN
    assert leftovers(tmp_path, keep="t.json") == []
    # an error no filesystem is known for is logged (for debugging); the known ones are not
    unexpected = call == "fsync" and error == errno.EIO
    assert ("cannot sync directory" in caplog.text) == unexpected


def test_a_temporary_a_live_writer_holds_is_left_and_the_others_still_go(tmp_path):
    stale = [plant(tmp_path, f".status.json.{c * 8}.tmp") for c in "abcdef"]
    for live in stale:  # whichever of them the directory lists first, middle or last
        fd = os.open(live, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            removed = remove_stale_temporaries(tmp_path)
        finally:
            os.close(fd)
        assert sorted(removed) == sorted(p for p in stale if p != live)
        for p in removed:
            p.write_bytes(b"again")


@pytest.mark.parametrize("kind", ["symlink", "directory"])
def test_an_entry_named_like_a_temporary_that_is_no_file_does_not_stop_the_clean_up(tmp_path, kind):
    """Whatever order the directory lists them in: set up the case where the odd entry comes
    before a stale temporary (names are tried until the listing shows that order)."""
    for n in range(100):
        d = tmp_path / str(n)
        d.mkdir()
        stale = plant(d, f".status.json.{n:08d}.tmp")
        odd = d / f".status.json.odd{n:05d}.tmp"
        if kind == "symlink":
            odd.symlink_to(stale)
        else:
            odd.mkdir()
        if [e.name for e in os.scandir(d)] == [odd.name, stale.name]:
            break
    else:
        pytest.fail("no listing put the odd entry first")
    assert remove_stale_temporaries(d) == [stale]
    assert odd.is_symlink() if kind == "symlink" else odd.is_dir()


def test_a_file_written_without_a_mode_is_readable_by_all(tmp_path):
    write_atomic(tmp_path / "status.json", b"{}")
    assert stat.S_IMODE((tmp_path / "status.json").stat().st_mode) == 0o644
