"""Opening the DuckDB store file: where it is, who may open it and when, and what went wrong.

``[store] url = "duckdb:///path"`` names the file, relative to the configuration file's folder.
A folder that cannot hold it (a file in the way, no permission, a read-only filesystem) is an
error naming the ``[store] url`` key and what to write there.

DuckDB lets one process open a database file read-write, or many processes open it read-only,
never both at once.  A scheduled sync must not shut ``crm-connect kpis`` out for its whole run,
so the DuckDB store coordinates through three lock files beside the store file, each locked
with ``fcntl.flock`` (the kernel drops a lock when its process dies, even on ``kill -9``):

``<store>.lock``
    held exclusively by the one writer (a sync) for its whole life: a second writer is refused
    (:class:`~crm_connect.errors.StoreLockedError`, exit code 73) or waits (``--wait``).  The
    file holds the writer's PID, for that message.
``<store>.readers``
    stands for the DuckDB file itself: the writer holds it exclusively while its DuckDB
    connection is open, each reader holds it shared while its own connection is.
``<store>.read-request``
    a reader holds it shared from the moment it asks until it is in.  During a sync run a
    watcher thread in the writer looks at it every :data:`WATCH_SECONDS` (also while the
    writer waits for its CRM), and when a reader asks the writer closes its connection after
    the commit in progress and reopens it, lazily, once the readers are done.

So a reader waits at most for the page being committed and sees every page committed before
it; the writer pays one reopen when readers come and nothing when none do.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from crm_connect.errors import ConfigError, StoreError, StoreLockedError

__all__ = ["READER_PATIENCE_SECONDS", "WATCH_SECONDS", "ReaderLock", "ReaderWatch",
           "SharedConnection", "WriterLock", "connect_duckdb", "duckdb_path", "locked_message",
           "open_shared", "store_folder_error"]

log = logging.getLogger("crm_connect.store")

WATCH_SECONDS = 0.05
"""How often a writer in a sync run looks for readers asking to come in."""

READER_PATIENCE_SECONDS = 300.0
"""How long a reader waits for a writer to step aside before giving up.  A writer in a sync run
steps aside after the commit in progress; this bound only matters for a writer that is not in a
run (``kpis --save``, or a sync still creating its tables) or that hangs."""


def _open_lock_file(path: str, *, create: bool) -> int | None:
    """A descriptor to ``flock``.  Writers must be able to create the file (the error says why
    not); a reader falls back to opening an existing file read-only, and to no file at all
    (None) where it cannot exist, e.g. a store on a read-only filesystem no writer can use."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        if create:
            raise
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def _flock_until(fd: int, operation: int, deadline: float) -> bool:
    """Take the lock, trying until ``deadline`` (``time.monotonic()``); False when it passed."""
    delay = 0.005
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.1)


def _holder_pid(fd: int) -> int | None:
    try:
        data = os.pread(fd, 200, 0)
        pid = json.loads(data.decode()).get("pid") if data else None
    except (OSError, ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) else None


def locked_message(path: str, pid: int | None) -> str:
    """The message for a store another process holds: who, and what to do."""
    holder = f" (PID {pid})" if pid else ""
    return (f"the store {path} is in use by another crm-connect process{holder}, probably a "
            "sync still running. Wait for it to finish, or pass --wait SECONDS to wait for it.")


