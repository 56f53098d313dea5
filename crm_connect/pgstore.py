"""The Postgres store: a shared store that several schedulers write at once (psycopg 3).

``[store] url = "postgresql://user@host:port/db"`` names the database.  Its password never
sits in the file: it comes from ``CRM_CONNECT_STORE_PASSWORD`` or the system keyring (service
``crm-connect``, key ``store.password``, set with ``crm-connect auth set store password``);
without either, libpq's own ways (``~/.pgpass``, trust or peer authentication) apply.

The tables are the DuckDB store's (:mod:`crm_connect.store`), with ``(source, id)`` as the
primary key of each entity table.  A page is loaded with ``COPY`` (the Arrow page written as
CSV by pyarrow, no row-by-row INSERT) into a temporary table, then upserted with
``INSERT ... ON CONFLICT (source, id) DO UPDATE``; its quarantined records, its id sweep and
its stream state are written in the same transaction.

Syncs of different connections may run at the same time; two syncs of the same connection
never do: each sync holds a session-level advisory lock per connection
(:meth:`PostgresStore.lock_connections`), which the server releases when the process's
session ends, however it ends (``kill -9`` included).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from crm_connect.columns import entity_columns, last_per_key, split_storable
from crm_connect.connector import IdSweep
from crm_connect.errors import ConfigError, StoreError, StoreLockedError
from crm_connect.hookspecs import hookimpl
from crm_connect.pgstore_sql import (
    arrow_column,
    json_text,
    lock_key,
    native_placeholders,
    postgres_type,
    redacted,
    storable_text,
    without_nul,
)
from crm_connect.schema import ENTITIES, CanonicalRecord
from crm_connect.secret_names import env_var_name
from crm_connect.secrets import get_secret
from crm_connect.store_contract import PageWrite, QuarantinedRecord, Store

__all__ = ["PASSWORD_ENV", "PostgresStore", "native_placeholders"]

PASSWORD_ENV = env_var_name("store", "password")
"""``CRM_CONNECT_STORE_PASSWORD``: the store's password for servers and CI."""

