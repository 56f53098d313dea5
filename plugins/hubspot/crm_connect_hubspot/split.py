"""A first sync that spends both of HubSpot's budgets: list from the lowest id, search from the
highest, until the two meet.

The list endpoint pages through an object by ascending id on the general budget (100 records
a request); the search API has a budget of its own (5 requests a second, 200 records each).
A first sync reads with both at once: a thread lists from the bottom, another searches
``hs_object_id < below`` sorted by id descending from the top, each one re-seeking from the
lowest id it read (so no search reaches the 10,000-result cap).  Each stops once the other has
read past it.  The reader hands their pages on in the order they arrive, dropping the ids the
other side already handed on, so every live record is read once.

The state after each page says where both sides stand (``after``, ``below``, and which side
is done): a resumed read goes on from there.  The search index lags behind writes by seconds:
a record changed during the read may be missing from the search side; the next incremental
run's look-back reads it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from crm_connect_hubspot.records import HubSpotObject

__all__ = ["SearchUnavailable", "SplitRead", "split_read"]

log = logging.getLogger("crm_connect_hubspot")


class SearchUnavailable(Exception):
    """The object cannot be searched (the endpoint refuses it): the list reads it all."""

ListPage = Callable[[str | None], tuple[list[HubSpotObject], str | None]]
"""One list page from ``after``: its records and the next ``after`` (``None``: the end)."""
SearchBelow = Callable[[int | None], list[HubSpotObject]]
"""One search page: the records with ids below the bound, highest first."""

_POLL_SECONDS = 0.1


@dataclass
class _Event:
    side: str
    objects: list[HubSpotObject]
    position: Any = None
    done: bool = False
    error: BaseException | None = None


@dataclass
class SplitRead:
    """Where both sides of a split read stand."""

    after: str | None = None
    below: int | None = None
    list_high: int | None = None
    list_done: bool = False
    search_done: bool = False

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> SplitRead:
        state = state or {}
        return cls(state.get("after"), state.get("below"), state.get("list_high"),
                   bool(state.get("list_done")), bool(state.get("search_done")))

    def state(self) -> dict[str, Any]:
        return {"mode": "split", "after": self.after, "below": self.below,
                "list_high": self.list_high, "list_done": self.list_done,
                "search_done": self.search_done}


def _ids(objects: list[HubSpotObject]) -> list[int]:
    return [int(obj.id) for obj in objects if obj.id.isdigit()]


def split_read(list_page: ListPage, search_below: SearchBelow, search_page_size: int,
               state: dict[str, Any] | None, *, name: str = "hubspot-split"
               ) -> Iterator[tuple[list[HubSpotObject], SplitRead]]:
    """Every live record once, from both ends at once; each page with the position after it.

    The last position has both sides done."""
    position = SplitRead.from_state(state)
    handoff: queue.Queue[_Event] = queue.Queue(maxsize=4)
    stop = threading.Event()
    lock = threading.Lock()
    reach = {"list": position.list_high, "search": position.below}  # read, not yet handed on

    def crossed() -> bool:
        with lock:
            return (reach["list"] is not None and reach["search"] is not None
                    and reach["list"] >= reach["search"])

    def offer(event: _Event) -> bool:
        while not stop.is_set():
            try:
                handoff.put(event, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def listing() -> None:
        after = position.after
        try:
            while not crossed():
                objects, after = list_page(after)
                ids = _ids(objects)
                if ids:
                    with lock:
                        reach["list"] = max([*ids, reach["list"] or 0])
                if not offer(_Event("list", objects, after, done=not after)) or not after:
                    return
            offer(_Event("list", [], None, done=True))
        except BaseException as exc:  # raised by the reader
            offer(_Event("list", [], error=exc))

    def searching() -> None:
        below = position.below
        try:
            while not crossed():
                objects = search_below(below)
                ids = _ids(objects)
                if ids:
                    below = min(ids)
                    with lock:
                        reach["search"] = below
                ended = len(objects) < search_page_size
                if not offer(_Event("search", objects, below, done=ended)) or ended:
                    return
            offer(_Event("search", [], below, done=True))
        except SearchUnavailable as exc:
            log.warning("%s: the search cannot read this object (%s); listing it all", name,
                        exc)
            offer(_Event("search", [], below, done=True))
        except BaseException as exc:
            offer(_Event("search", [], error=exc))

    threads = []
    if not position.list_done:
        threads.append(threading.Thread(target=listing, name=f"{name}-list", daemon=True))
    if not position.search_done:
        threads.append(threading.Thread(target=searching, name=f"{name}-search", daemon=True))
    for thread in threads:
        thread.start()
    try:
        while not (position.list_done and position.search_done):
            event = handoff.get()
            if event.error is not None:
                raise event.error
            if event.side == "list":
                low = position.below
                kept = [obj for obj in event.objects
                        if low is None or not obj.id.isdigit() or int(obj.id) < low]
                ids = _ids(kept)
                if ids:
                    position.list_high = max([*ids, position.list_high or 0])
                position.after = event.position
                position.list_done = event.done
            else:
                high = position.list_high
                kept = [obj for obj in event.objects
                        if high is None or not obj.id.isdigit() or int(obj.id) > high]
                ids = _ids(kept)
                if ids:
                    position.below = min(ids + ([position.below] if position.below else []))
                position.search_done = event.done
            yield kept, SplitRead(**vars(position))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
