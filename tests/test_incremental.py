"""The core's incremental-reading kit: cursor state with an id tie-break and overlap, window
splitting on timeouts, and the cadence of id sweeps for hard deletes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from crm_connect.incremental import (
    CursorProgress,
    Window,
    WindowTimeout,
    checkpoint_state,
    final_state,
    format_cursor,
    parse_cursor,
    read_in_windows,
    resume_window,
    sweep_due,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 1, 1, tzinfo=UTC)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


class FakeSource:
    """Records ``(cursor, id)`` served in (cursor, id) order, two a page, like a vendor API
    whose query over a window longer than ``limit_hours`` times out (after ``partial``
    pages, to model a query that dies half way)."""

    def __init__(self, records: list[tuple[dt.datetime, str]], limit_hours: float,
                 partial: int = 0) -> None:
        self.records = sorted(records)
        self.limit = dt.timedelta(hours=limit_hours)
        self.partial = partial
        self.queries: list[Window] = []

    def inside(self, window: Window, cursor: dt.datetime, record_id: str) -> bool:
        if window.start is not None:
            if window.after_id is not None:
                if (cursor, record_id) <= (window.start, window.after_id):
                    return False
            elif cursor < window.start:
                return False
        return window.end is None or cursor < window.end

    def read(self, window: Window, progress: CursorProgress, now: dt.datetime
             ) -> Iterator[list[tuple[dt.datetime, str]]]:
        self.queries.append(window)
        rows = [row for row in self.records if self.inside(window, *row)]
        too_long = window.seconds(now, T0) > self.limit.total_seconds()
        pages = [rows[i:i + 2] for i in range(0, len(rows), 2)]
        for number, page in enumerate(pages):
            if too_long and number >= self.partial:
                raise WindowTimeout("QUERY_TIMEOUT")
            for cursor, record_id in page:
                progress.advance(cursor, record_id)
            yield page
        if too_long and not pages:
            raise WindowTimeout("QUERY_TIMEOUT")


def read_all(source: FakeSource, first: Window, now: dt.datetime, *, retries: int = 0,
             min_seconds: float = 3600) -> list[tuple[dt.datetime, str]]:
    progress = CursorProgress()

    def too_short(window: Window, timeout: WindowTimeout) -> Exception:
        return RuntimeError(f"{timeout.reason} on {window.describe()}")

    pages = read_in_windows(first, lambda w: source.read(w, progress, now), progress,
                            now=now, floor=T0, retries=retries, min_seconds=min_seconds,
                            too_short=too_short, label="crm/deals")
    return [row for page in pages for row in page]


def test_a_checkpoint_resumes_strictly_after_the_last_cursor_and_id() -> None:
    progress = CursorProgress()
    for cursor, record_id in [(at(1), "b"), (at(1), "a"), (at(0), "z"), (at(1), "c")]:
        progress.advance(cursor, record_id)
    assert (progress.cursor, progress.last_id) == (at(1), "c")
    state = checkpoint_state("updated", progress)
    assert state == {"cursor_field": "updated", "cursor": "2026-01-01T01:00:00.000+00:00",
                     "last_id": "c", "complete": False}
    # a record without a cursor or an id moves nothing
    progress.advance(None, "d")
    assert progress.last_id == "c"
    assert resume_window(state) == Window(at(1), after_id="c")


def test_a_finished_read_restarts_at_its_cursor_minus_the_overlap() -> None:
    progress = CursorProgress(at(5), "x")
    state = final_state("updated", progress, {})
    assert state["complete"] is True
    assert resume_window(state, overlap=dt.timedelta(minutes=10)) == \
        Window(at(5) - dt.timedelta(minutes=10))
    assert resume_window(state) == Window(at(5))  # inclusive: a tie at the cursor is read again


def test_no_state_starts_at_the_configured_start_and_an_empty_read_keeps_its_cursor() -> None:
    assert resume_window({}) == Window()
    assert resume_window({}, start=at(2)) == Window(at(2))
    previous = {"cursor_field": "updated", "cursor": "2026-01-01T03:00:00.000+00:00",
                "last_id": "q", "complete": True}
    nothing_new = final_state("updated", CursorProgress(), previous)
    assert nothing_new["cursor"] == previous["cursor"]


def test_cursor_values_read_every_spelling_and_write_one() -> None:
    for text in ("2026-01-01T01:00:00.000+0000", "2026-01-01T01:00:00Z",
                 "2026-01-01T02:00:00+01:00", "1767229200000", 1767229200):
        assert parse_cursor(text) == at(1), text
    assert parse_cursor("") is None and parse_cursor("not a date") is None
    assert format_cursor(dt.datetime(2026, 1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=1)))
                         ) == "2026-01-01T01:00:00.000+00:00"


def test_windows_halve_on_whole_seconds_down_to_nothing() -> None:
    halves = Window(at(0), at(10)).split(at(99), T0)
    assert halves == (Window(at(0), at(5)), Window(at(5), at(10)))
    # an open window is bounded by the floor and now; the resume point stays on the first half
    first, second = Window(at(2), None, "k").split(at(6), T0) or ()
    assert first == Window(at(2), at(4), "k") and second == Window(at(4), None)
    one_second = Window(at(0), at(0) + dt.timedelta(seconds=1))
    assert one_second.split(at(9), T0) is None


def test_a_window_that_times_out_is_split_until_its_halves_can_be_read() -> None:
    records = [(at(h), f"r{h:02d}") for h in range(0, 48, 3)] + [(at(6), "r06b")]
    source = FakeSource(records, limit_hours=12)
    rows = read_all(source, Window(), now=at(48))
    assert rows == sorted(records)  # every record, once, in (cursor, id) order
    # halves are read in order, each split again while it still times out
    assert source.queries == [Window(), Window(None, at(24)), Window(None, at(12)),
                              Window(at(12), at(24)), Window(at(24)), Window(at(24), at(36)),
                              Window(at(36))]


def test_pages_read_before_a_timeout_are_kept_and_the_window_goes_on_after_them() -> None:
    records = [(at(h), f"r{h:02d}") for h in range(20)]
    source = FakeSource(records, limit_hours=6, partial=1)
    rows = read_all(source, Window(), now=at(20))
    assert rows == records  # no record lost or read twice across the interrupted queries
    resumed = [q for q in source.queries if q.after_id is not None]
    assert resumed and resumed[0].after_id == "r01"


def test_a_retry_comes_before_a_split() -> None:
    class Flaky(FakeSource):
        failures = 1

        def read(self, window: Window, progress: CursorProgress, now: dt.datetime
                 ) -> Iterator[list[tuple[dt.datetime, str]]]:
            if self.failures:
                self.failures -= 1
                self.queries.append(window)
                raise WindowTimeout()
            yield from super().read(window, progress, now)

    source = Flaky([(at(1), "a"), (at(2), "b")], limit_hours=100)
    assert read_all(source, Window(), now=at(3), retries=1) == [(at(1), "a"), (at(2), "b")]
    assert source.queries == [Window(), Window()]


def test_a_window_too_short_to_split_fails_with_the_connectors_error() -> None:
    source = FakeSource([(at(1), "a")], limit_hours=0)
    # 4h -> 2h -> 1h: a one-hour window is shorter than two minimum windows, so it fails
    with pytest.raises(RuntimeError,
                       match=r"QUERY_TIMEOUT on \[the beginning, 2026-01-01T01:00:00\+00:00\)"):
        read_all(source, Window(), now=at(4), min_seconds=3600)


def test_id_sweeps_run_on_the_first_read_then_every_nth_run() -> None:
    assert sweep_due(None, 3) == sweep_due({}, 3)
    assert sweep_due({}, 0).due  # a first read or full refresh always sweeps
    state: dict[str, object] = {"cursor": "x"}
    due = []
    for _ in range(7):
        decision = sweep_due(state, 3)
        due.append(decision.due)
        state = final_state("updated", CursorProgress(), state, decision)
    assert due == [False, False, True, False, False, True, False]
    assert state["runs_since_id_check"] == 1
    assert not any(sweep_due({"runs_since_id_check": n}, 0).due for n in range(10))