class WriterLock:
    """The writer's side: exclusive for its whole life, stepping aside for readers on request.

    :raises StoreLockedError: another writer holds the store past ``wait_seconds``.
    :raises OSError: the lock files cannot be created (read-only or unwritable folder).
    """

    def __init__(self, path: str, wait_seconds: float) -> None:
        self.path = path
        self._fds: list[int] = []
        owner = self._open(f"{path}.lock")
        if not _flock_until(owner, fcntl.LOCK_EX, time.monotonic() + wait_seconds):
            pid = _holder_pid(owner)
            self.close()
            raise StoreLockedError(locked_message(path, pid))
        try:
            os.ftruncate(owner, 0)
            os.pwrite(owner, json.dumps({"pid": os.getpid()}).encode(), 0)
            self._readers = self._open(f"{path}.readers")
            self._request = self._open(f"{path}.read-request")
            # A second description of the same file: the watcher thread's probe must not share
            # a lock with the main thread's.
            self._probe = self._open(f"{path}.read-request")
        except BaseException:
            self.close()
            raise

    def _open(self, path: str) -> int:
        fd = _open_lock_file(path, create=True)
        assert fd is not None
        self._fds.append(fd)
        return fd

    def acquire_file(self) -> None:
        """Block until no reader has the DuckDB file open, letting in first every reader
        that already asked (so a reopening writer cannot starve them)."""
        fcntl.flock(self._request, fcntl.LOCK_EX)
        fcntl.flock(self._request, fcntl.LOCK_UN)
        fcntl.flock(self._readers, fcntl.LOCK_EX)

    def release_file(self) -> None:
        """The writer's DuckDB connection is closed: readers may open the file."""
        fcntl.flock(self._readers, fcntl.LOCK_UN)

    def reader_waiting(self) -> bool:
        """Whether a reader is asking to come in."""
        try:
            fcntl.flock(self._probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._probe, fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        """Give up every lock (closing a descriptor drops its ``flock``)."""
        fds, self._fds = self._fds, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


class ReaderLock:
    """A reader's side: ask, wait for the writer to step aside, hold the file shared.

    Without lock files (a store no writer can use, e.g. on a read-only filesystem) there is
    nobody to coordinate with and the reader goes straight in.

    :raises StoreLockedError: no writer stepped aside within ``wait_seconds`` (at least
        :data:`READER_PATIENCE_SECONDS`).
    """

    def __init__(self, path: str, wait_seconds: float) -> None:
        self._request = _open_lock_file(f"{path}.read-request", create=False)
        self._readers = _open_lock_file(f"{path}.readers", create=False)
        if self._request is None or self._readers is None:
            self.close()
            return
        # Held exclusively only for an instant by a writer probing for it.
        fcntl.flock(self._request, fcntl.LOCK_SH)
        deadline = time.monotonic() + max(wait_seconds, READER_PATIENCE_SECONDS)
        if not _flock_until(self._readers, fcntl.LOCK_SH, deadline):
            owner = _open_lock_file(f"{path}.lock", create=False)
            pid = _holder_pid(owner) if owner is not None else None
            if owner is not None:
                os.close(owner)
            self.close()
            raise StoreLockedError(locked_message(path, pid))

    def admitted(self) -> None:
        """The reader's connection is open: it no longer asks (the writer may wait for it)."""
        if self._request is not None:
            os.close(self._request)
            self._request = None

    def close(self) -> None:
        for fd in (self._request, self._readers):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._request = self._readers = None


class ReaderWatch:
    """A thread that calls ``step_aside`` whenever a reader asks, until stopped."""

    def __init__(self, lock: WriterLock, step_aside: Callable[[], None]) -> None:
        self._lock = lock
        self._step_aside = step_aside
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crm-connect-reader-watch",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.wait(WATCH_SECONDS):
                if self._lock.reader_waiting():
                    self._step_aside()
        except Exception:
            # The writer goes on without stepping aside; readers then wait for it to finish.
            log.warning("cannot let readers into the store %s", self._lock.path,
                        exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


# -- where the file is, and opening it ----------------------------------------------------------


def duckdb_path(url: str, base_dir: Path) -> str:
    """The file a ``duckdb://`` url names (``:memory:`` for none), relative to ``base_dir``."""
    match = re.fullmatch(r"duckdb://(/?)(.*)", url)
    if not match:
        raise StoreError(f"store url {url!r} is not of the form duckdb:///path/to/file.duckdb")
    rest = match.group(2)
    if rest in ("", ":memory:"):
        return ":memory:"
    path = Path(rest)
    if not path.is_absolute():
        path = base_dir / path
    return str(path)


def store_folder_error(url: str, path: str, exc: OSError | str) -> ConfigError:
    """Why the store's folder cannot hold it, and what to write in ``[store] url`` instead."""
    folder = Path(path).parent
    text = exc if isinstance(exc, str) else ""
    blocker = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    if not blocker.is_dir():
        why = f"{blocker} is a file, not a folder"
    elif (isinstance(exc, OSError) and exc.errno == errno.EROFS) or "read-only" in text.lower():
        why = f"{blocker} is on a read-only filesystem"
    elif isinstance(exc, PermissionError) or "permission" in text.lower():
        why = f"{blocker} is not writable (permission denied)"
    else:
        why = f"{folder}: {exc.strerror if isinstance(exc, OSError) else exc}"
    return ConfigError(
        f"cannot create the store {path} ([store] url = {url!r}): {why}. Set url in the "
        "[store] table of the configuration file to a file in a folder you can write, e.g. "
        'url = "duckdb:///crm.duckdb" (relative to the configuration file\'s folder), or '
        "make that folder writable.")


def connect_duckdb(url: str, path: str, *, read_only: bool, config: dict[str, Any],
                   wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, waiting up to ``wait_seconds`` for a process outside this protocol
    (a DuckDB shell, an older crm-connect) that holds the file, with clear errors."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            message = str(exc)
            lowered = message.lower()
            if "read-only file system" in lowered or "permission denied" in lowered:
                raise store_folder_error(url, path, message) from None
            if "lock" not in lowered:
                raise StoreError(f"cannot open store {path}: {message}") from None
            if time.monotonic() >= deadline:
                pid = re.search(r"PID (\d+)", message)
                raise StoreLockedError(
                    locked_message(path, int(pid.group(1)) if pid else None)) from None
            time.sleep(0.25)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open store {path}: {exc}") from None


# -- the connection a writer shares -------------------------------------------------------------


class SharedConnection:
    """A store's DuckDB connection and its lock; a writer's may be closed between calls.

    Once :meth:`let_readers_in` is called (a sync run), the writer closes the connection when a
    reader asks, and :attr:`con` reopens it (waiting for the readers to finish).  Whoever uses
    the connection holds :attr:`guard` for the whole use, so it is never closed under a query.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: str,
                 lock: WriterLock | ReaderLock | None = None,
                 reconnect: Callable[[], duckdb.DuckDBPyConnection] | None = None) -> None:
        self._con: duckdb.DuckDBPyConnection | None = connection
        self.path = path
        self._lock = lock
        self._reconnect = reconnect
        self._watch: ReaderWatch | None = None
        self.guard = threading.RLock()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open connection, reopened here if the writer stepped aside for readers."""
        with self.guard:
            if self._con is None:
                if not isinstance(self._lock, WriterLock) or self._reconnect is None:
                    raise StoreError(f"the store {self.path} is closed")
                self._lock.acquire_file()
                self._con = self._reconnect()
            return self._con

    def let_readers_in(self) -> None:
        """From now on, step aside whenever a reader asks (writers only)."""
        if isinstance(self._lock, WriterLock) and self._watch is None:
            self._watch = ReaderWatch(self._lock, self._step_aside)

    def _step_aside(self) -> None:
        with self.guard:
            writer = self._lock
            if self._con is None or not isinstance(writer, WriterLock) or \
                    not writer.reader_waiting():
                return
            log.debug("letting readers into the store %s", self.path)
            self._con.close()
            self._con = None
            writer.release_file()

    def close(self) -> None:
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        with self.guard:
            if self._con is not None:
                self._con.close()
                self._con = None
            if self._lock is not None:
                self._lock.close()
                self._lock = None


def open_shared(url: str, path: str, *, read_only: bool, wait_seconds: float,
                config: dict[str, Any]) -> SharedConnection:
    """Open the store file ``path`` as a writer or a reader, taking its locks first.

    :raises ConfigError: the folder cannot hold the store (names ``[store] url``).
    :raises StoreLockedError: another writer holds it past ``wait_seconds``.
    """
    lock: WriterLock | ReaderLock
    if read_only:
        lock = ReaderLock(path, wait_seconds)
    else:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            lock = WriterLock(path, wait_seconds)
        except OSError as exc:
            raise store_folder_error(url, path, exc) from None

    def connect(wait: float) -> duckdb.DuckDBPyConnection:
        con = connect_duckdb(url, path, read_only=read_only, config=config, wait_seconds=wait)
        con.execute("SET TimeZone = 'UTC'")
        return con

    try:
        if isinstance(lock, WriterLock):
            lock.acquire_file()
        con = connect(wait_seconds)
    except BaseException:
        lock.close()
        raise
    if isinstance(lock, ReaderLock):
        lock.admitted()
    return SharedConnection(con, path, lock, lambda: connect(0.0))
