"""The run loop: source → state → scheduler → renderer → backend.

``Runner.step(now)`` does one turn synchronously (tests drive it with a fake clock);
``Runner.run()`` is the service: polls run on one worker thread so a slow answer, a timeout or
a long Retry-After never freezes the frames, and the main thread draws at ``display.fps``
whatever changed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from PIL import Image

from needledrop.config import Config
from needledrop.schedule import Failure, PollPlan, after_failure, after_success, item_key
from needledrop.spotify import (
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
    write_json_atomic,
    write_reauth,
)

log = logging.getLogger(__name__)


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
    ) -> None:
        self.cfg = cfg
        self.source = source
        self.renderer = renderer
        self.backend = backend
        self.token_info = token_info
        self.rng = rng if rng is not None else random.Random()
        self.state = DisplayState()
        self.plan = PollPlan(next_at=now)
        self.status = RunStatus(
            backend=cfg.display.backend, source=cfg.source, size=cfg.size, started_at=now
        )
        self.frames = 0
        self._status_key: Any = None
        self._status_written_at = -float("inf")
        self._refresh_token_info()

    # --- the pieces -------------------------------------------------------------------------

    def apply(self, result: PollResult, now: float) -> None:
        """Fold a poll's result into the display state, the plan and the status."""
        st, cfg = self.status, self.cfg
        st.polls += 1
        err = result.error
        if err is None:
            pb = result.playback
            if self.state.offline or self.state.reauth_needed or self.state.message:
                log.info("polling works again")
            first_ok = st.last_poll_ok_at is None  # a marker may be left from an earlier run
            recovering = self.state.reauth_needed or st.last_error is not None
            if (first_ok or recovering) and clear_reauth(cfg.paths.reauth_file):
                log.info("new token works; removed %s", cfg.paths.reauth_file)
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
            if kind == "reauth":
                if not self.state.reauth_needed:
                    write_reauth(
                        cfg.paths.reauth_file,
                        ReauthRecord(
                            since=datetime.fromtimestamp(result.asked_at, UTC).isoformat(),
                            reason=str(err),
                            token_cache=str(cfg.paths.token_cache),
                            client_id=cfg.spotify.client_id,
                        ),
                    )
                self.state = self.state.with_(reauth_needed=True, message=None, offline=False)
            elif kind == "token":
                self.state = self.state.with_(message=str(err), offline=False)
            else:
                self.state = self.state.with_(offline=True)
            retry_after = err.retry_after if isinstance(err, RateLimited) else None
            self.plan = after_failure(
                cfg.polling, self.plan, kind, result.asked_at, self.rng, retry_after
            )
        st.next_poll_at = self.plan.next_at
        self.write_status(now)

    def draw(self, now: float) -> bool:
        """Show a new frame if anything visible changed; True if one was shown."""
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
        key = (
            item_key(pb),
            pb is not None and pb.is_playing,
            self.state.offline,
            self.state.reauth_needed,
            self.state.message,
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
            if self._status_key is None or key != self._status_key:
                log.warning("cannot write %s: %s", self.cfg.paths.status_file, e)
        self._status_key, self._status_written_at = key, now

    def _refresh_token_info(self) -> None:
        if self.token_info is None:
            return
        info = self.token_info()
        if info is not None:
            self.status.token_expires_at = info.expires_at
            self.status.authorized_at = info.authorized_at

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
