"""Log output of ``crm-connect run``: text for people, or one JSON object per line.

``--log-format json`` writes every log record to stderr as one line::

    {"timestamp": "2026-12-03T10:00:00.123+00:00", "level": "info", "logger": "crm_connect.run",
     "event": "stream_finished", "message": "...", "connection": "sf", "stream": "accounts",
     "counts": {...}, "requests": {...}, "quota_left": 1234}

The fields beside ``timestamp``, ``level``, ``logger`` and ``message`` come from the
``extra`` of the record (the run's events set ``event``, ``connection``, ``stream``,
``counts``, ``requests``, ``http_429``, ``retries``, ``quota_left``, ...); a plain log line of
the library has ``event`` ``"log"``.  URL query strings are cut from messages, as everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

__all__ = ["EVENT_FIELDS", "JsonLogFormatter", "configure_run_logging"]

EVENT_FIELDS = ("event", "connection", "stream", "status", "counts", "requests", "http_429",
                "retries", "quota_left", "quota_used", "duration_s", "exit_code", "run_id",
                "rows_written", "periods", "retry_after", "error", "connections")
"""The ``extra`` fields a JSON line carries when a record has them."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        from crm_connect.resilience.policy import redact

        line: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": "log",
            "message": redact(record.getMessage()),
        }
        for name in EVENT_FIELDS:
            if name in record.__dict__:
                line[name] = record.__dict__[name]
        if record.exc_info and record.exc_info[1] is not None:
            line["error"] = redact(f"{type(record.exc_info[1]).__name__}: "
                                   f"{record.exc_info[1]}")
        return json.dumps(line, default=str)


def configure_run_logging(log_format: str, verbose: int) -> None:
    """Send log records to stderr as text or JSON lines.  JSON shows the run's events (INFO)
    even without ``-v``; text shows them with ``-v``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
        level = logging.DEBUG if verbose >= 2 else logging.INFO
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 \
            else logging.DEBUG
    root.addHandler(handler)
    root.setLevel(level)
