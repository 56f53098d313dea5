"""Issue 12 against the sandbox org: a record the store cannot hold (an opportunity amount
beyond DECIMAL(38, 9)) is quarantined, and the 200-record REST page it arrives in, and the
pages after it, are stored, with workers and without.  (Lone surrogates are covered through the
files connector: the sandbox, like any UTF-8 JSON server, cannot send one.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from crm_connect_salesforce.sandbox import SalesforceSandbox
from sf_support import run_cli, sandbox_env, sandbox_options, write_project

pytestmark = pytest.mark.slow


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _in_second_page(sandbox: SalesforceSandbox, sobject: str) -> str:
    """The id of a record the connector reads in its second page of 200 (by SystemModstamp,
    Id), after at least one page and with pages after it."""
    session = sandbox.session()
    answer = session.get(
        f"{sandbox.instance_url}/services/data/v60.0/queryAll/",
        params={"q": f"SELECT Id, SystemModstamp FROM {sobject}"},
        headers={"Authorization": f"Bearer {sandbox.access_token}"}).json()
    assert answer["done"] and answer["totalSize"] > 400
    ordered = sorted((record["SystemModstamp"], record["Id"]) for record in answer["records"])
    return ordered[250][1]


@pytest.fixture
def poisoned() -> Iterator[tuple[SalesforceSandbox, str]]:
    with SalesforceSandbox(records=3000, seed=11) as org:
        deal = _in_second_page(org, "Opportunity")
        record = org.get(deal)
        assert record is not None
        # Keep the record's place in the read order: the same SystemModstamp.
        org.update(deal, stamp=record["SystemModstamp"], Amount=1e30)
        yield org, deal


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_poison_record_costs_itself_only(
        poisoned: tuple[SalesforceSandbox, str], tmp_path: Path, workers: str) -> None:
    sandbox, deal = poisoned
    write_project(tmp_path, {"sf": sandbox_options(sandbox, streams=["deals"],
                                                   bulk="never", page_size=200)})
    env = {**sandbox_env(sandbox), "CRM_CONNECT_WORKERS": workers}
    db = tmp_path / "crm.duckdb"
    totals = sandbox.counts(include_deleted=True)
    for args in (("sync",), ("sync",), ("sync", "--full-refresh")):
        result = run_cli(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert query(db, "SELECT count(*) FROM deals") == [(totals["Opportunity"] - 1,)]
        reasons = dict(query(db, "SELECT record_id, reason FROM quarantine"))
        assert set(reasons) == {deal}
        assert "amount" in reasons[deal] and "99999999999999999999999999999" in reasons[deal]
