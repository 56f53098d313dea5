"""The store contract: what the sync runner, the history commands and the metric engine ask of
a store, whatever engine holds it.

A store plugin implements :class:`Store` and contributes it through the ``register_stores``
hook; the DuckDB store (:mod:`crm_connect.store`) and the Postgres store
(:mod:`crm_connect.pgstore`) are the built-in ones.  Code that only uses a store types against
:class:`Store` from this module, never against a backend, and never reaches for a store's
database connection: the contract is the only way in.

SQL given to a store is in its :attr:`Store.dialect` (a sqlglot dialect name), with parameters
written ``$1``, ``$2``, ... (or ``?``, bound in order); every store binds them natively, so a
``%`` or a ``?`` inside a string literal stays text.

Generic column types (:data:`COLUMN_TYPES`), which each store maps onto its engine's, describe
the tables a caller creates (:meth:`Store.ensure_table`).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from crm_connect.connector import IdSweep
from crm_connect.schema import CanonicalRecord

__all__ = ["COLUMN_TYPES", "PageWrite", "QuarantinedRecord", "Store"]

COLUMN_TYPES = ("VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP", "JSON",
                "DECIMAL(38, 9)")
"""The column types :meth:`Store.ensure_table` accepts, each optionally followed by
``NOT NULL``."""


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


@dataclass(frozen=True)
class PageWrite:
    """What storing one page changed.

    ``changed``: rows inserted or changed (a record stored again exactly as it was is not);
    ``deleted``: rows that became ``is_deleted``, by a tombstone in the page or a finished
    id sweep.
    """

    changed: int = 0
    deleted: int = 0


class Store(abc.ABC):
    """The interface the sync runner and the metric engine use; DuckDB is the default."""

    scheme: ClassVar[str]
    dialect: ClassVar[str]
    """The SQL dialect the store runs, as sqlglot names it (``duckdb``, ``postgres``)."""

    @classmethod
    @abc.abstractmethod
    def open(cls, url: str, *, base_dir: Path, read_only: bool = False,
             wait_seconds: float = 0.0, memory_limit: str | None = None) -> Store:
        """Open (creating when needed) the store that ``url`` names."""

    @abc.abstractmethod
    def get_state(self, source: str, stream: str) -> dict[str, Any] | None:
        """The state last committed for ``(source, stream)``, or ``None`` before its first
        page (a full read then starts from the beginning)."""

    @abc.abstractmethod
    def write_page(self, *, entity: str, source: str, stream: str,
                   records: Sequence[CanonicalRecord] | pa.Table,
                   state: dict[str, Any] | None,
                   quarantined: Sequence[QuarantinedRecord], run_id: int,
                   id_sweep: IdSweep | None = None) -> PageWrite:
        """Upsert ``records`` (validated models, or an Arrow table from
        :func:`crm_connect.columns.records_to_arrow` with one row per id), quarantine
        ``quarantined``, stage or finish ``id_sweep`` and save ``state``, all in one
        transaction.

        Returns how many rows the page inserted or changed (identical ones do not count) and
        how many became deleted (tombstones in the page, and a finished id sweep)."""

    @abc.abstractmethod
    def begin_run(self, connections: Sequence[str]) -> int:
        """Log the start of a sync run over ``connections``; returns its run id."""

    @abc.abstractmethod
    def finish_run(self, run_id: int, status: str, counts: dict[str, Any],
                   error: str | None) -> None:
        """Log how run ``run_id`` ended: its status, its counts per stream and its error."""

    @abc.abstractmethod
    def lock_connections(self, connections: Sequence[str], *, wait_seconds: float = 0.0
                         ) -> None:
        """Take the writer lock for syncing ``connections``, held until :meth:`close` (and
        released by the operating system or the server if the process dies).

        A store that has one writer for everything (DuckDB) took its lock when opened; a
        shared store (Postgres) locks each connection, so that syncs of different
        connections run at the same time and two syncs of the same one never do.

        :raises StoreLockedError: another process holds one of them past ``wait_seconds``
            (exit code 73)."""

    @abc.abstractmethod
    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run SQL on the store's engine and return the rows."""

    @abc.abstractmethod
    def query_arrow(self, sql: str, parameters: Sequence[Any] | None = None) -> pa.Table:
        """Run a query in the store's dialect and return its result as an Arrow table."""

    @abc.abstractmethod
    def has_table(self, name: str) -> bool:
        """Whether the store holds a table ``name`` (a store written by an older version may
        lack one)."""

    @abc.abstractmethod
    def ensure_table(self, name: str, columns: Sequence[tuple[str, str]]) -> None:
        """Create table ``name`` with ``columns`` (name, one of :data:`COLUMN_TYPES`) if it is
        missing, and add the columns an existing one lacks."""

    @abc.abstractmethod
    def append_arrow(self, name: str, rows: pa.Table, *, replace_on: Sequence[str] = ()
                     ) -> int:
        """Append ``rows`` to table ``name`` (columns matched by name) in one transaction;
        with ``replace_on``, stored rows equal to a new one on those columns are removed first
        (an upsert).  Returns how many rows were appended."""

    @property
    def location(self) -> str:
        """Where the store is, for messages (a file, a server); never a secret."""
        return f"{self.scheme}://"

    def total_records(self) -> int | None:
        """Records of every entity, all sources together, or ``None`` when the store cannot
        count them cheaply; the ``kpis`` command says that a store holding none is empty."""
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Release the store (its connection, its lock); the object is unusable after."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
