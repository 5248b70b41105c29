"""What is playing now, as the rest of the pipeline sees it.

Records only: the source (spotify.py, demo.py) produces `Playback`; the run loop keeps a
`DisplayState`; the renderer draws a `DisplayState` at a time `now`. Times are seconds on the
same clock the caller passes in as `now` (the run loop uses time.time()).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

ItemKind = Literal["track", "episode", "local", "ad"]


def until_minute(ts: float) -> float:
    """``ts`` rounded up to a whole minute, for "paused until 14:06": never earlier than the
    truth (time zones are whole minutes away from UTC)."""
    return math.ceil(ts / 60) * 60


@dataclass(frozen=True)
class Item:
    """One playable thing: a track, a podcast episode, a local file or an ad."""

    kind: ItemKind
    title: str
    artist: str  # artists joined with ", "; the show's name for an episode; "" for an ad
    album: str  # album name; the show's name for an episode
    duration_ms: int
    item_id: str | None = None  # Spotify id/uri; None for local files and ads
    art_url: str | None = None  # largest image; show image for episodes; None if none


@dataclass(frozen=True)
class Playback:
    """One observation of the player, taken at `observed_at`."""

    item: Item | None  # None: nothing playing (204), private session
    is_playing: bool
    progress_ms: int
    observed_at: float
    device_name: str | None = None

    def progress_at(self, now: float) -> int:
        """Progress interpolated to `now`, clamped to the item's duration."""
        if self.item is None:
            return 0
        if not self.is_playing:
            return min(self.progress_ms, self.item.duration_ms)
        elapsed = max(0.0, now - self.observed_at)
        return min(self.progress_ms + int(elapsed * 1000), self.item.duration_ms)

    def ends_at(self) -> float | None:
        """When the item should end if nobody touches the player (None: paused, nothing, or
        no duration, as for ads)."""
        if self.item is None or not self.is_playing or self.item.duration_ms <= 0:
            return None
        return self.observed_at + max(0, self.item.duration_ms - self.progress_ms) / 1000


@dataclass(frozen=True)
class DisplayState:
    """Everything the renderer needs to draw one frame."""

    playback: Playback | None = None  # last known playback; kept while offline
    offline: bool = False  # last poll failed (network, 5xx): show a small offline mark
    reauth_needed: bool = False  # refresh token dead: show the re-auth screen
    message: str | None = None  # a problem to show instead (e.g. token cache missing)
    last_played_at: float | None = None  # when something last played; idle screen after a while
    rate_limited_until: float | None = None  # Spotify answered 429: no poll before this time
    rate_limit_quota: bool = False  # ... because the developer account's quota is spent
    token_expiring: bool = False  # the sign-in dies soon (token_warning_days): a small mark

    def rate_limit_clock(self, now: float) -> bool:
        """While rate-limited, whether the last item can no longer be playing (its predicted
        end has passed, or it was an ad or nothing): then the clock with a "Spotify paused
        until" mark is the truth, not a track whose progress ran out long ago. A paused item
        stays on screen (until the idle clock, which carries the mark too)."""
        if self.rate_limited_until is None:
            return False
        pb = self.playback
        if pb is None or pb.item is None or pb.item.kind == "ad":
            return True
        if not pb.is_playing:
            return False
        end = pb.ends_at()
        return end is None or now >= end

    def with_(self, **changes: object) -> DisplayState:
        return replace(self, **changes)  # type: ignore[arg-type]
