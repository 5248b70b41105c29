"""The scheduler at its edges: exact backoff and Retry-After bounds, the skip/natural boundary,
and what counts as the same item. (Found by mutation testing: each of these let a small bug
through before; see docs/testing.md.)"""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from needledrop.config import PollingConfig
from needledrop.schedule import (
    PollPlan,
    after_failure,
    after_success,
    backoff,
    classify,
    interval,
    item_key,
    predicted_end,
)
from needledrop.state import Item, Playback


class EdgeRandom(random.Random):
    """A Random whose uniform(a, b) answers a bound: the lowest or the highest jitter."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def playing(item: Item, progress_ms: int = 0, at: float = 0.0) -> Playback:
    return Playback(item=item, is_playing=True, progress_ms=progress_ms, observed_at=at)


SONG = Item("track", "Song", "Band", "LP", 200_000, item_id="spotify:track:1")
OTHER = Item("track", "Other", "Band", "LP", 180_000, item_id="spotify:track:2")


@given(
    min_s=st.floats(0.5, 30),
    spread=st.floats(1, 100),
    failures=st.integers(1, 12),
)
def test_backoff_is_half_fixed_half_jitter_exactly(min_s, spread, failures):
    cfg = PollingConfig(backoff_min_s=min_s, backoff_max_s=min_s * spread)
    base = min(cfg.backoff_max_s, min_s * 2 ** (failures - 1))
    assert backoff(cfg, failures, EdgeRandom(high=False)) == pytest.approx(base / 2)
    assert backoff(cfg, failures, EdgeRandom(high=True)) == pytest.approx(base)


def test_backoff_of_an_odd_number_of_seconds_keeps_its_half_second():
    cfg = PollingConfig(backoff_min_s=3.0, backoff_max_s=300.0)
    assert backoff(cfg, 1, EdgeRandom(high=False)) == 1.5


@pytest.mark.parametrize("retry_after", [0.0, 1.0, 40.0])
def test_rate_limit_waits_retry_after_plus_under_a_second_of_jitter(retry_after):
    cfg = PollingConfig()
    low = after_failure(cfg, PollPlan(), "rate_limited", 100.0, EdgeRandom(False), retry_after)
    high = after_failure(cfg, PollPlan(), "rate_limited", 100.0, EdgeRandom(True), retry_after)
    assert low.next_at == 100.0 + retry_after
    assert high.next_at == 100.0 + retry_after + 1.0


def test_rate_limit_without_retry_after_waits_five_seconds():
    plan = after_failure(PollingConfig(), PollPlan(), "rate_limited", 0.0, EdgeRandom(False))
    assert plan.next_at == 5.0


@pytest.mark.parametrize(
    ("before_end_s", "change"),
    [
        (2.5, "skip"),
        (2.0, "natural"),  # exactly 2 s before the end: the end, seen a little early
        (1.5, "natural"),
        (0.0, "natural"),
    ],
)
def test_a_change_counts_as_a_skip_only_more_than_the_slack_before_the_end(before_end_s, change):
    prev = playing(SONG, progress_ms=100_000, at=0.0)
    end = predicted_end(prev)
    assert end == 100.0
    assert classify(prev, playing(OTHER), end - before_end_s) == change


def test_items_without_an_id_differ_by_title_and_artist():
    """Local files have no id: two different ones are still a change."""
    a = Item("local", "demo.flac", "Me", "", 100_000)
    b = Item("local", "other.flac", "Me", "", 100_000)
    assert item_key(playing(a)) != item_key(playing(b))
    assert classify(playing(a), playing(b), 1.0) == "skip"
    assert classify(playing(a), playing(a), 1.0) == "none"


def test_an_item_with_an_id_is_the_same_item_when_its_title_changes():
    """Spotify sometimes corrects a title mid-play: same id, no change (no burst polling)."""
    renamed = Item("track", "Song (Remastered)", "Band", "LP", 200_000, item_id=SONG.item_id)
    assert item_key(playing(SONG)) == item_key(playing(renamed))
    assert classify(playing(SONG), playing(renamed), 5.0) == "none"


def test_burst_polling_ends_exactly_when_the_burst_window_does():
    cfg = PollingConfig()
    paused = Playback(SONG, False, 10_000, 0.0)
    plan = PollPlan(last=paused, burst_until=50.0)
    during = after_success(cfg, plan, paused, 49.9)
    assert during.next_at == pytest.approx(49.9 + cfg.burst_s)
    at_end = after_success(cfg, plan, paused, 50.0)
    assert at_end.next_at == 50.0 + cfg.paused_s


@pytest.mark.parametrize(("duration_ms", "end"), [(0, None), (-1, None), (1, 0.001), (2, 0.002)])
def test_an_item_without_a_duration_has_no_predicted_end(duration_ms, end):
    item = Item("ad", "Advert", "", "", duration_ms)
    assert predicted_end(playing(item)) == end


def test_a_playback_without_an_item_or_not_playing_has_no_predicted_end():
    assert predicted_end(None) is None
    assert predicted_end(Playback(None, True, 0, 0.0)) is None
    assert predicted_end(Playback(SONG, False, 0, 0.0)) is None


def test_progress_past_the_duration_predicts_the_end_at_the_observation():
    assert predicted_end(playing(SONG, progress_ms=250_000, at=7.0)) == 7.0


@pytest.mark.parametrize(
    ("left_ms", "wait_s"),
    [(5_000, 5.3), (500, 0.8), (1, 0.301), (0, 0.5)],  # end_margin_s = 0.3; at the end: 0.5
)
def test_the_poll_after_a_short_remainder_lands_end_margin_after_the_end(left_ms, wait_s):
    pb = playing(SONG, progress_ms=SONG.duration_ms - left_ms, at=0.0)
    assert interval(PollingConfig(), pb, 0.0, bursting=False) == pytest.approx(wait_s, abs=1e-9)


def test_a_one_millisecond_item_is_not_an_ad():
    blip = Item("track", "Blip", "Band", "LP", 1, item_id="b")
    assert interval(PollingConfig(), playing(blip), 0.0, bursting=False) == pytest.approx(0.301)


def test_backoff_before_any_failure_is_the_first_backoff():
    cfg = PollingConfig(backoff_min_s=4.0)
    assert backoff(cfg, 0, EdgeRandom(False)) == backoff(cfg, 1, EdgeRandom(False)) == 2.0


def test_a_negative_retry_after_waits_no_less_than_nothing():
    plan = after_failure(PollingConfig(), PollPlan(), "rate_limited", 9.0, EdgeRandom(False), -30)
    assert plan.next_at == 9.0
