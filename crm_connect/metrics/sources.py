"""What the metric engine reads from: a store, or any engine holding the canonical tables.

Every :class:`~crm_connect.store_contract.Store` is a :class:`TableSource`; so is a Spark
session over a Parquet export (:class:`crm_connect.metrics.spark.SparkTables`), which holds
the tables but is no store (nothing is synced into it, no history is saved there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pyarrow as pa

__all__ = ["TableSource"]


class TableSource(Protocol):
    """The canonical tables on an engine: its SQL dialect and a way to query them."""

    @property
    def dialect(self) -> str:
        """The engine's SQL dialect, as sqlglot names it (``duckdb``, ``postgres``,
        ``spark``)."""

    def query_arrow(self, sql: str, parameters: Sequence[Any] | None = None) -> pa.Table:
        """Run a query in :attr:`dialect` and return its result as an Arrow table."""

    def execute(self, sql: str, parameters: Sequence[Any] | None = None
                ) -> list[tuple[Any, ...]]:
        """Run a query in :attr:`dialect` and return its rows."""

    def has_table(self, name: str) -> bool:
        """Whether the engine holds a table ``name``."""
