"""``crm-connect export --format parquet DIR``: the canonical tables as Parquet, partitioned by
source, equal row for row to the store they came from (DuckDB and Postgres)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from kpi_dataset import load, open_memory_store
from pg_server import PostgresServer

from conftest import CliCall
from crm_connect.columns import entity_columns
from crm_connect.errors import ConfigError
from crm_connect.export import canonical_schema, export_parquet
from crm_connect.pgstore import PASSWORD_ENV, PostgresStore
from crm_connect.schema import ENTITIES
from crm_connect.store_contract import Store


def _read(directory: Path, entity: str) -> pa.Table:
    """An exported table as an engine reading the lake sees it (Hive partitions)."""
    partitioning = ds.partitioning(pa.schema([("source", pa.string())]), flavor="hive")
    table = ds.dataset(directory / entity, format="parquet",
                       partitioning=partitioning).to_table()
    return table.sort_by([("source", "ascending"), ("id", "ascending")])


def _stored(store: Store, entity: str) -> pa.Table:
    names = ", ".join(field.name for field in canonical_schema(entity))
    return store.query_arrow(f"SELECT {names} FROM {entity} ORDER BY source, id")


def _same_rows(exported: pa.Table, stored: pa.Table, entity: str) -> None:
    """Equal cell by cell; JSON compared as values (Postgres writes ``{"a": 1}`` where
    DuckDB writes ``{"a":1}``)."""
    json_columns = {name for name, kind in entity_columns(entity) if kind == "JSON"}
    assert exported.num_rows == stored.num_rows, entity
    for field in canonical_schema(entity):
        left = exported.column(field.name).cast(field.type).to_pylist()
        right = stored.column(field.name)
        if pa.types.is_timestamp(field.type) and right.type.tz is None:
            right = right.cast(pa.timestamp("us")).cast(field.type)
        right_values = right.cast(field.type).to_pylist()
        if field.name in json_columns:
            left, right_values = ([json.loads(v) for v in values]
                                  for values in (left, right_values))
        assert left == right_values, (entity, field.name)


def test_every_table_is_written_by_source_with_every_row(tmp_path: Path) -> None:
    with open_memory_store(tmp_path) as store:
        load(store)
        load(store, source="b")
        # Pages of 3 rows: the keyset pages must neither skip nor repeat a row.
        summary = export_parquet(store, tmp_path / "lake", batch_rows=3)
        for entity in ENTITIES:
            _same_rows(_read(tmp_path / "lake", entity), _stored(store, entity), entity)
    deals = next(table for table in summary.tables if table.entity == "deals")
    assert deals.sources == ["a", "b"] and deals.rows == 20
    assert sorted(p.relative_to(tmp_path / "lake").as_posix()
                  for p in (tmp_path / "lake" / "deals").rglob("*.parquet")) == [
        "deals/source=a/part-0.parquet", "deals/source=b/part-0.parquet"]
    # An entity without records still has its columns, for engines to read.
    assert _read(tmp_path / "lake", "contacts").num_rows == 0
    assert set(canonical_schema("contacts").names) <= set(
        _read(tmp_path / "lake", "contacts").column_names)
    assert summary.rows == sum(table.rows for table in summary.tables) > 100
    assert not list((tmp_path / "lake").glob(".partial-*"))


def test_a_folder_that_is_not_empty_needs_overwrite(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with open_memory_store(tmp_path) as store:
        load(store)
        export_parquet(store, lake)
        with pytest.raises(ConfigError, match=r"not empty.*--overwrite"):
            export_parquet(store, lake)
        load(store, source="b")
        export_parquet(store, lake, overwrite=True)
    assert sorted(p.name for p in (lake / "deals").iterdir()) == ["source=a", "source=b"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        export_parquet(store, tmp_path / "file")


def test_the_postgres_store_exports_the_same_rows(tmp_path: Path,
                                                  postgres_server: PostgresServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, postgres_server.password)
    url = postgres_server.create_database(f"x_{uuid.uuid4().hex[:12]}")
    with PostgresStore.open(url, base_dir=tmp_path) as pg, open_memory_store(tmp_path) as duck:
        for store in (pg, duck):
            load(store)  # type: ignore[arg-type]
            load(store, source="b")  # type: ignore[arg-type]
        export_parquet(pg, tmp_path / "pg", batch_rows=4)
        for entity in ENTITIES:
            _same_rows(_read(tmp_path / "pg", entity), _stored(duck, entity), entity)


def test_the_export_command_writes_and_summarises(project: Path, cli: CliCall) -> None:
    assert cli("sync", cwd=project).returncode == 0
    result = cli("export", "--format", "parquet", "lake", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "partitioned by source" in result.stdout and "deals" in result.stdout
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    assert (project / "lake" / "deals" / "source=finance" / "part-0.parquet").is_file()
    again = cli("export", "--format", "parquet", "lake", cwd=project)
    assert again.returncode == 2 and "not empty" in again.stderr
    assert "Traceback" not in again.stderr
    assert cli("export", "--format", "parquet", "--overwrite", "lake",
               cwd=project).returncode == 0
    wrong = cli("export", "--format", "csv", "other", cwd=project)
    assert wrong.returncode == 2 and "parquet" in wrong.stderr
