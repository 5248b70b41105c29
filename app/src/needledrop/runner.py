"""The run loop: source → state → scheduler → renderer → backend.

``Runner.step(now)`` does one turn synchronously (tests drive it with a fake clock);
``Runner.run()`` is the service: polls run on one worker thread so a slow answer, a timeout or
a long Retry-After never freezes the frames, and the main thread draws at ``display.fps``
whatever changed.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from needledrop.config import Config
from needledrop.files import remove_stale_temporaries, write_json_atomic
from needledrop.schedule import Failure, PollPlan, after_failure, after_success, item_key
from needledrop.share import ShareHub
from needledrop.spotify import (
    CallLog,
    CredentialsRejected,
    Offline,
    RateLimited,
    ReauthNeeded,
    SourceError,
    TokenInfo,
    TokenUnavailable,
)
from needledrop.state import DisplayState, Playback
from needledrop.status import (
    HEARTBEAT_S,
    ReauthRecord,
    RunStatus,
    clear_reauth,
    expiry_warning,
    file_fault,
    iso,
    parse_iso,
    write_reauth,
)

log = logging.getLogger(__name__)

RESUME_RATE_LIMIT_MAX_S = 24 * 3600  # a wait taken over from before a restart: at most this


def stale_temporary_places(cfg: Config) -> dict[Path, Callable[[str], bool] | None]:
    """Each directory the app writes, with which targets' temporaries may be removed there
    (None: the directory is the app's alone, any temporary of ours goes)."""
    names: dict[Path, set[str]] = {}
    frames = re.compile(r"frame(-\d{6})?\.png")
    names.setdefault(cfg.paths.token_cache.parent, set()).add(cfg.paths.token_cache.name)
    for path in (cfg.paths.status_file, cfg.paths.reauth_file):
        names.setdefault(path.parent, set()).add(path.name)
    names.setdefault(cfg.paths.state_dir / "emulator", set()).add("emulator_config.json")
    places: dict[Path, Callable[[str], bool] | None] = {d: n.__contains__ for d, n in names.items()}
    png_dir = cfg.display.png_dir
    if png_dir in names:
        known = names[png_dir]
        places[png_dir] = lambda t: t in known or frames.fullmatch(t) is not None
    else:
        places[png_dir] = lambda t: frames.fullmatch(t) is not None
    places[cfg.paths.art_cache_dir] = None
    return places


def remove_stale_temporaries_at_start(cfg: Config) -> list[Path]:
    """Remove what writers killed mid-write (power cut, SIGKILL) left: temporary copies of the
    token cache, status files, frames and art. Never another program's files. Returns them."""
    removed: list[Path] = []
    for directory, targets in stale_temporary_places(cfg).items():
        removed += remove_stale_temporaries(directory, targets)
    if removed:
        log.info(
            "removed %d temporary file(s) left by an interrupted write: %s",
            len(removed),
            ", ".join(str(p) for p in removed),
        )
    return removed


class Source(Protocol):
    def poll(self, now: float) -> Playback | None: ...


class FrameRenderer(Protocol):
    def changed(self, state: DisplayState, now: float) -> bool: ...

    def frame(self, state: DisplayState, now: float) -> Image.Image: ...


class Backend(Protocol):
    def show(self, image: Image.Image) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class PollResult:
    """What one poll produced: an observation or an error, and when it was asked."""

    asked_at: float
    playback: Playback | None = None
    error: SourceError | None = None


def fetch(source: Source, now: float) -> PollResult:
    """Poll once; never raises (a bug in a source must not stop the display)."""
    try:
        return PollResult(now, playback=source.poll(now))
    except SourceError as e:
        return PollResult(now, error=e)
    except Exception as e:  # the service stays up and says what happened
        log.exception("unexpected error while polling")
        return PollResult(
            now, error=Offline(f"Unexpected error while polling ({type(e).__name__}).")
        )


def failure_kind(error: SourceError) -> Failure:
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, ReauthNeeded):
        return "reauth"
    if isinstance(error, TokenUnavailable | CredentialsRejected):
        return "token"
    return "offline"


