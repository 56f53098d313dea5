"""``kpis --unify``: a customer known to two CRMs counts once (issue 19 part 3).

The store holds two CRMs and the ``resolved_entities`` table resolve would write
(:mod:`unify_dataset`: one customer in both, a look-alike that is not merged, singletons, a
record with no cluster row).  Every figure is worked out by hand there, plain and unified.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from kpi_dataset import AS_OF as DATASET_AS_OF
from kpi_dataset import RATES, load, open_memory_store
from pg_server import PostgresServer
from unify_dataset import (
    ACTIVE_BY_SOURCE,
    AS_OF,
    EXPECTED,
    MARCH,
    NEW_BY_SOURCE,
    RESOLVED_COLUMNS,
    load_two_crms,
)

from crm_connect.metrics import compute_kpis, get_kpis
from crm_connect.metrics.engine import KpiRequest, request_tree
from crm_connect.metrics.sqltree import render
from crm_connect.metrics.unified import read_resolution
from crm_connect.pgstore import PASSWORD_ENV, PostgresStore
from crm_connect.store import DuckDBStore

METRICS = list(EXPECTED)
MARCH_START = dt.datetime(2026, 3, 1)


def _totals(store: Any, *, unify: bool, by: tuple[str, ...] = ()) -> dict[str, Any]:
    rows = compute_kpis(store, metrics=METRICS, unify=unify, by=list(by), **MARCH)
    return {row.metric: row.value for row in rows if not row.dimensions}


def _check(store: Any) -> None:
    plain = _totals(store, unify=False)
    unified = _totals(store, unify=True)
    assert plain == pytest.approx({key: values[0] for key, values in EXPECTED.items()})
    assert unified == pytest.approx({key: values[1] for key, values in EXPECTED.items()})


def test_unified_kpis_count_a_customer_in_both_crms_once_on_duckdb(tmp_path: Path) -> None:
    with open_memory_store(tmp_path) as store:
        _check(load_two_crms(store))


@pytest.fixture
def pg_url(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, postgres_server.password)
    return postgres_server.create_database(f"u_{uuid.uuid4().hex[:12]}")


def test_unified_kpis_on_postgres_equal_the_hand_worked_values(tmp_path: Path,
                                                              pg_url: str) -> None:
    with PostgresStore.open(pg_url, base_dir=tmp_path) as store:
        load_two_crms(store)
        _check(store)
        by_source = compute_kpis(store, metrics=["active_customers"], by=["source"],
                                 unify=True, **MARCH)
        resolution = read_resolution(store)
    march = [row for row in by_source if str(row.period_start) == "2026-03-01"]
    assert {row.dimensions.get("source", "total"): row.value for row in march} == {
        **ACTIVE_BY_SOURCE, "total": 4}
    assert [(r.entity, r.records, r.clusters, r.sources) for r in resolution] == [
        ("accounts", 7, 5, 2), ("leads", 5, 3, 2)]


def test_by_source_counts_a_cluster_in_each_of_its_sources_and_once_in_the_total(
        tmp_path: Path) -> None:
    with open_memory_store(tmp_path) as store:
        load_two_crms(store)
        rows = compute_kpis(store, metrics=["active_customers", "new_customers"],
                            by=["source"], unify=True, **MARCH)
        plain = compute_kpis(store, metrics=["active_customers"], by=["source"], **MARCH)
    values = {(row.metric, row.dimensions.get("source", "total")): row.value for row in rows
              if str(row.period_start) == "2026-03-01"}
    assert values == {("active_customers", "sf"): ACTIVE_BY_SOURCE["sf"],
                      ("active_customers", "hs"): ACTIVE_BY_SOURCE["hs"],
                      ("active_customers", "total"): 4,
                      ("new_customers", "sf"): NEW_BY_SOURCE["sf"],
                      ("new_customers", "hs"): NEW_BY_SOURCE["hs"],
                      ("new_customers", "total"): 2}
    # Plain, the sources add up to the total (sf: SA1 SA2; hs: HA1 HA3 HA4).
    assert {row.dimensions.get("source", "total"): row.value for row in plain
            if str(row.period_start) == "2026-03-01"} == {"sf": 2, "hs": 3, "total": 5}


def test_unify_with_no_cluster_merged_equals_the_plain_catalogue(tmp_path: Path) -> None:
    """Resolve ran and merged nothing: every KPI of the catalogue, by source too, is the
    plain value."""
    keys = list(get_kpis())
    arguments: dict[str, Any] = dict(metrics=keys, grain="month", start="2026-01-01",
                                     end="2026-03-31", as_of=DATASET_AS_OF, rates=RATES)
    with open_memory_store(tmp_path) as store:
        load(store)
        load(store, source="b")
        store.ensure_table("resolved_entities", RESOLVED_COLUMNS)
        for by in ((), ("source",)):
            plain = compute_kpis(store, by=list(by), **arguments)
            unified = compute_kpis(store, by=list(by), unify=True, **arguments)
            assert [row.to_dict() for row in unified] == [row.to_dict() for row in plain]


def test_unify_before_resolve_ran_is_a_clear_error(tmp_path: Path, cli_process: Any) -> None:
    with DuckDBStore.open("duckdb:///crm.duckdb", base_dir=tmp_path) as store:
        load(store)
    (tmp_path / "crm-connect.toml").write_text('[store]\nurl = "duckdb:///crm.duckdb"\n')
    result = cli_process("kpis", "--unify", "--as-of", AS_OF, "--metric", "new_customers",
                 cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "run `crm-connect resolve` first" in " ".join(result.stderr.split())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    with DuckDBStore.open("duckdb:///crm.duckdb", base_dir=tmp_path) as store:
        load_two_crms(store)
    return tmp_path


def _json(cli: Any, project: Path, *args: str) -> tuple[dict[tuple[str, str], Any], str]:
    result = cli("kpis", "--as-of", AS_OF, "--from", "2026-03-01", "--to", "2026-03-31",
                 "--format", "json", *args, *(f"--metric={key}" for key in METRICS),
                 cwd=project)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    return ({(row["metric"], row["dimensions"].get("source", "total")): row["value"]
             for row in rows}, result.stderr)


def test_the_kpis_command_unifies_with_the_flag_or_the_config(project: Path,
                                                              cli: Any) -> None:
    config = project / "crm-connect.toml"
    config.write_text('[store]\nurl = "duckdb:///crm.duckdb"\n')
    plain, _ = _json(cli, project)
    flagged, stderr = _json(cli, project, "--unify")
    config.write_text('[store]\nurl = "duckdb:///crm.duckdb"\n\n[reporting]\nunify = true\n')
    configured, _ = _json(cli, project)
    overridden, _ = _json(cli, project, "--no-unify")
    for key, (plain_value, unified_value) in EXPECTED.items():
        assert plain[(key, "total")] == pytest.approx(plain_value, abs=0.01), key
        assert flagged[(key, "total")] == pytest.approx(unified_value, abs=0.01), key
    assert configured == flagged
    assert overridden == plain
    # JSON has no place for it: how many records resolved into how many customers goes to
    # stderr, stdout stays JSON.
    assert "Unified: 7 account records from 2 sources are 5 customers." in stderr
    assert "Unified: 5 lead records from 2 sources are 3 leads." in stderr


def test_the_table_says_how_many_records_resolved_into_how_many_customers(
        project: Path, cli: Any) -> None:
    (project / "crm-connect.toml").write_text('[store]\nurl = "duckdb:///crm.duckdb"\n')
    result = cli("kpis", "--unify", "--as-of", AS_OF, "--to", "2026-03-31", "--metric",
                 "active_customers", "--by", "source", cwd=project, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-2:] == ["Unified: 7 account records from 2 sources are 5 customers.",
                          "Unified: 5 lead records from 2 sources are 3 leads."]
    assert max(map(len, lines)) <= 80
    saved = cli("kpis", "--unify", "--save", "--as-of", AS_OF, cwd=project)
    assert saved.returncode == 2
    assert "--no-unify" in saved.stderr


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_the_unified_query_is_one_tree_rendered_for_each_engine(dialect: str) -> None:
    request = KpiRequest(metrics=("customer_churn_rate", "repeat_purchase_rate",
                                  "lead_conversion_rate"), grain="month",
                         start=MARCH_START, end=MARCH_START, as_of=MARCH_START,
                         breakdowns=("source",), unify=True)
    sql = render(request_tree(get_kpis(), request), dialect)
    assert "resolved_entities" in sql
    assert "PARTITION BY" in sql
    plain = render(request_tree(get_kpis(), KpiRequest(
        metrics=request.metrics, grain="month", start=MARCH_START, end=MARCH_START,
        as_of=MARCH_START, breakdowns=("source",))), dialect)
    assert "resolved_entities" not in plain




@pytest.mark.parametrize(("later_churn", "active", "churned"), [
    ("2026-04-15", 1, 0),  # one member is still a customer at March's end
    ("2026-03-20", 0, 1),  # every member churned in March: the cluster churned
])
def test_a_cluster_churns_when_every_customer_member_has_churned(
        tmp_path: Path, later_churn: str, active: int, churned: int) -> None:
    from kpi_dataset import t

    accounts = {
        "sf": [dict(id="X1", created_at=t("2025-01-01"), customer_since=t("2025-02-01"),
                    churned_at=t("2026-03-10"))],
        "hs": [dict(id="Y1", created_at=t("2025-03-01"), customer_since=t("2025-04-01"),
                    churned_at=t(later_churn)),
               # A prospect in the cluster: never a customer, so it does not hold it open.
               dict(id="Y2", created_at=t("2025-03-01"))],
    }
    with open_memory_store(tmp_path) as store:
        for source, rows in accounts.items():
            load(store, {"accounts": rows}, source=source)
        store.ensure_table("resolved_entities", RESOLVED_COLUMNS)
        store.append_arrow("resolved_entities", pa.table({
            "entity": ["accounts"] * 3, "source": ["sf", "hs", "hs"], "id": ["X1", "Y1", "Y2"],
            "cluster_id": ["K"] * 3, "name": ["X"] * 3}))
        rows = compute_kpis(store, metrics=["active_customers", "customer_churn_rate"],
                            unify=True, **MARCH)
    values = {row.metric: (row.value, row.numerator) for row in rows
              if str(row.period_start) == "2026-03-01"}
    assert values["active_customers"][0] == active
    assert values["customer_churn_rate"] == (100.0 * churned, churned)


@pytest.mark.parametrize("dialect", ["postgres", "spark"])
def test_the_unified_text_for_another_engine_computes_the_duckdb_values(
        tmp_path: Path, dialect: str) -> None:
    """The unified tree written for Postgres or Spark, read back into DuckDB by sqlglot,
    gives exactly the rows of the DuckDB rendering (Spark has no engine here to run it)."""
    import sqlglot

    from crm_connect.metrics.money import query_parameters
    from crm_connect.metrics.sqltree import inline_parameters

    request = KpiRequest(metrics=tuple(METRICS), grain="month", start=MARCH_START,
                         end=MARCH_START, as_of=dt.datetime(2026, 4, 10),
                         breakdowns=("source",), unify=True)
    tree = request_tree(get_kpis(), request)
    parameters = query_parameters(tree, request.money)
    text = render(inline_parameters(tree, parameters), dialect)
    with open_memory_store(tmp_path) as store:
        load_two_crms(store)
        direct = store.execute(render(tree), parameters)
        via = store.execute(sqlglot.transpile(text, read=dialect, write="duckdb")[0])
        plain = store.execute(render(request_tree(get_kpis(), KpiRequest(
            metrics=request.metrics, grain="month", start=MARCH_START, end=MARCH_START,
            as_of=request.as_of, breakdowns=("source",)))), parameters)
    assert sorted(map(repr, via)) == sorted(map(repr, direct))
    assert sorted(map(repr, plain)) != sorted(map(repr, direct))


def test_the_kpis_command_unifies_on_a_postgres_store(tmp_path: Path, pg_url: str,
                                                      cli: Any) -> None:
    with PostgresStore.open(pg_url, base_dir=tmp_path) as store:
        load_two_crms(store)
    (tmp_path / "crm-connect.toml").write_text(
        f'[store]\nurl = "{pg_url}"\n\n[reporting]\nunify = true\n')
    values, stderr = _json(cli, tmp_path, "--by", "source")
    assert {key: values[(key, "total")] for key in EXPECTED} == pytest.approx(
        {key: unified for key, (_, unified) in EXPECTED.items()}, abs=0.01)
    assert {source: values[("active_customers", source)] for source in ("sf", "hs")} == \
        ACTIVE_BY_SOURCE
    assert "Unified: 7 account records from 2 sources are 5 customers." in stderr
    csv_out = cli("kpis", "--as-of", AS_OF, "--to", "2026-03-31", "--format", "csv",
                  "--metric", "new_customers", "--no-unify", cwd=tmp_path)
    assert csv_out.returncode == 0, csv_out.stderr
    assert "Unified" not in csv_out.stderr
    march = [row for row in csv.DictReader(io.StringIO(csv_out.stdout))
             if row["period_start"] == "2026-03-01"]
    assert [row["value"] for row in march] == ["3"]  # plain N: SA2 HA1 HA4
