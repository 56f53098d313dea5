"""``export_parquet``: the store's canonical tables written as Parquet, for engines that read a
lake (Spark, Trino, DuckDB over files).

The layout is the one Spark and other engines discover by themselves: one folder per entity,
partitioned by source the Hive way::

    DIR/deals/source=sf_prod/part-0.parquet
    DIR/deals/source=hs_marketing/part-0.parquet
    DIR/spend/part-0.parquet            (an entity with no records: its columns, no rows)

Rows are read through the store contract (:meth:`Store.query_arrow`) in pages of
``batch_rows`` ordered by ``(source, id)`` and each page is written as one row group, so memory
stays flat whatever the size of the store, on DuckDB and on Postgres alike.  Every column has
the canonical Arrow type (timestamps UTC, money ``decimal128(38, 9)``, ``extra`` JSON text),
whichever store the rows came from.  An entity's folder is written beside its final place and
moved there only once complete: an export that fails leaves no half-written table.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from crm_connect.columns import entity_columns
from crm_connect.errors import ConfigError
from crm_connect.schema import ENTITIES, MONEY_PRECISION, MONEY_SCALE
from crm_connect.store_contract import Store

__all__ = ["BATCH_ROWS", "ExportSummary", "ExportedTable", "canonical_schema",
           "export_parquet"]

BATCH_ROWS = 50_000
"""Rows read from the store and written as one row group at a time."""

PARTIAL_PREFIX = ".partial-"
"""Folders being written start so (engines skip names starting with a dot)."""

_ARROW: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "JSON": pa.string(),
    f"DECIMAL({MONEY_PRECISION}, {MONEY_SCALE})": pa.decimal128(MONEY_PRECISION, MONEY_SCALE),
}

Progress = Callable[[str, int], None]
"""``progress(entity, rows)``: called after each page written with the rows it held."""


@dataclass
class ExportedTable:
    """One entity written: its rows, its files (one per source) and their bytes."""

    entity: str
    rows: int = 0
    sources: list[str] = field(default_factory=list)
    bytes: int = 0


@dataclass
class ExportSummary:
    """What :func:`export_parquet` wrote, entity by entity, in ``directory``."""

    directory: Path
    tables: list[ExportedTable]

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)

    @property
    def bytes(self) -> int:
        return sum(table.bytes for table in self.tables)


def canonical_schema(entity: str) -> pa.Schema:
    """The Arrow schema of ``entity``'s Parquet files (``source`` included)."""
    return pa.schema([(name, _ARROW[kind]) for name, kind in entity_columns(entity)])


def _check_directory(directory: Path, overwrite: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is a file, not a folder: give the folder to write the "
                          "Parquet tables into")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise ConfigError(f"{directory} is not empty: choose an empty or new folder, or pass "
                          "--overwrite to replace the tables in it")


def _pages(store: Store, entity: str, source: str, batch_rows: int) -> Iterator[pa.Table]:
    """``entity``'s rows of ``source`` in pages ordered by id (keyset pagination: each page
    starts after the last id of the one before, so no page is read twice)."""
    names = ", ".join(f'"{name}"' for name, _ in entity_columns(entity))
    last: str | None = None
    while True:
        if last is None:
            page = store.query_arrow(f'SELECT {names} FROM "{entity}" WHERE source = $1 '
                                     f"ORDER BY id LIMIT {batch_rows}", [source])
        else:
            page = store.query_arrow(f'SELECT {names} FROM "{entity}" WHERE source = $1 '
                                     f"AND id > $2 ORDER BY id LIMIT {batch_rows}",
                                     [source, last])
        if page.num_rows == 0:
            return
        yield page
        if page.num_rows < batch_rows:
            return
        last = str(page.column("id")[-1].as_py())


def _conform(page: pa.Table, schema: pa.Schema) -> pa.Table:
    """``page`` with the canonical column types (a store may give a JSON column as its own
    type, a timestamp without its zone, a decimal of another width)."""
    columns = []
    for column_field in schema:
        column = page.column(column_field.name)
        if pa.types.is_timestamp(column_field.type) and pa.types.is_timestamp(column.type) \
                and column.type.tz is None:
            column = column.cast(pa.timestamp("us")).cast(column_field.type)
        elif not column.type.equals(column_field.type):
            column = column.cast(column_field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _write_entity(store: Store, entity: str, folder: Path, batch_rows: int,
                  progress: Progress | None) -> ExportedTable:
    schema = canonical_schema(entity)
    in_files = pa.schema([f for f in schema if f.name != "source"])
    table = ExportedTable(entity)
    sources = [str(source) for (source,) in store.execute(
        f'SELECT DISTINCT source FROM "{entity}" ORDER BY source')] \
        if store.has_table(entity) else []
    folder.mkdir(parents=True)
    for source in sources:
        part = folder / f"source={quote(source, safe='')}"
        part.mkdir()
        with pq.ParquetWriter(part / "part-0.parquet", in_files) as writer:
            for page in _pages(store, entity, source, batch_rows):
                writer.write_table(_conform(page, schema).drop_columns(["source"]))
                table.rows += page.num_rows
                if progress is not None:
                    progress(entity, page.num_rows)
        table.sources.append(source)
    if not sources:  # engines need a file to learn the columns from
        pq.write_table(schema.empty_table(), folder / "part-0.parquet")
    table.bytes = sum(path.stat().st_size for path in folder.rglob("*.parquet"))
    return table


def export_parquet(store: Store, directory: Path, *, overwrite: bool = False,
                   entities: Sequence[str] | None = None, batch_rows: int = BATCH_ROWS,
                   progress: Progress | None = None) -> ExportSummary:
    """Write ``store``'s canonical tables to ``directory`` as Parquet, partitioned by source.

    :param overwrite: replace the tables already in ``directory`` (else a folder that is
        not empty is an error).
    :param entities: the entities to write (default: every canonical one).
    :param progress: told the rows of each page written.
    :raises ConfigError: ``directory`` is a file, or not empty without ``overwrite``
        (exit code 2).
    """
    _check_directory(directory, overwrite)
    wanted = list(entities or ENTITIES)
    unknown = [entity for entity in wanted if entity not in ENTITIES]
    if unknown:
        raise ConfigError(f"unknown entity {', '.join(unknown)}; the canonical entities: "
                          f"{', '.join(ENTITIES)}")
    directory.mkdir(parents=True, exist_ok=True)
    tables = []
    for entity in wanted:
        partial = directory / f"{PARTIAL_PREFIX}{entity}"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            tables.append(_write_entity(store, entity, partial, batch_rows, progress))
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        final = directory / entity
        if final.is_dir():
            shutil.rmtree(final)
        elif final.exists():
            final.unlink()
        partial.rename(final)
    return ExportSummary(directory, tables)
