"""The store contract: what the sync runner, the history commands and the metric engine ask of
a store, whatever engine holds it.

A store plugin implements :class:`Store` and contributes it through the ``register_stores``
hook; the DuckDB store (:mod:`crm_connect.store`) is the built-in one.  Code that only uses a
store types against :class:`Store` from this module, never against a backend.
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

__all__ = ["PageWrite", "QuarantinedRecord", "Store"]


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
    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run SQL on the store's engine and return the rows."""

    @property
    def dialect(self) -> str:
        """The SQL dialect of the store's engine, as sqlglot names it (``duckdb``,
        ``postgres``): the metric engine renders its queries for it."""
        return "duckdb"

    def query_arrow(self, sql: str) -> pa.Table:
        """Run a query written in :attr:`dialect` and return its result as an Arrow table."""
        raise NotImplementedError(f"the {self.scheme} store cannot return Arrow tables")

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
