"""The one way the app writes a file: a reader sees the old file or the new one, never a part.

Every file the app writes (the token cache, status.json, reauth-needed.json, album art, PNG
frames, the emulator's config) goes through ``write_atomic``:

1. the content is serialised in memory first, so a serialiser that fails leaves nothing on disk;
2. a temporary file is created next to the target, named ``.<name>.<8 random>.tmp``, mode 0600
   from the start (it may hold a refresh token) and locked (``flock``) while its writer lives;
3. it gets the old file's owner and group (a refresh run as root keeps a cache that belongs to
   the service user), then its mode;
4. the bytes are written and ``fsync``'ed;
5. it is renamed over the target (atomic on POSIX), and the directory is fsync'ed so the rename
   survives a power cut.

A failure at any step before the rename removes the temporary and leaves the old file as it was.
A writer killed with SIGKILL cannot clean up: its temporary stays, but its lock dies with it.
``remove_stale_temporaries`` (run when the service starts) removes exactly those files: the
app's own naming pattern, in a directory the app writes, with no live writer holding the lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"
# ".status.json.k2j4_x9a.tmp": tempfile.mkstemp's 8 random characters between the target's
# name and the suffix.
TEMP_NAME = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp")
# The art cache's own writer before there was one writer ("tmp-" + 8 random characters).
LEGACY_ART_TEMP = re.compile(r"\.tmp-[a-z0-9_]{8}")


def temp_target(name: str) -> str | None:
    """The file a temporary of ours was going to replace (None: not one of ours)."""
    m = TEMP_NAME.fullmatch(name)
    return m.group("target") if m else None


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` (see the module's docstring). Raises OSError; then the old
    file is intact and no temporary is left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if we die: marks a live writer
        if old is not None:
            _keep_owner(fd, old.st_uid, old.st_gid)
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    os.close(fd)
    _sync_directory(path.parent)


def write_json_atomic(
    path: Path, data: Mapping[str, Any], mode: int = 0o644, *, compact: bool = False
) -> None:
    """``data`` as JSON through ``write_atomic``. ``compact`` writes one line, as spotipy does;
    otherwise indented with sorted keys, for people reading status files."""
    if compact:
        text = json.dumps(dict(data))
    else:
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_atomic(path, text.encode("utf-8"), mode)


def _keep_owner(fd: int, uid: int, gid: int) -> None:
    """Give the temporary the old file's owner and group, as far as we may (root: both; a
    member of the old group: the group; anyone else: nothing, as a plain rewrite would)."""
    st = os.fstat(fd)
    if (st.st_uid, st.st_gid) == (uid, gid):
        return
    try:
        os.fchown(fd, uid, gid)
    except PermissionError:
        try:
            os.fchown(fd, -1, gid)
        except PermissionError:
            pass


def _sync_directory(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError as e:  # some filesystems cannot sync a directory; the rename is done
        if e.errno not in (errno.EINVAL, errno.EROFS, errno.EBADF):
            log.debug("cannot sync directory %s: %s", directory, e)
    finally:
        os.close(dfd)


def remove_stale_temporaries(
    directory: Path, targets: Callable[[str], bool] | None = None
) -> list[Path]:
    """Remove temporaries our writers left in ``directory`` when they were killed.

    Only files named like ours (``.<target>.<8 random>.tmp``; with ``targets`` None, meaning
    the directory is the app's alone, also the art cache's old ``.tmp-<8 random>``), only when
    ``targets`` is None or accepts their target's name, only regular files (never through a
    symlink), and only when no live writer holds their lock. Returns what was removed; a
    directory that does not exist has nothing to remove.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    except OSError as e:  # unreadable: nothing of ours can be removed; the service goes on
        log.warning("cannot look for interrupted writes in %s: %s", directory, e.strerror or e)
        return removed
    for entry in entries:
        target = temp_target(entry.name)
        ours = target is not None and (targets is None or targets(target))
        if not ours and not (targets is None and LEGACY_ART_TEMP.fullmatch(entry.name)):
            continue
        if not entry.is_file(follow_symlinks=False):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            log.debug("cannot check %s: %s", entry.path, e)
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a writer is at work on it right now
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError as e:
            log.debug("cannot remove %s: %s", entry.path, e)
        finally:
            os.close(fd)
    return removed
