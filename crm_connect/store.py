"""Stores: where canonical records, stream state, the sync log and the quarantine live.

The default store is a DuckDB file (``duckdb:///crm.duckdb``, relative to the configuration
file).  It has one table per canonical entity, plus:

``sync_state``   the state of each (source, stream), written in the same transaction as the
                 page of records it covers, so a sync killed at any moment resumes cleanly;
``sync_runs``    one row per sync run: start, end, status, counts per stream, error;
``quarantine``   records that failed validation, with the reason and the raw payload.

Records are upserted by ``(source, id)``: a page replaces the rows it carries and nothing else.
Timestamps are stored as UTC (``TIMESTAMP``), money as ``DECIMAL(38, 9)``.
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pyarrow as pa

from crm_connect.columns import entity_columns, records_to_arrow, split_storable
from crm_connect.connector import IdSweep
from crm_connect.errors import StoreError, StoreLockedError
from crm_connect.hookspecs import hookimpl
from crm_connect.schema import ENTITIES, CanonicalRecord

__all__ = ["DuckDBStore", "QuarantinedRecord", "Store", "entity_columns", "last_per_key",
           "open_store", "records_to_arrow"]


@dataclass
class QuarantinedRecord:
    """A record that could not be stored: why, where it came from, and its raw payload."""

    source: str
    stream: str
    entity: str
    reason: str
    raw: Any
    record_id: str | None = None
    location: str | None = None


class Store(abc.ABC):
    """The interface the sync runner and the metric engine use; DuckDB is the default."""

    scheme: ClassVar[str]

    @classmethod
    @abc.abstractmethod
    def open(cls, url: str, *, base_dir: Path, read_only: bool = False,
             wait_seconds: float = 0.0, memory_limit: str | None = None) -> Store:
        """Open (creating when needed) the store that ``url`` names."""

    @abc.abstractmethod
    def get_state(self, source: str, stream: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def write_page(self, *, entity: str, source: str, stream: str,
                   records: Sequence[CanonicalRecord] | pa.Table,
                   state: dict[str, Any] | None,
                   quarantined: Sequence[QuarantinedRecord], run_id: int,
                   id_sweep: IdSweep | None = None) -> int:
        """Upsert ``records`` (validated models, or an Arrow table from
        :func:`records_to_arrow` with one row per id), quarantine ``quarantined``, stage or
        finish ``id_sweep`` and save ``state``, all in one transaction.

        Returns how many stored rows a finished id sweep marked ``is_deleted`` (else 0)."""


    @abc.abstractmethod
    def begin_run(self, connections: Sequence[str]) -> int: ...

    @abc.abstractmethod
    def finish_run(self, run_id: int, status: str, counts: dict[str, Any],
                   error: str | None) -> None: ...

    @abc.abstractmethod
    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run SQL on the store's engine and return the rows."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- DuckDB -----------------------------------------------------------------------------------

def _parse_duckdb_url(url: str, base_dir: Path) -> str:
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


class DuckDBStore(Store):
    """The default store: one DuckDB file."""

    scheme = "duckdb"

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: str,
                 read_only: bool = False) -> None:
        self.con = connection
        self.path = path
        self.read_only = read_only
        self.con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            self.ensure_schema()

    @classmethod
    def open(cls, url: str, *, base_dir: Path, read_only: bool = False,
             wait_seconds: float = 0.0, memory_limit: str | None = None) -> DuckDBStore:
        path = _parse_duckdb_url(url, base_dir)
        if path != ":memory:":
            if read_only and not Path(path).exists():
                # Nothing synced yet: an empty store (in memory, no file left behind) answers
                # every question with no data.
                return cls(duckdb.connect(":memory:"), path, read_only=False)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {}
        if memory_limit:
            config["memory_limit"] = memory_limit
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                con = duckdb.connect(path, read_only=read_only, config=config)
                break
            except duckdb.IOException as exc:
                message = str(exc)
                if "lock" not in message.lower():
                    raise StoreError(f"cannot open store {path}: {message}") from None
                if time.monotonic() >= deadline:
                    pid = re.search(r"PID (\d+)", message)
                    holder = f" (PID {pid.group(1)})" if pid else ""
                    raise StoreLockedError(
                        f"the store {path} is in use by another crm-connect process{holder}, "
                        "probably a sync still running. Wait for it to finish, or pass "
                        "--wait SECONDS to wait for it."
                    ) from None
                time.sleep(0.25)
            except duckdb.Error as exc:
                raise StoreError(f"cannot open store {path}: {exc}") from None
        return cls(con, path, read_only=read_only)

    # -- schema -------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create missing tables and add columns that newer versions of the schema bring."""
        con = self.con
        existing = {
            (table, column)
            for table, column in con.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'main'"
            ).fetchall()
        }
        tables = {table for table, _ in existing}
        con.execute("BEGIN TRANSACTION")
        for entity in ENTITIES:
            columns = entity_columns(entity)
            if entity not in tables:
                body = ", ".join(f'"{name}" {sql_type}' for name, sql_type in columns)
                con.execute(f'CREATE TABLE "{entity}" ({body})')
            else:
                for name, sql_type in columns:
                    if (entity, name) not in existing:
                        con.execute(f'ALTER TABLE "{entity}" ADD COLUMN "{name}" {sql_type}')
        con.execute(
            "CREATE TABLE IF NOT EXISTS sync_state (source VARCHAR NOT NULL, "
            "stream VARCHAR NOT NULL, state JSON, run_id BIGINT, updated_at TIMESTAMP, "
            "PRIMARY KEY (source, stream))"
        )
        con.execute("CREATE SEQUENCE IF NOT EXISTS sync_run_ids START 1")
        con.execute(
            "CREATE TABLE IF NOT EXISTS sync_runs (run_id BIGINT PRIMARY KEY, "
            "started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP, status VARCHAR NOT NULL, "
            "connections JSON, counts JSON, error VARCHAR, pid BIGINT)"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS sync_id_sweep (source VARCHAR NOT NULL, "
            "stream VARCHAR NOT NULL, id VARCHAR NOT NULL)"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS quarantine (source VARCHAR NOT NULL, "
            "stream VARCHAR NOT NULL, entity VARCHAR NOT NULL, record_key VARCHAR NOT NULL, "
            "record_id VARCHAR, location VARCHAR, reason VARCHAR NOT NULL, raw JSON, "
            "run_id BIGINT, quarantined_at TIMESTAMP NOT NULL)"
        )
        con.execute("COMMIT")

    # -- state --------------------------------------------------------------------------------

    def get_state(self, source: str, stream: str) -> dict[str, Any] | None:
        if not self._has_table("sync_state"):
            return None
        row = self.con.execute(
            "SELECT state FROM sync_state WHERE source = ? AND stream = ?", [source, stream]
        ).fetchone()
        if row is None or row[0] is None:
            return None
        state = json.loads(row[0])
        return state if isinstance(state, dict) else None


    # -- writing ------------------------------------------------------------------------------

    def write_page(self, *, entity: str, source: str, stream: str,
                   records: Sequence[CanonicalRecord] | pa.Table,
                   state: dict[str, Any] | None,
                   quarantined: Sequence[QuarantinedRecord], run_id: int,
                   id_sweep: IdSweep | None = None) -> int:
        con = self.con
        deleted = 0
        now = _utcnow()
        if isinstance(records, pa.Table):
            page = records if records.num_rows else None
        else:
            page, unstorable = split_storable(entity, last_per_key(records))
            quarantined = [*quarantined, *(
                QuarantinedRecord(source, stream, entity, item.reason,
                                  item.record.model_dump(mode="json"), record_id=item.record.id)
                for item in unstorable)]
        con.execute("BEGIN TRANSACTION")
        committing = False
        try:
            if page is not None:
                con.register("_crm_page", page)
                con.execute(
                    f'DELETE FROM "{entity}" WHERE source = ? AND id IN '
                    "(SELECT id FROM _crm_page)",
                    [source],
                )
                names = ", ".join(f'"{name}"' for name in page.column_names)
                con.execute(f'INSERT INTO "{entity}" ({names}) SELECT {names} FROM _crm_page')
                con.unregister("_crm_page")
            if quarantined:
                self._quarantine(quarantined, run_id, now)
            if id_sweep is not None:
                deleted = self._sweep(entity, source, stream, id_sweep)
            if state is not None:
                con.execute(
                    "INSERT OR REPLACE INTO sync_state (source, stream, state, run_id, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [source, stream, json.dumps(state, default=str), run_id, now],
                )
            committing = True
            con.execute("COMMIT")
        except BaseException as exc:
            # A COMMIT that fails has already ended the transaction (DuckDB rolls it back);
            # a ROLLBACK then would fail too and hide the real cause.
            if not committing:
                self._rollback(exc)
            self._unregister_page_views()
            if isinstance(exc, duckdb.Error):
                raise StoreError(self._page_error(exc, source, stream)) from exc
            raise
        return deleted

    def _rollback(self, cause: BaseException) -> None:
        try:
            self.con.execute("ROLLBACK")
        except duckdb.Error as exc:
            cause.add_note(f"(and the rollback that followed failed: {exc})")

    def _unregister_page_views(self) -> None:
        """Drop the Arrow views of a failed write (an aborted transaction refuses it before
        the rollback, and an error there would replace the real cause)."""
        for name in ("_crm_page", "_crm_quarantine", "_crm_sweep"):
            with contextlib.suppress(duckdb.Error):
                self.con.unregister(name)

    def _page_error(self, exc: duckdb.Error, source: str, stream: str) -> str:
        message = str(exc).strip()
        if "no space left on device" in message.lower():
            what = f"no space left on device at {self.path}"
        else:
            what = f"the store {self.path} refused the write ({message})"
        return (f"{what}, while storing a page of {source}/{stream}: nothing of this page was "
                "stored; the next sync resumes from the last stored page once the cause is "
                "fixed")

    def _sweep(self, entity: str, source: str, stream: str, sweep: IdSweep) -> int:
        """Stage a part of an id sweep; on its last part mark the rows it did not list."""
        con = self.con
        if sweep.first:
            con.execute("DELETE FROM sync_id_sweep WHERE source = ? AND stream = ?",
                        [source, stream])
        if sweep.ids:
            part = pa.table({"id": pa.array(sweep.ids, type=pa.string())})
            con.register("_crm_sweep", part)
            con.execute("INSERT INTO sync_id_sweep SELECT ?, ?, id FROM _crm_sweep",
                        [source, stream])
            con.unregister("_crm_sweep")
        if not sweep.last:
            return 0
        row = con.execute(
            f'UPDATE "{entity}" AS t SET is_deleted = true WHERE t.source = ? '
            "AND NOT coalesce(t.is_deleted, false) AND starts_with(t.id, ?) AND NOT EXISTS "
            "(SELECT 1 FROM sync_id_sweep s WHERE s.source = ? AND s.stream = ? AND s.id = t.id)",
            [source, sweep.prefix, source, stream],
        ).fetchone()
        con.execute("DELETE FROM sync_id_sweep WHERE source = ? AND stream = ?",
                    [source, stream])
        return int(row[0]) if row else 0

    def _quarantine(self, rows: Sequence[QuarantinedRecord], run_id: int,
                    now: dt.datetime) -> None:
        values = []
        for row in rows:
            # What a vendor sent is kept even when it is not valid UTF-8 (why it may be here).
            record_id = _utf8(row.record_id)
            location = _utf8(row.location)
            raw = _json_text(row.raw)
            key = record_id or location or json.dumps(row.raw, sort_keys=True,
                                                      default=str)[:500]
            values.append([row.source, row.stream, row.entity, key, record_id, location,
                           _utf8(row.reason), raw, run_id, now])
        table = pa.table(
            list(zip(*values, strict=True)),
            names=["source", "stream", "entity", "record_key", "record_id", "location",
                   "reason", "raw", "run_id", "quarantined_at"],
        )
        self.con.register("_crm_quarantine", table)
        # The same bad record read again replaces its earlier entry: re-runs stay idempotent.
        self.con.execute(
            "DELETE FROM quarantine q USING _crm_quarantine n WHERE q.source = n.source "
            "AND q.stream = n.stream AND q.record_key = n.record_key"
        )
        self.con.execute("INSERT INTO quarantine SELECT * FROM _crm_quarantine")
        self.con.unregister("_crm_quarantine")

    # -- runs ---------------------------------------------------------------------------------

    def begin_run(self, connections: Sequence[str]) -> int:
        # Holding the write lock means no other sync is running: a run still marked
        # "running" was killed.
        self.con.execute(
            "UPDATE sync_runs SET status = 'interrupted', ended_at = coalesce(ended_at, ?), "
            "error = coalesce(error, 'the process stopped before the run ended') "
            "WHERE status = 'running'",
            [_utcnow()],
        )
        row = self.con.execute("SELECT nextval('sync_run_ids')").fetchone()
        assert row is not None
        run_id = int(row[0])
        self.con.execute(
            "INSERT INTO sync_runs (run_id, started_at, status, connections, pid) "
            "VALUES (?, ?, 'running', ?, ?)",
            [run_id, _utcnow(), json.dumps(list(connections)), os.getpid()],
        )
        return run_id

    def finish_run(self, run_id: int, status: str, counts: dict[str, Any],
                   error: str | None) -> None:
        self.con.execute(
            "UPDATE sync_runs SET status = ?, ended_at = ?, counts = ?, error = ? "
            "WHERE run_id = ?",
            [status, _utcnow(), json.dumps(counts, default=str), error, run_id],
        )


    # -- reading ------------------------------------------------------------------------------

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, parameters or []).fetchall()


    def total_records(self) -> int:
        """Records of every entity, all sources together (0 before the first sync)."""
        counts = " + ".join(f'(SELECT count(*) FROM "{entity}")' for entity in ENTITIES
                            if self._has_table(entity))
        row = self.con.execute(f"SELECT {counts or 0}").fetchone()
        return int(row[0]) if row else 0


    def _has_table(self, name: str) -> bool:
        row = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
        ).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        self.con.close()