class Runner:
    """One display: owns the display state, the poll plan and the status."""

    def __init__(
        self,
        cfg: Config,
        source: Source,
        renderer: FrameRenderer,
        backend: Backend,
        *,
        now: float,
        token_info: Callable[[], TokenInfo | None] | None = None,
        rng: random.Random | None = None,
        calls: CallLog | None = None,
        hub: ShareHub | None = None,
        pace: Callable[[float, float, bool], float] | None = None,
        sharing: Callable[[float], dict[str, Any]] | None = None,
    ) -> None:
        """``calls``: the source's Spotify calls (status counts the last hour's). Sharing
        (share.py): a primary gives the ``hub`` its followers read; a follower's source gives
        ``pace`` (when to poll next, from the planned time, the poll's start and success) and
        ``sharing`` (what status says about it)."""
        self.cfg = cfg
        self.source = source
        self.renderer = renderer
        self.backend = backend
        self.token_info = token_info
        self.calls, self.hub, self.pace, self.sharing = calls, hub, pace, sharing
        self.rng = rng if rng is not None else random.Random()
        self.state = DisplayState()
        self.plan = PollPlan(next_at=now)
        self.status = RunStatus(
            backend=cfg.display.backend,
            source=cfg.source,
            size=cfg.size,
            started_at=now,
            warning_days=cfg.layout.token_warning_days,
        )
        self.frames = 0
        self._status_key: Any = None
        self._status_written_at = -float("inf")
        self._file_faults: dict[tuple[str, Path], str] = {}  # what was logged, to log it once
        self._marker_to_clear = True  # a marker may be left from an earlier run
        self._marker_to_write = False
        self._marker_record: ReauthRecord | None = None
        self._refresh_token_info()
        if cfg.source == "spotify":
            self._resume_rate_limit(now)

    def _resume_rate_limit(self, now: float) -> None:
        """A restart during a rate limit (a crash, a deploy) must not ask Spotify sooner than
        it said: take the wait over from the last status.json. Ignored when more than
        ``RESUME_RATE_LIMIT_MAX_S`` away (a clock not yet set after boot)."""
        try:
            doc = json.loads(self.cfg.paths.status_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(doc, dict) or not doc.get("rate_limited"):
            return
        written = parse_iso(doc.get("rate_limited_until"))
        if written is None:
            return
        until = written + 1  # the file holds whole seconds, cut off: never ask sooner
        if not now < until <= now + RESUME_RATE_LIMIT_MAX_S:
            return
        quota = doc.get("rate_limit_reason") == "quota"
        self.state = self.state.with_(rate_limited_until=until, rate_limit_quota=quota)
        self.plan = PollPlan(next_at=until)
        self.status.next_poll_at = until
        log.info(
            "Spotify rate-limited this display before the restart; not asking before %s",
            iso(until),
        )

    # --- the pieces -------------------------------------------------------------------------

    def apply(self, result: PollResult, now: float) -> None:
        """Fold a poll's result into the display state, the plan and the status."""
        st, cfg = self.status, self.cfg
        st.polls += 1
        err = result.error
        if err is None:
            pb = result.playback
            if self.state.rate_limited_until is not None:
                log.info("Spotify answers again after its rate limit")
            elif self.state.offline or self.state.reauth_needed or self.state.message:
                log.info("polling works again")
            if self.state.reauth_needed or st.last_error is not None:
                self._marker_to_clear = True
            self._marker_to_write = False
            if self._marker_to_clear:
                self._clear_marker()
            played = result.asked_at if pb is not None and pb.is_playing else None
            self.state = DisplayState(
                playback=pb,
                last_played_at=played if played is not None else self.state.last_played_at,
            )
            self.plan = after_success(cfg.polling, self.plan, pb, result.asked_at)
            if self.plan.change in ("start", "natural", "skip"):
                item = pb.item if pb is not None else None
                log.info(
                    "%s: %s — %s",
                    self.plan.change,
                    item.title if item else "?",
                    item.artist if item else "?",
                )
            st.last_poll_ok_at = result.asked_at
            st.last_error = None
            self._refresh_token_info()
        else:
            kind = failure_kind(err)
            if str(err) != st.last_error:
                log.warning("%s", err)
            st.api_errors += 1
            st.last_error, st.last_error_at = str(err), result.asked_at
            retry_after = err.retry_after if isinstance(err, RateLimited) else None
            self.plan = after_failure(
                cfg.polling, self.plan, kind, result.asked_at, self.rng, retry_after
            )
            cleared = {"rate_limited_until": None, "rate_limit_quota": False}
            if kind == "reauth":
                if not self.state.reauth_needed:
                    self._marker_to_write = True
                    self._marker_record = ReauthRecord(
                        since=datetime.fromtimestamp(result.asked_at, UTC).isoformat(),
                        reason=str(err),
                        token_cache=str(cfg.paths.token_cache),
                        client_id=cfg.spotify.client_id,
                    )
                if self._marker_to_write:
                    self._write_marker()
                self.state = self.state.with_(
                    reauth_needed=True, message=None, offline=False, **cleared
                )
            elif kind == "token":
                self.state = self.state.with_(message=str(err), offline=False, **cleared)
            elif kind == "rate_limited":
                # Not offline: Spotify answered, and said when to come back.
                self.state = self.state.with_(
                    offline=False,
                    rate_limited_until=self.plan.next_at,
                    rate_limit_quota=isinstance(err, RateLimited) and err.quota,
                )
            else:
                self.state = self.state.with_(offline=True, **cleared)
        if self.hub is not None:
            self.hub.publish(result.playback, err, result.asked_at, self.plan.next_at)
        if self.pace is not None:
            next_at = self.pace(self.plan.next_at, result.asked_at, err is None)
            self.plan = replace(self.plan, next_at=next_at)
        st.next_poll_at = self.plan.next_at
        self.write_status(now)

    def _file_trouble(self, action: str, path: Path, e: OSError | None) -> None:
        """Log a file the loop cannot read or write once (with the path and the reason) and
        once more when it works again; the loop goes on either way."""
        key = (action, path)
        if e is None:
            if self._file_faults.pop(key, None) is not None:
                log.info("%s works again: %s", action, path)
            return
        why = file_fault(path, e)
        if self._file_faults.get(key) != why:
            self._file_faults[key] = why
            log.warning("cannot %s %s; will retry", action, why)

    def _clear_marker(self) -> None:
        path = self.cfg.paths.reauth_file
        try:
            removed = clear_reauth(path)
        except OSError as e:
            self._file_trouble("remove the re-auth marker", path, e)
            return
        self._file_trouble("remove the re-auth marker", path, None)
        self._marker_to_clear = False
        if removed:
            log.info("new token works; removed %s", path)

    def _write_marker(self) -> None:
        path = self.cfg.paths.reauth_file
        if self._marker_record is None:
            return
        try:
            write_reauth(path, self._marker_record)
        except OSError as e:
            self._file_trouble("write the re-auth marker", path, e)
            return
        self._file_trouble("write the re-auth marker", path, None)
        self._marker_to_write = False

    def draw(self, now: float) -> bool:
        """Show a new frame if anything visible changed; True if one was shown."""
        expiring = expiry_warning(self.status.authorized_at, now, self.status.warning_days)
        if expiring != self.state.token_expiring:
            self.state = self.state.with_(token_expiring=expiring)
        if not self.renderer.changed(self.state, now):
            return False
        self.backend.show(self.renderer.frame(self.state, now))
        self.frames += 1
        self.status.frames_shown, self.status.last_frame_at = self.frames, now
        return True

    def step(self, now: float) -> None:
        """One turn, synchronously: poll if due, then draw."""
        if now >= self.plan.next_at:
            self.apply(fetch(self.source, now), now)
        self.draw(now)
        self.write_status(now)

    def write_status(self, now: float, force: bool = False) -> None:
        """Write status.json when what it reports changed, or on the heartbeat."""
        st = self.status
        pb = self.state.playback
        if self.calls is not None:
            st.spotify_calls_last_hour = self.calls.count(now)
        if self.sharing is not None:
            st.sharing = self.sharing(now)
        key = (
            st.sharing.get("mode"),
            item_key(pb),
            pb is not None and pb.is_playing,
            self.state.offline,
            self.state.reauth_needed,
            self.state.message,
            self.state.rate_limited_until,
            self.state.rate_limit_clock(now),
            st.last_error,
            st.token_expires_at,
            st.authorized_at,
            self.frames > 0,  # the first frame is reported at once (deploy health checks)
        )
        if not force and key == self._status_key and now - self._status_written_at < HEARTBEAT_S:
            return
        try:
            write_json_atomic(
                self.cfg.paths.status_file,
                st.to_json(self.state, self.cfg.layout.idle_after_s, now),
            )
        except OSError as e:
            # Once per change of what the status says; the first frame alone is no news here.
            if self._status_key is None or key[:-1] != self._status_key[:-1]:
                log.warning("cannot write %s: %s", self.cfg.paths.status_file, e)
        self._status_key, self._status_written_at = key, now

    def _refresh_token_info(self) -> None:
        if self.token_info is None:
            return
        info = self.token_info()
        if info is not None:
            self.status.token_expires_at = info.expires_at
            self.status.authorized_at = info.authorized_at
            self.status.token_save_error = info.save_error

    # --- the service ------------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        clock: Callable[[], float] = time.time,
        until: float | None = None,
    ) -> None:
        """Poll and draw until ``stop`` is set (or ``clock()`` passes ``until``)."""
        frame_s = 1.0 / self.cfg.display.fps
        pending: Future[PollResult] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="poll") as pool:
            while not stop.is_set():
                now = clock()
                if until is not None and now >= until:
                    break
                if pending is None and now >= self.plan.next_at:
                    pending = pool.submit(fetch, self.source, now)
                if pending is not None and pending.done():
                    self.apply(pending.result(), clock())
                    pending = None
                now = clock()
                self.draw(now)
                self.write_status(now)
                stop.wait(max(0.0, frame_s - (clock() - now)))
            self.status.stopped_at = clock()
            self.write_status(self.status.stopped_at, force=True)
