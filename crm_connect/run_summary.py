"""The summary of one ``crm-connect run``: what a scheduler reads after it (``--summary FILE``).

Its JSON shape is a stable, documented contract (README, "Running on a schedule")::

    {"exit_code": 0, "status": "succeeded", "started_at": "...", "finished_at": "...",
     "retry_after": null,
     "connections": {NAME: {"status": "...", "duration_s": 1.2,
                            "streams": {STREAM: {"status": "...", "records_read": 0,
                                                 "upserted": 0, "quarantined": 0,
                                                 "deleted": 0, "requests": {GROUP: 0},
                                                 "http_429": 0, "retries": 0,
                                                 "duration_s": 0.1, "error": null}},
                            "quota": {"used": 0, "left": 0, "resets_at": null}}},
     "kpis": {"rows_written": 0, "periods": ["2026-11-01", ...]}}

Times are ISO 8601 in UTC.  The file is written atomically (a reader never sees half of it),
on failure too.  It holds counts, statuses and error messages, never a secret.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_connect.exit_codes import ExitCode

__all__ = ["ConnectionSummary", "KpiSummary", "RunSummary", "StreamSummary", "iso",
           "parse_iso", "write_summary"]

RUN_STATUS = {ExitCode.OK: "succeeded", ExitCode.FAILED: "failed",
              ExitCode.DEFERRED: "deferred", ExitCode.LOCKED: "locked",
              ExitCode.USAGE: "usage_error"}
"""The summary's ``status`` for each exit code."""


def iso(moment: dt.datetime | None) -> str | None:
    """``moment`` as ISO 8601 in UTC (seconds), ``None`` as is."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def parse_iso(value: Any) -> dt.datetime | None:
    """The inverse of :func:`iso`."""
    return dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass
class StreamSummary:
    """How one stream of one connection ended."""

    status: str = "succeeded"
    records_read: int = 0
    upserted: int = 0
    quarantined: int = 0
    deleted: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    http_429: int = 0
    retries: int = 0
    duration_s: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "records_read": self.records_read,
                "upserted": self.upserted, "quarantined": self.quarantined,
                "deleted": self.deleted, "requests": dict(self.requests),
                "http_429": self.http_429, "retries": self.retries,
                "duration_s": round(self.duration_s, 3), "error": self.error}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamSummary:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass
class ConnectionSummary:
    """How one connection's sync ended: ``succeeded``, ``failed``, ``deferred`` (a spent
    daily quota), ``locked`` (another run syncs it) or ``usage_error``."""

    status: str = "succeeded"
    duration_s: float = 0.0
    streams: dict[str, StreamSummary] = field(default_factory=dict)
    quota_used: int | None = None
    quota_left: int | None = None
    resets_at: dt.datetime | None = None
    error: str | None = None
    """What ended the connection before any stream ran (its configuration, the lock)."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status, "duration_s": round(self.duration_s, 3),
            "streams": {name: stream.to_dict() for name, stream in self.streams.items()},
            "quota": {"used": self.quota_used, "left": self.quota_left,
                      "resets_at": iso(self.resets_at)},
        }
        if self.error:
            data["error"] = self.error
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConnectionSummary:
        quota = data.get("quota") or {}
        return cls(status=data["status"], duration_s=data.get("duration_s", 0.0),
                   streams={name: StreamSummary.from_dict(stream)
                            for name, stream in (data.get("streams") or {}).items()},
                   quota_used=quota.get("used"), quota_left=quota.get("left"),
                   resets_at=parse_iso(quota.get("resets_at")), error=data.get("error"))


@dataclass
class KpiSummary:
    """The KPI snapshot step: rows saved to ``kpi_snapshots`` and the periods they cover."""

    rows_written: int = 0
    periods: list[str] = field(default_factory=list)
    status: str = "skipped"  # skipped | succeeded | failed
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rows_written": self.rows_written,
                                "periods": list(self.periods), "status": self.status}
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class RunSummary:
    """One ``crm-connect run``, from start to exit code."""

    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    exit_code: ExitCode = ExitCode.OK
    retry_after: dt.datetime | None = None
    connections: dict[str, ConnectionSummary] = field(default_factory=dict)
    kpis: KpiSummary = field(default_factory=KpiSummary)
    error: str | None = None
    """What ended the whole run (a usage error, the store's lock), beside the connections'."""
    interrupted: bool = False
    """Ctrl-C or SIGTERM stopped the run (exit code 1)."""

    @property
    def status(self) -> str:
        return RUN_STATUS[self.exit_code]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "exit_code": int(self.exit_code), "status": self.status,
            "started_at": iso(self.started_at), "finished_at": iso(self.finished_at),
            "retry_after": iso(self.retry_after),
            "connections": {name: connection.to_dict()
                            for name, connection in self.connections.items()},
            "kpis": self.kpis.to_dict(),
        }
        if self.error:
            data["error"] = self.error
        return data


def write_summary(path: str | os.PathLike[str], summary: RunSummary) -> None:
    """Write ``summary`` as JSON to ``path`` atomically: a temporary file beside it, flushed,
    then renamed over it, so a reader sees the old file or the new one, never a part."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                         dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(summary.to_dict(), file, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
