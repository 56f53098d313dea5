"""The KPI catalogue on Spark (local mode) over a Parquet export, and the same values on
DuckDB, Postgres and Spark for every KPI, period and breakdown, cell by cell, nulls included.

One SparkSession serves the whole run (the ``spark_session`` fixture): the JVM starts once.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from kpi_dataset import AS_OF, RATES, load, open_memory_store
from pg_server import PostgresServer

from conftest import CliCall
from crm_connect.errors import ConfigError
from crm_connect.export import export_parquet
from crm_connect.metrics import KpiRow, compute_kpis, get_kpis
from crm_connect.metrics.spark import SparkTables
from crm_connect.pgstore import PASSWORD_ENV, PostgresStore

Key = tuple[str, str, dt.date]


def _same(left: Any, right: Any) -> bool:
    """Equal, nulls included; floats to 1e-9 relative (engines add doubles in different
    orders, so the last digits of an average may differ)."""
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    return bool(left == right)


def _by_cell(rows: list[KpiRow]) -> dict[Key, dict[str, Any]]:
    return {(row.metric, json.dumps(row.dimensions, sort_keys=True), row.period_start):
            vars(row) for row in rows}


def _differences(left: dict[Key, dict[str, Any]], right: dict[Key, dict[str, Any]]
                 ) -> list[tuple[Key, str, Any, Any]]:
    return [(key, name, left[key][name], right[key][name]) for key in left
            for name in left[key] if not _same(left[key][name], right[key][name])]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The engine tests' dataset (two sources) exported as Parquet."""
    folder = tmp_path_factory.mktemp("lake")
    with open_memory_store(folder) as store:
        load(store)
        load(store, source="b")
        export_parquet(store, folder / "tables")
    return folder / "tables"


def test_duckdb_postgres_and_spark_agree_on_every_kpi_period_and_breakdown(
        tmp_path: Path, lake: Path, spark_session: Any, postgres_server: PostgresServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, postgres_server.password)
    url = postgres_server.create_database(f"s_{uuid.uuid4().hex[:12]}")
    definitions = get_kpis()
    keys = [key for key in definitions if "source" in definitions[key].dimensions]
    arguments: dict[str, Any] = dict(metrics=keys, by=["source"], grain="quarter",
                                     start="2025-01-01", as_of=AS_OF, rates=RATES)
    with PostgresStore.open(url, base_dir=tmp_path) as pg, \
            open_memory_store(tmp_path) as duck:
        for store in (pg, duck):
            load(store)  # type: ignore[arg-type]
            load(store, source="b")  # type: ignore[arg-type]
        on_duck = _by_cell(compute_kpis(duck, **arguments))
        on_pg = _by_cell(compute_kpis(pg, **arguments))
    on_spark = _by_cell(compute_kpis(SparkTables(spark_session, lake), **arguments))
    # Totals and both sources, the 5 reported quarters, every KPI with a source breakdown.
    assert len(on_duck) == len(keys) * 3 * 5
    assert on_spark.keys() == on_duck.keys() == on_pg.keys()
    assert _differences(on_duck, on_spark) == []
    assert _differences(on_duck, on_pg) == []
    # The comparison covers nulls with their notes and real values alike.
    values = [cell["value"] for cell in on_spark.values()]
    assert any(value is None for value in values) and any(value for value in values)
    assert any(cell["note"] for cell in on_spark.values() if cell["value"] is None)


def test_the_kpis_command_on_spark_equals_it_on_the_store(project: Path, cli: CliCall,
                                                          spark_session: Any) -> None:
    assert cli("sync", cwd=project).returncode == 0
    assert cli("export", "--format", "parquet", "lake", cwd=project).returncode == 0
    asked = ["kpis", "--metric", "win_rate", "--metric", "leads_created", "--by", "source",
             "--grain", "quarter", "--as-of", "2026-07-15T00:00:00Z", "--format", "json"]
    on_store = cli(*asked, cwd=project)
    on_spark = cli(*asked, "--engine", "spark", "--tables", "lake", cwd=project)
    assert on_spark.returncode == 0, on_spark.stderr
    assert on_spark.stderr == ""  # Spark's own log stays quiet
    assert _same(json.loads(on_spark.stdout), json.loads(on_store.stdout)) or \
        [(a, b) for a, b in zip(json.loads(on_spark.stdout), json.loads(on_store.stdout),
                                strict=True) if not _same(a, b)] == []
    # The session given to the command (this process's) is still running.
    assert spark_session.sql("SELECT 1 AS one").collect()[0].one == 1


def test_a_folder_without_tables_is_a_clear_error(tmp_path: Path, spark_session: Any) -> None:
    with pytest.raises(ConfigError, match="crm-connect export --format parquet"):
        SparkTables(spark_session, tmp_path)
    with pytest.raises(ConfigError, match="not a folder"):
        SparkTables(spark_session, tmp_path / "missing")


def test_engine_options_that_do_not_fit_exit_2(project: Path, cli: CliCall) -> None:
    no_tables = cli("kpis", "--engine", "spark", cwd=project)
    assert no_tables.returncode == 2 and "--tables DIR" in no_tables.stderr
    no_engine = cli("kpis", "--tables", "lake", cwd=project)
    assert no_engine.returncode == 2 and "--engine spark" in no_engine.stderr
    unknown = cli("kpis", "--engine", "oracle", cwd=project)
    assert unknown.returncode == 2 and "duckdb, postgres, spark" in unknown.stderr
    other = cli("kpis", "--engine", "postgres", cwd=project)
    assert other.returncode == 2 and "runs duckdb" in other.stderr
    history = cli("kpis", "--engine", "spark", "--tables", "lake", "--save", cwd=project)
    assert history.returncode == 2 and "--save" in history.stderr
