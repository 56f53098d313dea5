"""Identity resolution on Spark (issue 19): ``crm-connect resolve --engine spark --tables DIR``
over the Parquet export of the two-CRM fixture test_resolve.py uses, against ``resolve`` on
DuckDB; and ``kpis --engine spark --unify`` against DuckDB's ``--unify``, cell by cell.

The commands run as a user runs them (the installed ``crm-connect``, local Spark); the
in-process checks share the run's one SparkSession (the ``spark_session`` fixture).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from unify_dataset import EXPECTED, MARCH, load_two_crms

from conftest import run_cli_process
from crm_connect.config import open_store
from crm_connect.export import export_parquet
from crm_connect.metrics import compute_kpis
from crm_connect.metrics.spark import SparkTables
from crm_connect.resolve.spark import resolve_on_spark
from crm_connect.resolve.tables import RESOLVED_COLUMNS

FIXTURE = Path(__file__).parent / "fixtures" / "resolve"
CONFIG = """[connections.crm_a]
connector = "files"
path = "crm_a/"

[connections.crm_b]
connector = "files"
path = "crm_b/"
"""
CONNECTORS = {"crm_a": "files", "crm_b": "files"}
ENTITIES = ("accounts",)
"""What the tests resolve on both engines: the accounts (seven comparisons, the domain rule and
the cross-CRM ids; contacts and leads run the same code, and local Spark is slow to train)."""
WHICH = [option for entity in ENTITIES for option in ("--entity", entity)]
RULES = ("email", "domain", "linked_id")
Pair = tuple[tuple[str, str], tuple[str, str]]


def _ok(result: Any) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return str(result.stdout)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory, spark_session: Any) -> Path:
    """The fixture synced into a DuckDB file and resolved there, exported as Parquet to
    ``lake/`` and resolved on Spark, with the review file of each."""
    folder = tmp_path_factory.mktemp("org")
    for source in ("crm_a", "crm_b"):
        shutil.copytree(FIXTURE / source, folder / source)
    (folder / "crm-connect.toml").write_text(CONFIG)
    _ok(run_cli_process("sync", cwd=folder))
    _ok(run_cli_process("export", "--format", "parquet", "lake", cwd=folder))
    _ok(run_cli_process("resolve", *WHICH, cwd=folder, timeout=600))
    # In this process, on the run's one SparkSession: a JVM start costs half a minute, and
    # the command's own path (options, session, summary) is run by the next tests.
    resolve_on_spark(spark_session, folder / "lake", ENTITIES, connectors=CONNECTORS)
    return folder


def _duckdb(folder: Path, table: str) -> list[dict[str, Any]]:
    store = open_store("duckdb:///crm.duckdb", base_dir=folder, read_only=True)
    try:
        return store.query_arrow(f"SELECT * FROM {table}").to_pylist()  # type: ignore[no-any-return]
    finally:
        store.close()


def _parquet(folder: Path, table: str) -> list[dict[str, Any]]:
    """A table resolve on Spark wrote, read without Spark (the documented layout)."""
    return pq.read_table(folder / "lake" / table, partitioning="hive").to_pylist()


def _clusters(rows: list[dict[str, Any]], entity: str) -> dict[tuple[str, str], str]:
    return {(row["source"], row["id"]): row["cluster_id"] for row in rows
            if row["entity"] == entity}


def _pairs(rows: list[dict[str, Any]], entity: str, deciders: tuple[str, ...]) -> set[Pair]:
    return {((row["source_l"], row["id_l"]), (row["source_r"], row["id_r"])) for row in rows
            if row["entity"] == entity and row["review_status"] == "accepted"
            and row["decided_by"].split(":")[0] in deciders}


def _together(clusters: dict[tuple[str, str], str]) -> set[Pair]:
    """Every pair of records in one cluster."""
    members: dict[str, list[tuple[str, str]]] = {}
    for record, cluster in clusters.items():
        members.setdefault(cluster, []).append(record)
    return {(a, b) for group in members.values() for a in group for b in group if a < b}


@pytest.mark.parametrize("entity", ENTITIES)
def test_spark_links_what_duckdb_links(org: Path, entity: str) -> None:
    duck_rows, spark_rows = _duckdb(org, "resolved_entities"), _parquet(org,
                                                                      "resolved_entities")
    duck_links, spark_links = _duckdb(org, "entity_links"), _parquet(org, "entity_links")
    on_duck, on_spark = _clusters(duck_rows, entity), _clusters(spark_rows, entity)
    assert on_spark.keys() == on_duck.keys() and on_duck
    # The rules decide the same pairs, and each of them is one cluster on both engines.
    rules = _pairs(duck_links, entity, RULES)
    assert rules and rules == _pairs(spark_links, entity, RULES)
    assert all(on_spark[a] == on_spark[b] for a, b in rules)
    # The model, trained on each engine, accepts (nearly) the same pairs.
    model_duck, model_spark = (_pairs(duck_links, entity, ("splink",)),
                               _pairs(spark_links, entity, ("splink",)))
    union = model_duck | model_spark
    assert not union or len(model_duck & model_spark) / len(union) >= 0.95, (
        model_duck ^ model_spark)
    together_duck, together_spark = _together(on_duck), _together(on_spark)
    assert len(together_duck & together_spark) >= 0.95 * len(together_duck | together_spark)
    # Records the model did not touch keep the same ids: ids come from the members.
    same = sum(on_duck[record] == on_spark[record] for record in on_duck)
    assert same >= 0.95 * len(on_duck)


def test_resolving_again_on_spark_keeps_cluster_ids_and_decisions_win(
        org: Path, tmp_path: Path, spark_session: Any) -> None:
    folder = tmp_path / "org"
    shutil.copytree(org, folder)
    before = _clusters(_parquet(folder, "resolved_entities"), "accounts")
    # A reviewer says two accounts a rule put together are different companies.
    rule = sorted(_pairs(_parquet(folder, "entity_links"), "accounts", ("domain",)))[0]
    (left_source, left_id), (right_source, right_id) = rule
    (folder / "decisions.csv").write_text(
        "entity,source_l,id_l,source_r,id_r,decision\n"
        f"accounts,{left_source},{left_id},{right_source},{right_id},no-match\n")
    output = _ok(run_cli_process("resolve", "--engine", "spark", "--tables", "lake",
                                 "--entity", "accounts", "--decisions", "decisions.csv",
                                 cwd=folder, timeout=600))
    assert "1 decisions read" in output
    after = _clusters(_parquet(folder, "resolved_entities"), "accounts")
    assert after[rule[0]] != after[rule[1]]
    assert sum(before[r] == after[r] for r in before) >= len(before) - 2
    # Kept in the folder: a later run (a re-export in between) still splits them.
    _ok(run_cli_process("export", "--format", "parquet", "lake", "--overwrite", cwd=folder))
    resolve_on_spark(spark_session, folder / "lake", ["accounts"], connectors=CONNECTORS)
    again = _clusters(_parquet(folder, "resolved_entities"), "accounts")
    assert again == after


def _same(left: Any, right: Any) -> bool:
    """Equal, nulls included; numbers to 1e-9 relative (engines sum in other orders)."""
    if isinstance(left, int | float) and isinstance(right, int | float):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
    return bool(left == right)


def test_kpis_unify_on_spark_equal_duckdb_on_what_resolve_wrote(org: Path,
                                                                spark_session: Any) -> None:
    """The KPIs unify changes, by source, over the clusters resolve wrote on each engine."""
    asked: dict[str, Any] = dict(metrics=list(EXPECTED), unify=True, by=["source"],
                                 as_of="2026-09-01T00:00:00Z")
    store = open_store("duckdb:///crm.duckdb", base_dir=org, read_only=True)
    try:
        on_duck = compute_kpis(store, **asked)
    finally:
        store.close()
    on_spark = compute_kpis(SparkTables(spark_session, org / "lake"), **asked)
    # The same clusters (training is seeded, local Spark's partitions fixed): the same KPIs.
    assert _clusters(_parquet(org, "resolved_entities"), "accounts") == _clusters(
        _duckdb(org, "resolved_entities"), "accounts")
    cells = {(row.metric, json.dumps(row.dimensions, sort_keys=True), row.period_start): row
             for row in on_duck}
    assert len(on_spark) == len(cells) > len(EXPECTED)
    for row in on_spark:
        twin = cells[(row.metric, json.dumps(row.dimensions, sort_keys=True),
                      row.period_start)]
        for name in ("value", "numerator", "denominator"):
            assert _same(getattr(row, name), getattr(twin, name)), (row.metric, name)
        assert row.note == twin.note, row.metric


def test_unified_kpis_on_spark_equal_duckdb_cell_by_cell(tmp_path: Path,
                                                         spark_session: Any) -> None:
    """The unify dataset (hand-worked values) on DuckDB, and exported with its
    resolved_entities in the layout resolve writes, on Spark."""
    store = open_store("duckdb:///u.duckdb", base_dir=tmp_path)
    try:
        load_two_crms(store)
        export_parquet(store, tmp_path / "lake")
        resolved = store.query_arrow("SELECT * FROM resolved_entities")
        metrics = list(EXPECTED)
        on_duck = compute_kpis(store, metrics=metrics, unify=True, by=["source"], **MARCH)
    finally:
        store.close()
    columns = [name for name, _ in RESOLVED_COLUMNS if name in resolved.column_names]
    pq.write_to_dataset(resolved.select(columns), tmp_path / "lake" / "resolved_entities",
                        partition_cols=["entity"])
    tables = SparkTables(spark_session, tmp_path / "lake")
    on_spark = compute_kpis(tables, metrics=metrics, unify=True, by=["source"], **MARCH)
    assert len(on_duck) == len(on_spark) > len(metrics)
    cells = {(row.metric, json.dumps(row.dimensions, sort_keys=True), row.period_start): row
             for row in on_duck}
    for row in on_spark:
        twin = cells[(row.metric, json.dumps(row.dimensions, sort_keys=True),
                      row.period_start)]
        assert row.value == pytest.approx(twin.value), row.metric
    totals = {row.metric: row.value for row in on_spark if not row.dimensions
              and str(row.period_start) == "2026-03-01"}
    assert totals == pytest.approx({key: values[1] for key, values in EXPECTED.items()})


def test_spark_without_tables_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "crm-connect.toml").write_text(CONFIG)
    result = run_cli_process("resolve", "--engine", "spark", cwd=tmp_path)
    assert result.returncode == 2
    assert "--engine spark needs --tables DIR" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_cli_process("resolve", "--engine", "spark", "--tables", "nowhere",
                              cwd=tmp_path, timeout=300)
    assert missing.returncode == 2 and "is not a folder of Parquet tables" in missing.stderr
