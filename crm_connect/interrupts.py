"""Stopping a running sync on Ctrl-C (SIGINT) or SIGTERM, at a point where nothing is lost.

A sync stopped by a scheduler (SIGTERM) or a person (Ctrl-C) ends like this: the exception
unwinds the runner, the pages stored so far are kept with their checkpoint, the run is marked
interrupted and the worker processes are shut down (killed outright, they would leave
semaphores behind and the resource tracker would complain about them).

A signal that arrives while a page is being written waits until the write is done: raised
inside the database engine, it would abort the write with a vaguer error of its own.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["Terminated", "stoppable_sync", "store_write"]


class Terminated(KeyboardInterrupt):
    """The sync received SIGTERM; handled everywhere like Ctrl-C."""


class _Stopping:
    def __init__(self) -> None:
        self.writes = 0
        self.pending: BaseException | None = None

    def handler(self, make: Callable[[], BaseException]
                ) -> Callable[[int, FrameType | None], None]:
        def handle(signum: int, frame: FrameType | None) -> None:
            if self.writes:
                self.pending = self.pending or make()
            else:
                raise make()
        return handle


_stopping = _Stopping()


@contextmanager
def stoppable_sync() -> Iterator[None]:
    """While a sync runs, SIGTERM raises :class:`Terminated` and Ctrl-C ``KeyboardInterrupt``,
    both held back while a page is written (see :func:`store_write`).  A handler the program
    installed itself is left alone, as is everything outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted: dict[signal.Signals, tuple[object, Callable[[], BaseException]]] = {
        signal.SIGTERM: (signal.SIG_DFL, lambda: Terminated("terminated (SIGTERM)")),
        signal.SIGINT: (signal.default_int_handler, KeyboardInterrupt),
    }
    installed: dict[signal.Signals, object] = {}
    for signum, (default, make) in wanted.items():
        if signal.getsignal(signum) is default:
            installed[signum] = default
            signal.signal(signum, _stopping.handler(make))
    try:
        yield
    finally:
        for signum, default in installed.items():
            signal.signal(signum, default)  # type: ignore[arg-type]
        _stopping.pending = None


@contextmanager
def store_write() -> Iterator[None]:
    """Hold a stop signal back until the page being written is stored (then raise it)."""
    _stopping.writes += 1
    try:
        yield
    finally:
        _stopping.writes -= 1
    if not _stopping.writes and _stopping.pending is not None:
        stop, _stopping.pending = _stopping.pending, None
        raise stop
