"""Incremental reading, for any vendor: cursor state, time windows, and when to sweep ids.

A stream that can be read incrementally is read in (cursor, id) order, where the cursor is the
vendor's "last modified" timestamp and the record id breaks ties between records modified at
the same moment.  Three pieces of that are the same for every vendor and live here:

**Cursor state.**  What a stream saves after each page (:func:`checkpoint_state`) and at its end
(:func:`final_state`) is a plain JSON object::

    {"cursor_field": "updated", "cursor": "2026-05-01T07:25:37.000+00:00",
     "last_id": "0017", "complete": false}

``complete`` false means the read stopped mid-way (a killed sync): the next read resumes
*strictly after* ``(cursor, last_id)``, so a page boundary between two records with the same
cursor value neither skips nor repeats one.  ``complete`` true means the stream was read to its
end: the next read starts at ``cursor`` *inclusive*, minus an overlap, because a record may be
modified at the very moment the last read ran; records read twice are upserted again, which
changes nothing.  :func:`resume_window` turns a saved state into the first :class:`Window` to
read, and :class:`CursorProgress` tracks the last (cursor, id) stored while a read runs.

**Windows.**  A :class:`Window` is a span of the cursor (``start <= cursor < end``, or strictly
after ``(start, after_id)``).  When a vendor's query over a window times out,
:func:`read_in_windows` retries it a few times, then halves it, down to a minimum length; a
window too short to halve fails the stream (never "zero rows").  The connector supplies how to
read one window and raises :class:`WindowTimeout` when the vendor says the query took too long.

**Id sweeps.**  A hard delete (an emptied recycle bin, a purge) leaves no tombstone, so now and
then a stream compares every id the vendor holds with the stored ones
(:class:`~crm_connect.connector.IdSweep`).  :func:`sweep_due` says whether this read is one of
those runs: the first read, a full refresh, and then every ``every``-th incremental run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from crm_connect.schema import parse_datetime

__all__ = [
    "CursorProgress",
    "SweepDecision",
    "Window",
    "WindowTimeout",
    "checkpoint_state",
    "final_state",
    "format_cursor",
    "parse_cursor",
    "read_in_windows",
    "resume_window",
    "sweep_due",
]

log = logging.getLogger("crm_connect.incremental")

T = TypeVar("T")


def format_cursor(value: dt.datetime) -> str:
    """The one spelling of a cursor value in saved state: UTC, milliseconds
    (``2026-05-01T07:25:37.000+00:00``)."""
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def parse_cursor(value: Any) -> dt.datetime | None:
    """A cursor value (saved state, or a vendor's timestamp in any spelling
    :func:`~crm_connect.schema.parse_datetime` reads) as an aware UTC datetime; ``None`` when
    it is missing or not a timestamp."""
    parsed = parse_datetime(value)
    return parsed if isinstance(parsed, dt.datetime) else None


@dataclass(frozen=True)
class Window:
    """Records with ``start <= cursor < end`` (``None``: unbounded on that side), or, when
    ``after_id`` is set, those strictly after ``(start, after_id)`` in (cursor, id) order and
    before ``end``.

    A connector turns a window into its vendor's query (a ``WHERE`` clause, search filters);
    ordering that query by (cursor, id) is what makes ``after_id`` exact."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    after_id: str | None = None

    def split(self, now: dt.datetime, floor: dt.datetime) -> tuple[Window, Window] | None:
        """The two halves of this window, cut at a whole second; ``None`` when it is too
        short to cut.  An open start counts from ``floor``, an open end up to ``now``."""
        start = self.start or floor
        end = self.end or now
        if end <= start:
            return None
        middle = (start + (end - start) / 2).replace(microsecond=0)
        if middle <= start or middle >= end:
            return None
        return (Window(self.start, middle, self.after_id), Window(middle, self.end))

    def seconds(self, now: dt.datetime, floor: dt.datetime) -> float:
        """The window's length, an open start counting from ``floor``, an open end to ``now``."""
        return ((self.end or now) - (self.start or floor)).total_seconds()

    def describe(self) -> str:
        """``[2026-01-01T00:00:00+00:00, now)``, for messages."""
        start = self.start.isoformat() if self.start else "the beginning"
        end = self.end.isoformat() if self.end else "now"
        return f"[{start}, {end})"


@dataclass
class CursorProgress:
    """The greatest (cursor, id) a read has stored so far, in (cursor, id) order.

    Feed it every record of a page (:meth:`advance`) before yielding the page, then save
    :func:`checkpoint_state` with it: a sync killed after that page resumes right after it."""

    cursor: dt.datetime | None = None
    last_id: str | None = None

    def advance(self, cursor: dt.datetime | None, record_id: str | None) -> None:
        """Move on to ``(cursor, record_id)`` when it comes after the position so far;
        a record without a cursor or an id moves nothing."""
        if cursor is None or record_id is None:
            return
        if self.cursor is None or (cursor, record_id) > (self.cursor, self.last_id or ""):
            self.cursor, self.last_id = cursor, record_id