def last_per_key(records: Sequence[CanonicalRecord]) -> Sequence[CanonicalRecord]:
    """Keep the last version of each id in a page (a page may carry one record twice)."""
    seen: dict[str, CanonicalRecord] = {}
    for record in records:
        seen[record.id] = record
    if len(seen) == len(records):
        return records
    return list(seen.values())


_SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8(text: str | None) -> str | None:
    """``text`` with any lone surrogate written out as ``\\udXXX`` so that it can be stored."""
    if text is None or text.isascii():
        return text
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _json_text(value: Any) -> str:
    """``value`` as JSON text the store's JSON parser accepts, lone surrogates included (as
    the visible text ``\\udXXX``; an escaped lone surrogate is not valid JSON)."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    if text.isascii():
        return text
    return _SURROGATE.sub(lambda match: f"\\\\u{ord(match.group()):04x}", text)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def open_store(url: str, *, base_dir: Path, read_only: bool = False, wait_seconds: float = 0.0,
               memory_limit: str | None = None) -> Store:
    """Open the store a ``[store] url`` names, with the backend a plugin registered for it."""
    from crm_connect.plugins import get_stores

    scheme = url.split("://", 1)[0] if "://" in url else ""
    stores = get_stores()
    if scheme not in stores:
        known = ", ".join(f"{name}://" for name in sorted(stores)) or "none"
        from crm_connect.errors import ConfigError

        raise ConfigError(f"[store] url {url!r}: no store plugin handles it (known: {known})")
    store: Store = stores[scheme].open(url, base_dir=base_dir, read_only=read_only,
                                       wait_seconds=wait_seconds, memory_limit=memory_limit)
    return store



@hookimpl
def register_stores(register: Any) -> None:
    register("duckdb", DuckDBStore)
