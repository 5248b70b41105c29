"""What is playing now, as the rest of the pipeline sees it.

Records only: the source (spotify.py, demo.py) produces `Playback`; the run loop keeps a
`DisplayState`; the renderer draws a `DisplayState` at a time `now`. Times are seconds on the
same clock the caller passes in as `now` (the run loop uses time.time()).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

ItemKind = Literal["track", "episode", "local", "ad"]


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


@dataclass(frozen=True)
class DisplayState:
    """Everything the renderer needs to draw one frame."""

    playback: Playback | None = None  # last known playback; kept while offline
    offline: bool = False  # last poll failed (network, 5xx): show a small offline mark
    reauth_needed: bool = False  # refresh token dead: show the re-auth screen
    message: str | None = None  # a problem to show instead (e.g. token cache missing)
    last_played_at: float | None = None  # when something last played; idle screen after a while

    def with_(self, **changes: object) -> DisplayState:
        return replace(self, **changes)  # type: ignore[arg-type]
