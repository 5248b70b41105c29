"""The poll scheduler: pure functions of the last observation and `now`."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from needledrop.config import PollingConfig
from needledrop.schedule import (
    AT_END_RETRY_S,
    PollPlan,
    after_failure,
    after_success,
    backoff,
    classify,
    interval,
)
from needledrop.state import Item, Playback

CFG = PollingConfig()


def track(
    item_id: str = "a",
    duration_ms: int = 200_000,
    progress_ms: int = 0,
    at: float = 0.0,
) -> Playback:
    item = Item("track", f"T{item_id}", "Artist", "Album", duration_ms, item_id=item_id)
    return Playback(item=item, is_playing=True, progress_ms=progress_ms, observed_at=at)


def paused(pb: Playback) -> Playback:
    return Playback(pb.item, False, pb.progress_ms, pb.observed_at)


@given(
    duration_s=st.integers(min_value=1, max_value=3600),
    progress_frac=st.floats(min_value=0, max_value=0.999),
    skip_bound=st.floats(min_value=1, max_value=60),
)
def test_polls_while_playing_are_never_further_apart_than_the_skip_bound(
    duration_s, progress_frac, skip_bound
):
    cfg = PollingConfig(skip_bound_s=skip_bound)
    pb = track(
        duration_ms=duration_s * 1000,
        progress_ms=int(duration_s * 1000 * progress_frac),
    )
    assert 0 < interval(cfg, pb, 0.0, bursting=False) <= skip_bound + 1e-9


@given(
    duration_s=st.integers(min_value=30, max_value=900),
    progress_s=st.integers(min_value=0, max_value=29),
)
def test_a_poll_lands_just_after_the_predicted_end_of_the_track(duration_s, progress_s):
    pb = track(duration_ms=duration_s * 1000, progress_ms=progress_s * 1000, at=0.0)
    plan = PollPlan(last=pb)
    now = 0.0
    end = duration_s - progress_s
    while now < end:
        # Same track, observed at each poll with exact progress.
        observed = track(
            duration_ms=duration_s * 1000,
            progress_ms=round((progress_s + now) * 1000),
            at=now,
        )
        plan = after_success(CFG, plan, observed, now)
        now = plan.next_at
    assert end <= now <= end + CFG.end_margin_s + 0.01  # ms rounding of progress_ms


def test_paused_and_nothing_playing_poll_slowly():
    assert interval(CFG, paused(track()), 0.0, bursting=False) == CFG.paused_s
    assert interval(CFG, None, 0.0, bursting=False) == CFG.idle_s


def test_ad_is_watched_at_the_skip_bound():
    ad = Playback(Item("ad", "Advertisement", "", "", 0), True, 3000, 0.0)
    assert interval(CFG, ad, 0.0, bursting=False) == CFG.skip_bound_s


def test_track_still_shown_after_its_end_is_asked_again_soon_not_in_a_tight_loop():
    pb = track(duration_ms=100_000, progress_ms=100_000)
    assert interval(CFG, pb, 0.0, bursting=False) == AT_END_RETRY_S
    assert 0.25 <= AT_END_RETRY_S <= 0.7  # one miss still keeps the change under 1 s late


def test_change_well_before_predicted_end_is_a_skip():
    prev = track("a", duration_ms=200_000, progress_ms=10_000, at=0.0)
    assert classify(prev, track("b", at=10.0), now=10.0) == "skip"


def test_change_at_predicted_end_is_natural():
    prev = track("a", duration_ms=200_000, progress_ms=195_000, at=0.0)
    assert classify(prev, track("b", at=5.3), now=5.3) == "natural"


def test_change_after_pause_is_a_skip_and_start_stop_are_named():
    prev = paused(track("a", progress_ms=50_000))
    assert classify(prev, track("b", at=30.0), now=30.0) == "skip"
    assert classify(None, track("a"), now=0.0) == "start"
    assert classify(track("a"), None, now=0.0) == "stop"
    assert classify(track("a"), track("a", progress_ms=5000, at=5.0), now=5.0) == "none"


def test_skip_starts_a_burst_of_faster_polls_that_ends_after_the_window():
    cfg = PollingConfig(skip_bound_s=10, burst_s=2, burst_window_s=20)
    plan = after_success(cfg, PollPlan(), track("a", at=0.0), 0.0)
    assert plan.change == "start"
    assert plan.next_at - 0.0 > 2.0
    plan = after_success(cfg, plan, track("b", at=8.0), 8.0)
    assert plan.change == "skip"
    assert plan.next_at - 8.0 <= 2.0
    later = 8.0 + 21.0
    plan = after_success(cfg, plan, track("b", progress_ms=21_000, at=later), later)
    assert plan.next_at - later > 2.0


def test_backoff_doubles_with_jitter_and_is_capped():
    cfg = PollingConfig(backoff_min_s=2, backoff_max_s=60)
    rng = random.Random(1)
    for failures, base in [(1, 2), (2, 4), (3, 8), (4, 16), (10, 60)]:
        d = backoff(cfg, failures, rng)
        assert base / 2 <= d <= base


def test_failures_accumulate_and_success_resets_them():
    rng = random.Random(0)
    plan = after_failure(CFG, PollPlan(last=track()), "offline", 0.0, rng)
    plan = after_failure(CFG, plan, "offline", plan.next_at, rng)
    assert plan.failures == 2
    assert plan.last == track()  # the last observation is kept while offline
    plan = after_success(CFG, plan, track(at=100.0), 100.0)
    assert plan.failures == 0


def test_rate_limit_waits_at_least_retry_after():
    rng = random.Random(0)
    plan = after_failure(CFG, PollPlan(), "rate_limited", 50.0, rng, retry_after=120)
    assert 170.0 <= plan.next_at <= 171.0


def test_reauth_and_token_problems_recheck_the_token_file_periodically():
    rng = random.Random(0)
    for kind in ("reauth", "token"):
        plan = after_failure(CFG, PollPlan(), kind, 10.0, rng)
        assert plan.next_at == 10.0 + CFG.token_check_s
