"""The DuckDB store, the built-in implementation of :class:`crm_connect.store_contract.Store`:
where canonical records, stream state, the sync log and the quarantine live.

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

import contextlib
import datetime as dt
import functools
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from crm_connect.columns import entity_columns, last_per_key, records_to_arrow, split_storable
from crm_connect.connector import IdSweep
from crm_connect.errors import StoreError
from crm_connect.hookspecs import hookimpl
from crm_connect.schema import ENTITIES, CanonicalRecord
from crm_connect.store_access import SharedConnection, duckdb_path, open_shared
from crm_connect.store_contract import PageWrite, QuarantinedRecord, Store

# The contract's names stay importable from here, where they lived before store_contract.
__all__ = ["DuckDBStore", "PageWrite", "QuarantinedRecord", "Store", "entity_columns",
           "records_to_arrow"]



def _count_true(page: pa.Table, column: str) -> int:
    """Rows of ``page`` whose boolean ``column`` is true (a page without it: none)."""
    if column not in page.column_names:
        return 0
    return int(pc.sum(pc.fill_null(page.column(column), False).cast(pa.int64())).as_py() or 0)


CHECKPOINT_THRESHOLD = "64MB"
"""How much write-ahead log a writer gathers before DuckDB checkpoints it into the file."""


class DuckDBStore(Store):
    """The default store: one DuckDB file, one writer (a sync) and any number of readers.

    A writer in a sync run lets readers in between its pages (see
    :mod:`crm_connect.store_access`): its connection may then be closed between two calls, and
    :attr:`con` reopens it.  So code that uses the connection does so inside one of the
    store's methods, which hold the connection's guard (see ``_GUARDED`` below).
    """

    scheme = "duckdb"
    dialect = "duckdb"

    def __init__(self, connection: duckdb.DuckDBPyConnection | SharedConnection, path: str,
                 read_only: bool = False) -> None:
        if not isinstance(connection, SharedConnection):
            connection.execute("SET TimeZone = 'UTC'")
            connection = SharedConnection(connection, path)
        self._shared = connection
        self.path = path
        self.read_only = read_only
        if not read_only:
            try:
                self.ensure_schema()
            except BaseException:
                connection.close()
                raise

    @classmethod
    def open(cls, url: str, *, base_dir: Path, read_only: bool = False,
             wait_seconds: float = 0.0, memory_limit: str | None = None) -> DuckDBStore:
        path = duckdb_path(url, base_dir)
        config: dict[str, Any] = {"memory_limit": memory_limit} if memory_limit else {}
        if not read_only:
            # A sync commits a page at a time; checkpointing every 16 MB of log (DuckDB's
            # default) rewrote the growing tables several times a second.
            config["checkpoint_threshold"] = CHECKPOINT_THRESHOLD
        if path == ":memory:":
            return cls(duckdb.connect(path, read_only=read_only, config=config), path,
                       read_only=read_only)
        if read_only and not Path(path).exists():
            # Nothing synced yet: an empty store (in memory, no file left behind) answers
            # every question with no data.
            return cls(duckdb.connect(":memory:"), path, read_only=False)
        shared = open_shared(url, path, read_only=read_only, wait_seconds=wait_seconds,
                             config=config)
        return cls(shared, path, read_only=read_only)

    @property
    def location(self) -> str:
        """The DuckDB file (or ``:memory:``)."""
        return self.path

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection (reopened if the writer stepped aside for readers)."""
        return self._shared.con

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
                   id_sweep: IdSweep | None = None) -> PageWrite:
        con = self.con
        changed = deleted = 0
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
                if self._stored_ids(entity, source):
                    changed, deleted = self._count_changes(entity, source, page.column_names)
                    con.execute(
                        f'DELETE FROM "{entity}" WHERE source = ? AND id IN '
                        "(SELECT id FROM _crm_page)",
                        [source],
                    )
                else:  # every row is new (a first sync): nothing to compare or replace
                    changed, deleted = page.num_rows, _count_true(page, "is_deleted")
                names = ", ".join(f'"{name}"' for name in page.column_names)
                con.execute(f'INSERT INTO "{entity}" ({names}) SELECT {names} FROM _crm_page')
                con.unregister("_crm_page")
            if quarantined:
                self._quarantine(quarantined, run_id, now)
            if id_sweep is not None:
                deleted += self._sweep(entity, source, stream, id_sweep)
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
        return PageWrite(changed, deleted)

    def _stored_ids(self, entity: str, source: str) -> int:
        """How many ids of the registered page ``_crm_page`` the store holds already."""
        row = self.con.execute(
            f'SELECT count(*) FROM "{entity}" WHERE source = ? AND id IN '
            "(SELECT id FROM _crm_page)", [source]).fetchone()
        return int(row[0]) if row else 0

    def _count_changes(self, entity: str, source: str, columns: Sequence[str]
                       ) -> tuple[int, int]:
        """Rows of the registered page ``_crm_page`` that differ from the stored ones (new or
        changed), and how many of those turn a row deleted: what a re-sync reports."""
        names = ", ".join(f'"{name}"' for name in columns)
        row = self.con.execute(
            f"WITH changed AS (SELECT {names} FROM _crm_page EXCEPT SELECT {names} "
            f'FROM "{entity}" WHERE source = ? AND id IN (SELECT id FROM _crm_page)) '
            "SELECT count(*), count(*) FILTER (WHERE coalesce(c.is_deleted, false) "
            "AND NOT coalesce(o.is_deleted, false)) "
            f'FROM changed c LEFT JOIN "{entity}" o ON o.source = ? AND o.id = c.id',
            [source, source],
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

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
        self._shared.let_readers_in()  # a sync run: its calls all go through these methods
        return run_id

    def finish_run(self, run_id: int, status: str, counts: dict[str, Any],
                   error: str | None) -> None:
        self.con.execute(
            "UPDATE sync_runs SET status = ?, ended_at = ?, counts = ?, error = ? "
            "WHERE run_id = ?",
            [status, _utcnow(), json.dumps(counts, default=str), error, run_id],
        )


    def lock_connections(self, connections: Sequence[str], *, wait_seconds: float = 0.0
                         ) -> None:
        """The store file's writer lock, taken when it was opened, covers every connection."""
        if self.read_only:
            raise StoreError(f"the store {self.path} was opened read-only: it cannot sync")

    def ensure_table(self, name: str, columns: Sequence[tuple[str, str]]) -> None:
        con = self.con
        existing = {column for (column,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND table_name = ?", [name]).fetchall()}
        if not existing:
            body = ", ".join(f'"{column}" {kind}' for column, kind in columns)
            con.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({body})')
            return
        for column, kind in columns:
            if column not in existing:
                # A column added later cannot be NOT NULL: the rows already there lack it.
                plain = kind.removesuffix(" NOT NULL")
                con.execute(f'ALTER TABLE "{name}" ADD COLUMN IF NOT EXISTS "{column}" {plain}')

    def append_arrow(self, name: str, rows: pa.Table, *, replace_on: Sequence[str] = ()
                     ) -> int:
        con = self.con
        con.register("_crm_rows", rows)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                if replace_on:
                    same = " AND ".join(f'r."{column}" = s."{column}"' for column in replace_on)
                    con.execute(f'DELETE FROM "{name}" s WHERE EXISTS '
                                f"(SELECT 1 FROM _crm_rows r WHERE {same})")
                con.execute(f'INSERT INTO "{name}" BY NAME SELECT * FROM _crm_rows')
            except BaseException as exc:
                self._rollback(exc)
                raise
            con.execute("COMMIT")
        finally:
            con.unregister("_crm_rows")
        return int(rows.num_rows)

    # -- reading ------------------------------------------------------------------------------

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, parameters or []).fetchall()

    def query_arrow(self, sql: str, parameters: Sequence[Any] | None = None) -> pa.Table:
        # A cursor of its own: a result the connection left unfinished (a fetchone) does not
        # block it, and the relation API hands Arrow over without a copy.
        cursor = self.con.cursor()
        try:
            result: pa.Table = cursor.sql(sql, params=list(parameters or [])).to_arrow_table()
        finally:
            cursor.close()
        return result

    def has_table(self, name: str) -> bool:
        return self._has_table(name)

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
        self._shared.close()


def _holding_guard(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def guarded(self: DuckDBStore, *args: Any, **kwargs: Any) -> Any:
        with self._shared.guard:
            return method(self, *args, **kwargs)

    return guarded


# The methods that use the connection: a writer steps aside for readers between two of these
# calls, never during one.
_GUARDED = ("ensure_schema", "get_state", "write_page", "begin_run", "finish_run", "execute",
            "total_records", "query_arrow", "has_table", "ensure_table", "append_arrow")
for _name in _GUARDED:
    setattr(DuckDBStore, _name, _holding_guard(getattr(DuckDBStore, _name)))


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


@hookimpl
def register_stores(register: Any) -> None:
    register("duckdb", DuckDBStore)
