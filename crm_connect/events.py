"""What a sync run tells plugins and the command line: the run, and how each stream ended.

These are the arguments of the ``sync_started``, ``stream_finished`` and ``sync_finished``
hooks (:mod:`crm_connect.hookspecs`) and the report :func:`crm_connect.sync.run_sync` returns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

__all__ = ["StreamResult", "SyncReport", "SyncRun"]


@dataclass
class SyncRun:
    """One ``crm-connect sync``: its id in the store's run log, the connections it covers, and
    its ``status`` (``running``, then ``succeeded``, ``failed``, ``stopped`` or
    ``interrupted``)."""

    run_id: int
    connections: list[str]
    full_refresh: bool
    status: str = "running"


@dataclass
class StreamResult:
    """How one stream of one connection ended in a run: its ``status`` (``succeeded``,
    ``failed`` or ``stopped``), its counts, its time and its error."""

    connection: str
    stream: str
    entity: str
    status: str = "succeeded"  # succeeded | failed | stopped
    records: int = 0
    """Records read and stored (including ones stored again unchanged)."""
    changed: int = 0
    """Stored rows inserted or changed: 0 when a re-sync finds nothing new."""
    quarantined: int = 0
    deleted: int = 0
    """Stored rows that became deleted: tombstones read, and hard deletes an id sweep found."""
    pages: int = 0
    seconds: float = 0.0
    error: str | None = None
    exit_code: int = 0
    stops_connection: bool = False
    """Credentials, configuration or quota: the connection's other streams would fail the same
    way (and repeated refused logins can lock the vendor account), so they are not tried."""
    warnings: list[str] = field(default_factory=list)
    """Records stored as they are but worth a look (won deals with a negative amount)."""
    retry_at: dt.datetime | None = None
    """A stream ``stopped`` by a spent quota: when the vendor said it renews, if it said."""

    @property
    def rate(self) -> float:
        """Records stored per second."""
        return self.records / self.seconds if self.seconds > 0 else 0.0


@dataclass
class SyncReport:
    """What :func:`crm_connect.sync.run_sync` returns: the run and one result per stream."""

    run: SyncRun
    results: list[StreamResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every stream succeeded."""
        return all(result.status == "succeeded" for result in self.results)

    @property
    def exit_code(self) -> int:
        """The command's exit code: the worst of the streams' (0 when all succeeded)."""
        return max((result.exit_code for result in self.results), default=0)