class PostgresStore(Store):
    """The canonical tables, sync state, runs and quarantine in one Postgres database."""

    scheme = "postgresql"
    dialect = "postgres"

    def __init__(self, connection: Any, url: str, read_only: bool = False) -> None:
        self._connection = connection
        self.url = url
        self.read_only = read_only
        self._locked: set[str] = set()

    @classmethod
    def open(cls, url: str, *, base_dir: Path, read_only: bool = False,
             wait_seconds: float = 0.0, memory_limit: str | None = None) -> PostgresStore:
        try:
            import psycopg
            from psycopg.types.string import TextLoader
        except ImportError:
            raise ConfigError("a postgresql:// store needs psycopg: pip install "
                              "'crm-connect[postgres]'") from None
        if urlsplit(url).password is not None:
            raise ConfigError(
                f"[store] url {redacted(url)!r} holds a password: remove it from the file and "
                f"set {PASSWORD_ENV}, or store it with `crm-connect auth set store password`")
        password = get_secret("store", "password")
        options: dict[str, Any] = {"password": password} if password else {}
        try:
            connection = psycopg.connect(
                url, autocommit=True, options="-c TimeZone=UTC",
                application_name=f"crm-connect (pid {os.getpid()} on {socket.gethostname()})",
                **options)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the store {redacted(url)}: "
                             f"{str(exc).strip()}") from None
        for name in ("json", "jsonb"):  # JSON reads back as text, as from DuckDB
            connection.adapters.register_loader(name, TextLoader)
        store = cls(connection, url, read_only=read_only)
        try:
            if not read_only or not all(store.has_table(name) for name in
                                        (*ENTITIES, "sync_runs", "quarantine")):
                store.ensure_schema()
        except BaseException:
            connection.close()
            raise
        return store

    @property
    def location(self) -> str:
        return redacted(self.url)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise StoreError(f"the store {self.location} refused {doing}: "
                             f"{str(exc).strip()}") from None

    def _run(self, sql: str, parameters: Sequence[Any] | None = None) -> Any:
        return self._connection.execute(sql, parameters)

    # -- schema -------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create missing tables and add columns that newer versions of the schema bring."""
        with self._errors("creating its tables"), self._connection.transaction():
            # Two processes creating the tables at once would collide in the catalogue.
            self._run("SELECT pg_advisory_xact_lock(%s)", [lock_key("")])
            for entity in ENTITIES:
                self._ensure(entity, entity_columns(entity), key=("source", "id"))
            self._run("CREATE TABLE IF NOT EXISTS sync_state (source text NOT NULL, "
                      "stream text NOT NULL, state jsonb, run_id bigint, updated_at timestamp, "
                      "PRIMARY KEY (source, stream))")
            self._run("CREATE SEQUENCE IF NOT EXISTS sync_run_ids START 1")
            self._run("CREATE TABLE IF NOT EXISTS sync_runs (run_id bigint PRIMARY KEY, "
                      "started_at timestamp NOT NULL, ended_at timestamp, status text NOT NULL, "
                      "connections jsonb, counts jsonb, error text, pid bigint)")
            self._run("CREATE TABLE IF NOT EXISTS sync_id_sweep (source text NOT NULL, "
                      "stream text NOT NULL, id text NOT NULL)")
            self._run("CREATE TABLE IF NOT EXISTS quarantine (source text NOT NULL, "
                      "stream text NOT NULL, entity text NOT NULL, record_key text NOT NULL, "
                      "record_id text, location text, reason text NOT NULL, raw jsonb, "
                      "run_id bigint, quarantined_at timestamp NOT NULL)")

    def _ensure(self, name: str, columns: Sequence[tuple[str, str]],
                key: Sequence[str] = ()) -> None:
        existing = {column for (column,) in self._run(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "current_schema() AND table_name = %s", [name]).fetchall()}
        if not existing:
            body = ", ".join(f'"{column}" {postgres_type(kind)}' for column, kind in columns)
            primary = f", PRIMARY KEY ({', '.join(key)})" if key else ""
            self._run(f'CREATE TABLE IF NOT EXISTS "{name}" ({body}{primary})')
            return
        for column, kind in columns:
            if column not in existing:
                plain = postgres_type(kind.removesuffix(" NOT NULL"))
                self._run(f'ALTER TABLE "{name}" ADD COLUMN IF NOT EXISTS "{column}" {plain}')

    def ensure_table(self, name: str, columns: Sequence[tuple[str, str]]) -> None:
        with self._errors(f"creating the table {name}"), self._connection.transaction():
            self._run("SELECT pg_advisory_xact_lock(%s)", [lock_key("")])
            self._ensure(name, columns)

    def has_table(self, name: str) -> bool:
        with self._errors("a look at its tables"):
            row = self._run("SELECT count(*) FROM information_schema.tables WHERE "
                            "table_schema = current_schema() AND table_name = %s",
                            [name]).fetchone()
        return bool(row and row[0])

    # -- the writer lock ----------------------------------------------------------------------

    def lock_connections(self, connections: Sequence[str], *, wait_seconds: float = 0.0
                         ) -> None:
        if self.read_only:
            raise StoreError(f"the store {self.location} was opened read-only: it cannot sync")
        deadline = time.monotonic() + wait_seconds
        for name in sorted(set(connections) - self._locked):
            delay = 0.05
            while True:
                with self._errors("a lock"):
                    row = self._run("SELECT pg_try_advisory_lock(%s)",
                                    [lock_key(name)]).fetchone()
                if row and row[0]:
                    self._locked.add(name)
                    break
                if time.monotonic() >= deadline:
                    raise StoreLockedError(self._locked_message(name))
                time.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
                delay = min(delay * 2, 1.0)

    def _locked_message(self, connection: str) -> str:
        key = lock_key(connection)
        row = self._run(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = %s AND l.objid = %s AND l.objsubid = 1",
            [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF]).fetchone()
        holder = ""
        match = re.search(r"\((pid \d+ on [^)]*)\)", str(row[0])) if row and row[0] else None
        if match:
            holder = f" ({match.group(1).replace('pid', 'PID', 1)})"
        return (f"the connection {connection} of the store {self.location} is being synced by "
                f"another crm-connect process{holder}. Wait for it to finish, or pass --wait "
                "SECONDS to wait for it; syncs of other connections may run meanwhile.")

    # -- state --------------------------------------------------------------------------------

    def get_state(self, source: str, stream: str) -> dict[str, Any] | None:
        with self._errors("reading a stream's state"):
            row = self._run("SELECT state FROM sync_state WHERE source = %s AND stream = %s",
                            [source, stream]).fetchone()
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
        import psycopg

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
        try:
            with self._connection.transaction():
                if page is not None:
                    changed, deleted = self._upsert(entity, page)
                if quarantined:
                    self._quarantine(quarantined, run_id, now)
                if id_sweep is not None:
                    deleted += self._sweep(entity, source, stream, id_sweep)
                if state is not None:
                    self._run(
                        "INSERT INTO sync_state (source, stream, state, run_id, updated_at) "
                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source, stream) DO UPDATE "
                        "SET state = EXCLUDED.state, run_id = EXCLUDED.run_id, "
                        "updated_at = EXCLUDED.updated_at",
                        [source, stream, json.dumps(state, default=str), run_id, now])
        except psycopg.Error as exc:
            raise StoreError(
                f"the store {self.location} refused the write ({str(exc).strip()}), while "
                f"storing a page of {source}/{stream}: nothing of this page was stored; the "
                "next sync resumes from the last stored page once the cause is fixed") from None
        return PageWrite(changed, deleted)

    def _copy_into(self, table: str, rows: pa.Table) -> None:
        """``COPY`` an Arrow table into ``table`` (columns by name), as CSV that pyarrow
        writes in one go: strings quoted, NULL as an unquoted empty field."""
        buffer = io.BytesIO()
        pa_csv.write_csv(rows, buffer, pa_csv.WriteOptions(include_header=False))
        names = ", ".join(f'"{name}"' for name in rows.column_names)
        with self._connection.cursor().copy(
                f'COPY "{table}" ({names}) FROM STDIN (FORMAT csv)') as copy:
            copy.write(buffer.getbuffer())

    def _all_new(self, entity: str, page: pa.Table) -> bool:
        """Every row of the page is one the store does not hold (a first sync's pages): its
        ids are distinct and none is stored under its source."""
        ids = page.column("id")
        if pc.count_distinct(ids).as_py() != page.num_rows:
            return False
        sources = pc.unique(page.column("source")).to_pylist()
        if len(sources) != 1:
            return False
        row = self._run(
            f'SELECT EXISTS (SELECT 1 FROM "{entity}" WHERE source = %s AND id = ANY(%s))',
            [sources[0], ids.to_pylist()]).fetchone()
        return not (row and row[0])

    def _upsert(self, entity: str, page: pa.Table) -> tuple[int, int]:
        """Upsert a page by ``(source, id)``: rows new or changed, and rows turned deleted."""
        if self._all_new(entity, page):  # COPY straight in: nothing to compare or replace
            self._copy_into(entity, without_nul(page, dict(entity_columns(entity))))
            deleted = page.column("is_deleted") if "is_deleted" in page.column_names else None
            turned = 0 if deleted is None else int(pc.sum(pc.fill_null(
                deleted.cast(pa.bool_()), False).cast(pa.int64())).as_py() or 0)
            return page.num_rows, turned
        self._run(f'CREATE TEMP TABLE _crm_page (LIKE "{entity}") ON COMMIT DROP')
        self._copy_into("_crm_page", without_nul(page, dict(entity_columns(entity))))
        names = [f'"{name}"' for name in page.column_names]
        mine = ", ".join(f"p.{name}" for name in names)
        stored = ", ".join(f"o.{name}" for name in names)
        row = self._run(
            f'SELECT count(*), count(*) FILTER (WHERE coalesce(p.is_deleted, false) AND NOT '
            f'coalesce(o.is_deleted, false)) FROM _crm_page p LEFT JOIN "{entity}" o '
            f"ON o.source = p.source AND o.id = p.id WHERE o.id IS NULL "
            f"OR ROW({mine}) IS DISTINCT FROM ROW({stored})").fetchone()
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names
                            if name not in ('"source"', '"id"'))
        listed = ", ".join(names)
        self._run(f'INSERT INTO "{entity}" ({listed}) SELECT {listed} FROM _crm_page '
                  f"ON CONFLICT (source, id) DO UPDATE SET {updates}")
        self._run("DROP TABLE _crm_page")
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def _sweep(self, entity: str, source: str, stream: str, sweep: IdSweep) -> int:
        """Stage a part of an id sweep; on its last part mark the rows it did not list."""
        if sweep.first:
            self._run("DELETE FROM sync_id_sweep WHERE source = %s AND stream = %s",
                      [source, stream])
        if sweep.ids:
            count = len(sweep.ids)
            self._copy_into("sync_id_sweep", pa.table({
                "source": pa.array([source] * count, pa.string()),
                "stream": pa.array([stream] * count, pa.string()),
                "id": pa.array(sweep.ids, pa.string())}))
        if not sweep.last:
            return 0
        cursor = self._run(
            f'UPDATE "{entity}" AS t SET is_deleted = true WHERE t.source = %s '
            "AND NOT coalesce(t.is_deleted, false) AND starts_with(t.id, %s) AND NOT EXISTS "
            "(SELECT 1 FROM sync_id_sweep s WHERE s.source = %s AND s.stream = %s "
            "AND s.id = t.id)", [source, sweep.prefix, source, stream])
        self._run("DELETE FROM sync_id_sweep WHERE source = %s AND stream = %s",
                  [source, stream])
        return int(cursor.rowcount or 0)

    def _quarantine(self, rows: Sequence[QuarantinedRecord], run_id: int,
                    now: dt.datetime) -> None:
        # Postgres text holds no NUL and no lone surrogate: both are written out visibly.
        values = []
        for row in rows:
            record_id = storable_text(row.record_id)
            location = storable_text(row.location)
            key = record_id or location or storable_text(json.dumps(row.raw, sort_keys=True,
                                                            default=str)[:500])
            values.append((row.source, row.stream, row.entity, key, record_id, location,
                           storable_text(row.reason), json_text(row.raw), run_id, now))
        names = ["source", "stream", "entity", "record_key", "record_id", "location",
                 "reason", "raw", "run_id", "quarantined_at"]
        self._run("CREATE TEMP TABLE _crm_quarantine (LIKE quarantine) ON COMMIT DROP")
        with self._connection.cursor().copy(
                f"COPY _crm_quarantine ({', '.join(names)}) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
        # The same bad record read again replaces its earlier entry: re-runs stay idempotent.
        self._run("DELETE FROM quarantine q USING _crm_quarantine n WHERE q.source = n.source "
                  "AND q.stream = n.stream AND q.record_key = n.record_key")
        self._run("INSERT INTO quarantine SELECT * FROM _crm_quarantine")
        self._run("DROP TABLE _crm_quarantine")

    def append_arrow(self, name: str, rows: pa.Table, *, replace_on: Sequence[str] = ()
                     ) -> int:
        with self._errors(f"a write to {name}"), self._connection.transaction():
            self._run(f'CREATE TEMP TABLE _crm_rows (LIKE "{name}") ON COMMIT DROP')
            self._copy_into("_crm_rows", rows)
            if replace_on:
                same = " AND ".join(f'r."{column}" = s."{column}"' for column in replace_on)
                self._run(f'DELETE FROM "{name}" s USING _crm_rows r WHERE {same}')
            listed = ", ".join(f'"{column}"' for column in rows.column_names)
            self._run(f'INSERT INTO "{name}" ({listed}) SELECT {listed} FROM _crm_rows')
            self._run("DROP TABLE _crm_rows")
        return int(rows.num_rows)

    # -- runs ---------------------------------------------------------------------------------

    def begin_run(self, connections: Sequence[str]) -> int:
        self.lock_connections(connections)
        with self._errors("logging the run"), self._connection.transaction():
            # This process holds the lock of each of these connections: a run of any of them
            # still marked "running" belongs to a process that died.
            self._run(
                "UPDATE sync_runs SET status = 'interrupted', ended_at = coalesce(ended_at, "
                "%s), error = coalesce(error, 'the process stopped before the run ended') "
                "WHERE status = 'running' AND EXISTS (SELECT 1 FROM "
                "jsonb_array_elements_text(connections) c WHERE c = ANY(%s))",
                [_utcnow(), list(connections)])
            row = self._run("SELECT nextval('sync_run_ids')").fetchone()
            run_id = int(row[0])
            self._run("INSERT INTO sync_runs (run_id, started_at, status, connections, pid) "
                      "VALUES (%s, %s, 'running', %s, %s)",
                      [run_id, _utcnow(), json.dumps(list(connections)), os.getpid()])
        return run_id

    def finish_run(self, run_id: int, status: str, counts: dict[str, Any],
                   error: str | None) -> None:
        with self._errors("logging the run"):
            self._run("UPDATE sync_runs SET status = %s, ended_at = %s, counts = %s, "
                      "error = %s WHERE run_id = %s",
                      [status, _utcnow(), json.dumps(counts, default=str),
                       storable_text(error) if error else None, run_id])

    # -- reading ------------------------------------------------------------------------------

    def _query(self, sql: str, parameters: Sequence[Any] | None) -> Any:
        """A cursor over ``sql`` with its ``?``/``$n`` parameters bound by the server."""
        import psycopg

        cursor = psycopg.RawCursor(self._connection)
        with self._errors("a query"):
            cursor.execute(native_placeholders(sql), list(parameters or []) or None)
        return cursor

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self._query(sql, parameters) as cursor:
            return list(cursor.fetchall()) if cursor.description else []

    def query_arrow(self, sql: str, parameters: Sequence[Any] | None = None) -> pa.Table:
        with self._query(sql, parameters) as cursor:
            if not cursor.description:
                return pa.table({})
            rows = cursor.fetchall()
            columns = list(zip(*rows, strict=True)) if rows else \
                [() for _ in cursor.description]
            arrays = [arrow_column(list(values), column.type_code)
                      for values, column in zip(columns, cursor.description, strict=True)]
            return pa.Table.from_arrays(arrays, names=[c.name for c in cursor.description])

    def total_records(self) -> int:
        counts = " + ".join(f'(SELECT count(*) FROM "{entity}")' for entity in ENTITIES
                            if self.has_table(entity))
        with self._errors("counting its records"):
            row = self._run(f"SELECT {counts or 0}").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Close the session: the server releases its advisory locks with it."""
        self._locked.clear()
        self._connection.close()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@hookimpl
def register_stores(register: Any) -> None:
    register("postgresql", PostgresStore)
    register("postgres", PostgresStore)
