"""One KPI definition, any engine (issue 16 part 1): the catalogue is parsed into sqlglot
trees once, assembled as one query tree, and rendered per dialect, with time arithmetic as
dialect-aware nodes; which columns a measure reads is found from its tree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlglot
from kpi_dataset import AS_OF, RATES, load, open_memory_store

from crm_connect.errors import ConfigError, MetricError
from crm_connect.metrics import KpiRequest, compute_kpis, get_kpis
from crm_connect.metrics.catalogue import CATALOGUE
from crm_connect.metrics.compiler import measure_columns
from crm_connect.metrics.engine import request_tree
from crm_connect.metrics.money import query_parameters
from crm_connect.metrics.relations import columns_referenced
from crm_connect.metrics.sqltree import inline_parameters, parse, render
from crm_connect.store import DuckDBStore

ENGINES = ["duckdb", "postgres", "spark"]
ALSO_PARSED = ["trino", "snowflake", "bigquery"]


def _request(**changes: Any) -> KpiRequest:
    fields: dict[str, Any] = dict(
        metrics=tuple(get_kpis()), grain="month", start=dt.datetime(2026, 1, 1),
        end=dt.datetime(2026, 3, 1), as_of=dt.datetime(2026, 4, 10),
        breakdowns=("source", "owner"), currency="USD", rates=RATES)
    return KpiRequest(**{**fields, **changes})


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    """The whole catalogue by source and owner, in every dialect (parameters inlined where
    the engine binds no numbered ones)."""
    request = _request()
    tree = request_tree(get_kpis(), request)
    inlined = inline_parameters(tree, query_parameters(tree, request.money))
    return {dialect: render(tree if dialect in ("duckdb", "postgres") else inlined, dialect)
            for dialect in [*ENGINES, *ALSO_PARSED]}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    with open_memory_store(tmp_path) as opened:
        yield load(opened)


@pytest.mark.parametrize("dialect", [*ENGINES, *ALSO_PARSED])
def test_the_catalogue_query_reads_back_in_each_dialect(rendered: dict[str, str],
                                                        dialect: str) -> None:
    tree = sqlglot.parse_one(rendered[dialect], read=dialect)
    ctes = [cte.alias for cte in tree.find_all(sqlglot.exp.CTE)]
    assert ctes[0] == "periods" and "r0" in ctes and len(ctes) > 30


def test_every_definition_fragment_parses_in_every_dialect() -> None:
    for definition in CATALOGUE:
        texts = [definition.value, definition.numerator, definition.denominator,
                 definition.count, definition.null_when, *(m.expr for m in definition.measures),
                 *(m.where for m in definition.measures),
                 *(m.event or m.at or "TRUE" for m in definition.measures)]
        for text in filter(None, texts):
            for dialect in [*ENGINES, *ALSO_PARSED]:
                sqlglot.parse_one(render(parse(text), dialect), read=dialect)


@pytest.mark.parametrize(("dialect", "expected"), [
    ("duckdb", ["EPOCH(f.closed_at) - EPOCH(f.created_at)", "DATE_TRUNC('MONTH', f.closed_at)",
                "p.as_of - INTERVAL '7' DAYS", "DATE_DIFF('DAY', k.start_date, k.end_date)",
                "CASE COALESCE(d.currency, $1)"]),
    ("postgres", ["DATE_PART('epoch', f.closed_at) - DATE_PART('epoch', f.created_at)",
                  "DATE_TRUNC('MONTH', f.closed_at)", "p.as_of - INTERVAL '7 DAYS'",
                  "CAST(k.end_date AS DATE) - CAST(k.start_date AS DATE)",
                  "CASE COALESCE(d.currency, $1)", "DOUBLE PRECISION"]),
    ("spark", ["UNIX_TIMESTAMP(f.closed_at) - UNIX_TIMESTAMP(f.created_at)",
               "DATE_TRUNC('MONTH', f.closed_at)", "p.as_of - INTERVAL '7' DAYS",
               "DATEDIFF(DAY, k.start_date, k.end_date)", "CASE COALESCE(d.currency, 'USD')",
               "AS STRING"]),
])
def test_time_arithmetic_renders_per_dialect(rendered: dict[str, str], dialect: str,
                                             expected: list[str]) -> None:
    for text in expected:
        assert text in rendered[dialect], text


def test_a_week_grain_truncates_by_week() -> None:
    tree = request_tree(get_kpis(), _request(grain="week", metrics=("win_rate",)))
    for dialect in ENGINES:
        assert "DATE_TRUNC('WEEK', f.closed_at)" in render(tree, dialect)


def test_the_postgres_rendering_gives_the_duckdb_values(store: DuckDBStore) -> None:
    """The Postgres text, read back into DuckDB by sqlglot, computes exactly the values of
    the DuckDB rendering: the same tree, two dialects, one answer."""
    request = _request(breakdowns=("source",))
    tree = request_tree(get_kpis(), request)
    parameters = query_parameters(tree, request.money)
    direct = store.execute(render(tree), parameters)
    postgres = render(inline_parameters(tree, parameters), "postgres")
    via = store.execute(sqlglot.transpile(postgres, read="postgres", write="duckdb")[0])
    assert sorted(map(repr, via)) == sorted(map(repr, direct)) and len(direct) > 100


def test_the_columns_a_measure_reads_come_from_its_tree() -> None:
    assert columns_referenced("f.kind = 'f.clicked' AND p.as_of > f.occurred_at") == {
        "kind", "occurred_at"}
    assert columns_referenced("COALESCE(g.x, y)", alias="g") == {"x", "y"}
    cycle = next(m for d in CATALOGUE if d.key == "sales_cycle_length" for m in d.measures
                 if m.name == "days")
    assert measure_columns(cycle, ()) == {"is_won", "created_at", "closed_at"}
    assert measure_columns(cycle, ("industry",)) == {"is_won", "created_at", "closed_at",
                                                     "industry"}


def test_a_definition_that_is_not_sql_is_named() -> None:
    with pytest.raises(MetricError, match="cannot read the SQL"):
        parse("f.amount +* 2")
    with pytest.raises(MetricError, match="cannot write the KPI query for 'nosuchdb'"):
        render(parse("1"), "nosuchdb")


def test_the_request_is_one_checked_object() -> None:
    request = _request(metrics=("win_rate",), breakdowns=())
    assert request.look_back == 12 and len(request.periods) == 15
    assert [p.start.month for p in request.reported] == [1, 2, 3]
    assert _request(grain="quarter").look_back == 4
    with pytest.raises(ConfigError, match="unknown grain"):
        _request(grain="day")
    with pytest.raises(ConfigError, match="after --to"):
        _request(start=dt.datetime(2026, 5, 1))


def test_the_store_says_its_dialect_and_answers_in_arrow(store: DuckDBStore) -> None:
    assert store.dialect == "duckdb"
    table = store.query_arrow("SELECT source, COUNT(*) AS n FROM deals GROUP BY source")
    assert isinstance(table, pa.Table) and table.column("source").to_pylist() == ["a"]
    # compute_kpis renders for the store's dialect
    rows = compute_kpis(store, metrics=["win_rate"], grain="month", start="2026-03-01",
                        end="2026-03-31", as_of=AS_OF)
    assert [row.value for row in rows] == [75]


def test_the_side_queries_are_rendered_for_the_store_dialect(store: DuckDBStore) -> None:
    """Coverage and missing-rate checks are written for the store's engine too."""
    from crm_connect.metrics.coverage import read_coverage
    from crm_connect.metrics.money import MoneySql, missing_rates

    seen: list[str] = []

    def elsewhere(sql: str, parameters: Any) -> list[tuple[Any, ...]]:
        seen.append(sql)  # an engine this test does not run
        return []

    assert read_coverage(elsewhere, {"deals"}, "spark") == {}
    assert "CAST(created_at AS TIMESTAMP_NTZ)" in seen[-1] and "GREATEST(" in seen[-1]
    missing_rates(elsewhere, {("deals", "amount", "currency")}, MoneySql("USD", {}), "postgres")
    assert "SELECT DISTINCT 0 AS n, currency AS code FROM deals" in seen[-1]
    assert read_coverage(store.execute, {"deals"})["deals"].records > 0  # DuckDB by default


def test_a_request_object_runs_as_compute_kpis_does(store: DuckDBStore) -> None:
    from crm_connect.metrics import run_request

    request = KpiRequest(metrics=(), grain="month", start=dt.datetime(2026, 3, 1),
                         end=dt.datetime(2026, 3, 31), as_of=dt.datetime(2026, 4, 10),
                         breakdowns=("source",), rates=RATES)
    direct = compute_kpis(store, grain="month", start="2026-03-01", end="2026-03-31",
                          as_of=AS_OF, by=["source"], rates=RATES)
    assert [r.to_dict() for r in run_request(store, request)] == [r.to_dict() for r in direct]
