"""The KPI catalogue run inside Postgres equals the catalogue run on DuckDB: the engine's SQL
rendered for Postgres by sqlglot, executed through the store contract."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from kpi_dataset import AS_OF, EXPECTED_MARCH, RATES, load, open_memory_store
from pg_server import PostgresServer

from conftest import CliCall
from crm_connect.metrics import KpiRow, compute_kpis, get_kpis, read_history, save_snapshots
from crm_connect.metrics.periods import make_periods
from crm_connect.pgstore import PASSWORD_ENV, PostgresStore

QUICKSTART = Path(__file__).parent.parent / "examples" / "quickstart" / "exports"
MARCH = dict(grain="month", start="2026-03-01", end="2026-03-31", as_of=AS_OF, rates=RATES)


@pytest.fixture
def pg_url(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, postgres_server.password)
    return postgres_server.create_database(f"k_{uuid.uuid4().hex[:12]}")


def _same(left: Any, right: Any) -> bool:
    """Equal cell by cell, nulls included; floats to 1e-9 relative (Postgres and DuckDB add
    doubles in different orders, so the last digits of an average may differ)."""
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


def _rows_key(rows: list[KpiRow]) -> dict[tuple[str, str, dt.date], KpiRow]:
    return {(row.metric, json.dumps(row.dimensions, sort_keys=True), row.period_start): row
            for row in rows}


def test_every_kpi_matches_the_hand_worked_value_on_postgres(tmp_path: Path,
                                                             pg_url: str) -> None:
    with PostgresStore.open(pg_url, base_dir=tmp_path) as store:
        load(store)  # type: ignore[arg-type]
        rows = {row.metric: row for row in compute_kpis(store, **MARCH)  # type: ignore[arg-type]
                if not row.dimensions}
    assert set(rows) == set(EXPECTED_MARCH)
    mismatches = {key: rows[key].value for key, expected in EXPECTED_MARCH.items()
                  if rows[key].value != pytest.approx(expected)}
    assert mismatches == {}


@pytest.mark.parametrize("by", [(), ("source",), ("owner",)])
def test_postgres_gives_duckdb_s_values_for_every_kpi_and_breakdown(
        tmp_path: Path, pg_url: str, by: tuple[str, ...]) -> None:
    definitions = get_kpis()
    keys = [key for key in definitions if set(by) <= set(definitions[key].dimensions)]
    with PostgresStore.open(pg_url, base_dir=tmp_path) as pg, \
            open_memory_store(tmp_path) as duck:
        for store in (pg, duck):
            load(store)  # type: ignore[arg-type]
            load(store, source="b")  # type: ignore[arg-type]
        arguments: dict[str, Any] = dict(metrics=keys, by=list(by), grain="quarter",
                                         start="2025-01-01", as_of=AS_OF, rates=RATES)
        on_pg = _rows_key(compute_kpis(pg, **arguments))
        on_duck = _rows_key(compute_kpis(duck, **arguments))
    assert on_pg.keys() == on_duck.keys()
    different = {key: (on_pg[key].value, on_duck[key].value) for key in on_duck
                 if not _same(vars(on_pg[key]), vars(on_duck[key]))}
    assert different == {}


def test_kpi_history_saves_and_reads_back_on_postgres(tmp_path: Path, pg_url: str) -> None:
    with PostgresStore.open(pg_url, base_dir=tmp_path) as store:
        load(store)  # type: ignore[arg-type]
        rows = compute_kpis(store, metrics=["revenue", "win_rate"], **MARCH)  # type: ignore[arg-type]
        moment = dt.datetime(2026, 4, 10)
        assert save_snapshots(store, rows, moment) == len(rows)
        assert save_snapshots(store, rows, moment) == len(rows)  # an upsert: no duplicates
        assert store.execute("SELECT count(*) FROM kpi_snapshots") == [(len(rows),)]
        periods = make_periods("month", dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 1))
        back = read_history(store, get_kpis(), ["revenue", "win_rate"], [], periods, 0,
                            "month", moment, {})
    assert {(r.metric, r.value) for r in back} == {(r.metric, r.value) for r in rows
                                                  if not r.dimensions}


def test_the_kpis_command_on_a_postgres_store_equals_it_on_duckdb(tmp_path: Path,
                                                                  pg_url: str,
                                                                  cli: CliCall) -> None:
    # In-process (the ``cli`` fixture: a fresh command state per call): the same arguments,
    # exit codes and output as the installed command, without four interpreter start-ups.
    outputs = []
    for name, url in (("pg", pg_url), ("duck", "duckdb:///crm.duckdb")):
        project = tmp_path / name
        project.mkdir()
        (project / "crm-connect.toml").write_text(
            f'[store]\nurl = "{url}"\n\n[reporting]\ncurrency = "USD"\n'
            f'rates = {{ EUR = 1.08 }}\n\n[connections.sample]\nconnector = "files"\n'
            f'path = "{QUICKSTART}"\n')
        synced = cli("sync", cwd=project)
        assert synced.returncode == 0, synced.stderr
        result = cli("kpis", "--grain", "quarter", "--from", "2026-01-01",
                     "--as-of", "2026-11-17T00:00:00Z", "--by", "source", "--format",
                     "json", cwd=project)
        assert result.returncode == 0, result.stderr
        outputs.append(json.loads(result.stdout))
    on_pg, on_duck = outputs
    assert len(on_pg) == len(on_duck) > 42
    assert all(_same(a, b) for a, b in zip(on_pg, on_duck, strict=True)), \
        [(a["metric"], a["value"], b["value"]) for a, b in zip(on_pg, on_duck, strict=True)
         if not _same(a, b)][:5]
