"""When to ask Spotify next: pure functions of the last observation, the config and ``now``.

A display that polls every second makes 3,600 calls an hour, and a fleet shares one client
id's quota. What we actually need to see:

- a track's natural end: predictable from ``progress_ms``/``duration_ms``, so a poll is placed
  ``end_margin_s`` after the predicted end;
- a manual skip: not predictable, so polls while playing are never further apart than
  ``skip_bound_s``. The time left in the track is cut into equal slices no longer than the bound,
  so the slice ends line up with the predicted end and the end costs no extra call;
- skips come in bursts: after a skip, the bound is ``burst_s`` for ``burst_window_s``;
- paused or nothing playing: ``paused_s`` / ``idle_s``;
- failures: exponential backoff with jitter (``backoff_min_s`` doubling to ``backoff_max_s``),
  a 429's Retry-After exactly (plus under a second of jitter, so a fleet does not return in
  step), and ``token_check_s`` while the token needs a person.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Literal

from needledrop.config import PollingConfig
from needledrop.state import Playback

Change = Literal["none", "start", "stop", "natural", "skip"]
Failure = Literal["offline", "rate_limited", "reauth", "token"]

AT_END_RETRY_S = 0.5  # the track should have ended but has not: ask again this soon
SKIP_SLACK_S = 2.0  # a change seen this long before the predicted end counts as a skip


@dataclass(frozen=True)
class PollPlan:
    """The scheduler's memory between polls."""

    next_at: float = 0.0  # when to poll next (caller's clock)
    last: Playback | None = None  # last successful observation
    burst_until: float = -math.inf  # poll with burst_s until then
    failures: int = 0  # consecutive failed polls
    change: Change = "none"  # what the last successful poll saw change


def item_key(pb: Playback | None) -> tuple[str, str, str] | None:
    """Identity of what plays (None: nothing). Local files and ads have no id."""
    if pb is None or pb.item is None:
        return None
    it = pb.item
    return (it.kind, it.item_id or "", "" if it.item_id else f"{it.title}\x00{it.artist}")


def predicted_end(pb: Playback | None) -> float | None:
    """When the current item should end, on the caller's clock (None: not playing/unknown)."""
    return pb.ends_at() if pb is not None else None


def classify(prev: Playback | None, cur: Playback | None, now: float) -> Change:
    """What changed between two observations."""
    a, b = item_key(prev), item_key(cur)
    if a == b:
        return "none"
    if a is None:
        return "start"
    if b is None:
        return "stop"
    assert prev is not None
    end = predicted_end(prev)
    if end is None or now < end - SKIP_SLACK_S:
        return "skip"  # paused, or well before the old item could have ended
    return "natural"


def interval(cfg: PollingConfig, pb: Playback | None, now: float, bursting: bool) -> float:
    """Seconds until the next poll after observing ``pb`` at ``now``."""
    bound = min(cfg.skip_bound_s, cfg.burst_s) if bursting else cfg.skip_bound_s
    if pb is None or pb.item is None:
        return min(cfg.idle_s, bound) if bursting else cfg.idle_s
    if not pb.is_playing:
        return min(cfg.paused_s, bound) if bursting else cfg.paused_s
    if pb.item.duration_ms <= 0:  # an ad: no duration; watch for its end at the skip bound
        return bound
    remaining_s = max(0.0, (pb.item.duration_ms - pb.progress_at(now)) / 1000)
    if remaining_s <= 0:
        return AT_END_RETRY_S
    to_end = remaining_s + cfg.end_margin_s
    slices = math.ceil(to_end / bound)
    return to_end / slices


def after_success(cfg: PollingConfig, plan: PollPlan, pb: Playback | None, now: float) -> PollPlan:
    """The plan after a poll at ``now`` that observed ``pb``."""
    change = classify(plan.last, pb, now)
    burst_until = now + cfg.burst_window_s if change == "skip" else plan.burst_until
    delay = interval(cfg, pb, now, bursting=now < burst_until)
    return PollPlan(
        next_at=now + delay, last=pb, burst_until=burst_until, failures=0, change=change
    )


def backoff(cfg: PollingConfig, failures: int, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: half fixed, half random."""
    base = min(cfg.backoff_max_s, cfg.backoff_min_s * 2.0 ** max(0, failures - 1))
    return base / 2 + rng.uniform(0, base / 2)


def after_failure(
    cfg: PollingConfig,
    plan: PollPlan,
    kind: Failure,
    now: float,
    rng: random.Random,
    retry_after: float | None = None,
) -> PollPlan:
    """The plan after a poll at ``now`` that failed. The last observation is kept."""
    failures = plan.failures + 1
    if kind == "rate_limited":
        delay = max(retry_after if retry_after is not None else 5.0, 0.0) + rng.uniform(0, 1)
    elif kind in ("reauth", "token"):
        delay = cfg.token_check_s
    else:
        delay = backoff(cfg, failures, rng)
    return replace(plan, next_at=now + delay, failures=failures, change="none")