def checkpoint_state(cursor_field: str, progress: CursorProgress) -> dict[str, Any]:
    """The state a page saves mid-read: resume strictly after ``progress``."""
    return {"cursor_field": cursor_field,
            "cursor": format_cursor(progress.cursor) if progress.cursor else None,
            "last_id": progress.last_id, "complete": False}


def final_state(cursor_field: str, progress: CursorProgress, previous: Mapping[str, Any],
                sweep: SweepDecision | None = None) -> dict[str, Any]:
    """The state a stream saves when it was read to its end.

    ``previous`` is the state the read started from: when the read found nothing new, its
    cursor stays.  ``sweep`` (from :func:`sweep_due`) records how many runs went by since the
    last id sweep."""
    state: dict[str, Any] = {
        "cursor_field": cursor_field,
        "cursor": format_cursor(progress.cursor) if progress.cursor
        else previous.get("cursor"),
        "last_id": progress.last_id, "complete": True}
    if sweep is not None:
        state["runs_since_id_check"] = sweep.runs_after
    return state


def resume_window(state: Mapping[str, Any], *, start: dt.datetime | None = None,
                  overlap: dt.timedelta = dt.timedelta(0)) -> Window:
    """The first window to read given a stream's saved ``state``.

    No state (or no cursor in it): everything from ``start`` (``None``: the beginning).  A
    completed read: from its cursor inclusive, minus ``overlap``.  An interrupted read: strictly
    after its (cursor, last id)."""
    cursor = parse_cursor(state.get("cursor"))
    if cursor is None:
        return Window(start)
    if state.get("complete", True):
        return Window(cursor - overlap)
    return Window(cursor, after_id=state.get("last_id") or None)


class WindowTimeout(Exception):
    """Raised by a connector's window reader when the vendor answered that the query over
    the window ran too long; :func:`read_in_windows` retries or splits the window.

    ``reason`` names the vendor's answer in messages (``QUERY_TIMEOUT``)."""

    def __init__(self, reason: str = "the query timed out") -> None:
        super().__init__(reason)
        self.reason = reason


def read_in_windows(first: Window, read_window: Callable[[Window], Iterator[T]],
                    progress: CursorProgress, *, now: dt.datetime, floor: dt.datetime,
                    retries: int, min_seconds: float,
                    too_short: Callable[[Window, WindowTimeout], Exception],
                    label: str = "") -> Iterator[T]:
    """Read ``first`` through ``read_window``, splitting windows whose query times out.

    ``read_window(window)`` yields pages and advances ``progress`` as it goes; it raises
    :class:`WindowTimeout` when the vendor gives up on the query.  The pages it yielded before
    stay stored: the window is then resumed right after ``progress``.  A window is retried
    ``retries`` times, then cut in two halves read one after the other; a window shorter than
    twice ``min_seconds`` that still times out raises ``too_short(window, timeout)`` (the
    connector's error, naming its query).  ``floor`` and ``now`` bound open windows; ``label``
    (``connection/stream``) starts the log lines."""
    pending = [first]
    timeouts: dict[Window, int] = {}
    while pending:
        window = pending.pop(0)
        before = (progress.cursor, progress.last_id)
        try:
            yield from read_window(window)
        except WindowTimeout as timeout:
            if (progress.cursor, progress.last_id) != before:
                # keep what this window already stored: go on right after it
                window = Window(progress.cursor, window.end, progress.last_id)
            timeouts[window] = timeouts.get(window, 0) + 1
            if timeouts[window] <= retries:
                log.warning("%s: %s on %s; retrying it", label, timeout.reason,
                            window.describe())
                pending.insert(0, window)
                continue
            halves = None
            if window.seconds(now, floor) >= 2 * min_seconds:
                halves = window.split(now, floor)
            if halves is None:
                raise too_short(window, timeout) from None
            log.warning("%s: %s on %s; splitting it in two", label, timeout.reason,
                        window.describe())
            pending[0:0] = list(halves)


@dataclass(frozen=True)
class SweepDecision:
    """Whether this read compares every id with the stored ones (``due``), and the
    ``runs_since_id_check`` the final state records (``runs_after``)."""

    due: bool
    runs_after: int


def sweep_due(state: Mapping[str, Any] | None, every: int) -> SweepDecision:
    """Whether a read starting from ``state`` runs an id sweep for hard deletes.

    A read without state (a first sync or a full refresh) always does; an incremental read does
    on every ``every``-th run since the last sweep (``every`` 0: never).  The count lives in the
    state as ``runs_since_id_check``."""
    if not state:
        return SweepDecision(True, 0)
    runs = int(state.get("runs_since_id_check", 0)) + 1
    due = bool(every and runs >= every)
    return SweepDecision(due, 0 if due else runs)
