"""Reading ahead: the next pages of a stream are fetched while the current ones are mapped and
their associations read.

HubSpot counts searches against a budget of their own (5 a second) and every other request
against the general one: while a search fetches the next records, the v4 associations of the
last ones are read on the general budget, so an incremental sync spends both at once instead
of one after the other.  The read-ahead is bounded (``depth`` pages), so memory stays flat.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["read_ahead"]

T = TypeVar("T")

_POLL_SECONDS = 0.1


@dataclass
class _Failed:
    error: BaseException


class _Done:
    pass


def read_ahead(items: Iterator[T], *, depth: int = 4, name: str = "hubspot-read-ahead"
               ) -> Iterator[T]:
    """``items``, produced by a background thread up to ``depth`` ahead of the consumer.

    An exception the producer meets is raised to the consumer at the point it was met; a
    consumer that stops early (or is interrupted) stops the producer after its current item.
    """
    handoff: queue.Queue[T | _Failed | _Done] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def offer(item: T | _Failed | _Done) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_Done())
        except BaseException as exc:  # handed to the consumer, raised there
            offer(_Failed(exc))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)  # a request in flight ends by its own timeout
        if not thread.is_alive():
            close = getattr(items, "close", None)
            if callable(close):
                close()
