"""The client-side limit runs at the vendor's published rate and never over its window.

A vendor publishing N requests per W seconds (a sliding window, counted as requests arrive)
allows N per W in steady state.  The limiter counts a request from its sending until W after
its answer, so it may use all of them, whatever the round trip.  Checked on a simulated clock:
what is asserted is the order of events, not how fast this machine runs.
"""

from __future__ import annotations

import pytest

from crm_connect.resilience.budget import WaitBeyondBudget
from crm_connect.resilience.limits import GroupLimiter, SlidingWindow
from crm_connect.vendor import RateLimitSettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 1e-6)  # as a real sleep: never less than a microsecond


def run(limiter: GroupLimiter, clock: FakeClock, count: int, round_trip: float
        ) -> list[tuple[float, float]]:
    """``count`` requests one after the other: (sent, answered) on the simulated clock."""
    spans = []
    for _ in range(count):
        with limiter.slot():
            sent = clock.now
            clock.now += round_trip
            spans.append((sent, clock.now))
    return spans


@pytest.mark.parametrize("round_trip", [0.0, 0.05, 0.4])
def test_no_window_ever_holds_more_than_the_published_count(round_trip: float) -> None:
    clock = FakeClock()
    limiter = GroupLimiter("general", RateLimitSettings(requests=100, per_seconds=10.0),
                           clock=clock, sleep=clock.sleep)
    spans = run(limiter, clock, 450, round_trip)
    # the vendor counts a request somewhere between its sending and its answer: even counted
    # at the worst moment for us, no 10 s window holds more than 100
    arrivals = sorted(answered for _, answered in spans)
    sends = sorted(sent for sent, _ in spans)
    for i in range(len(spans) - 100):
        assert arrivals[i + 100] - sends[i] >= 10.0 - 1e-6


def test_steady_state_is_the_published_rate_not_a_share_of_it() -> None:
    clock = FakeClock()
    limiter = GroupLimiter("general", RateLimitSettings(requests=100, per_seconds=10.0),
                           clock=clock, sleep=clock.sleep)
    spans = run(limiter, clock, 1000, 0.0)
    # 10 a second from the start: request 1,000 goes out at 99 s; a bucket refilled at
    # (100 - 10) / 10 s = 9 a second would have sent it at 110 s
    assert spans[-1][0] == pytest.approx(99.0, abs=0.01)
    for i in range(len(spans) - 100):
        assert spans[i + 100][0] - spans[i][0] == pytest.approx(10.0, abs=0.01)
    assert limiter.bucket is not None and limiter.bucket.rate == 10.0


def test_a_window_wait_past_the_deadline_is_not_started() -> None:
    clock = FakeClock()
    window = SlidingWindow(2, 10.0, clock=clock, sleep=clock.sleep)
    window.enter()
    window.leave()
    window.enter()
    window.leave()
    with pytest.raises(WaitBeyondBudget):
        window.enter(deadline=5.0)
    assert window.enter(deadline=11.0) == pytest.approx(10.0)


def test_vendor_headers_resize_the_window() -> None:
    clock = FakeClock()
    limiter = GroupLimiter("general", RateLimitSettings(requests=100, per_seconds=10.0),
                           clock=clock, sleep=clock.sleep)
    limiter.adapt(190, None, 10.0)
    spans = run(limiter, clock, 190, 0.0)
    assert spans[-1][0] < 10.0  # the higher tier's 190 fit in the first window
