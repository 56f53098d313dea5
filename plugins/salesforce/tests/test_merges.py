"""A merge in Salesforce (Accounts, Contacts, Leads): the merged-away record goes to the recycle
bin with ``MasterRecordId`` naming the survivor.  The connector reads it through ``queryAll``
as a deleted record with ``merged_into_id``, and ``crm-connect resolve`` puts it in the
survivor's cluster; the records that looked it up now look up the survivor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from crm_connect_salesforce.sandbox import SalesforceSandbox
from sf_support import run_cli, sandbox_env, sandbox_options, write_project

pytestmark = pytest.mark.slow


@pytest.fixture
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(records=800, seed=5) as org:
        yield org


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def clusters(db: Path, entity: str) -> dict[str, str]:
    return dict(query(db, "SELECT id, cluster_id FROM resolved_entities "
                          f"WHERE entity = '{entity}'"))


def test_a_merged_away_record_joins_the_survivors_cluster(sandbox: SalesforceSandbox,
                                                          tmp_path: Path) -> None:
    write_project(tmp_path, {"sf": sandbox_options(
        sandbox, streams=["accounts", "contacts"], bulk="never")})
    env = sandbox_env(sandbox)
    db = tmp_path / "crm.duckdb"
    for command in (("sync",), ("resolve",)):
        done = run_cli(*command, cwd=tmp_path, env=env, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    survivor, loser = sandbox.id_of("Account", 1), sandbox.id_of("Account", 2)
    before = clusters(db, "accounts")
    assert before[loser] != before[survivor]
    children = [row[0] for row in query(
        db, f"SELECT id FROM contacts WHERE account_id = '{loser}' AND NOT is_deleted")]
    assert children  # the merged-away account had contacts
    person, twin = sandbox.id_of("Contact", 3), sandbox.id_of("Contact", 4)
    sandbox.merge(survivor, loser)
    sandbox.merge(person, twin)

    for command in (("sync",), ("resolve",)):
        done = run_cli(*command, cwd=tmp_path, env=env, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
    assert query(db, f"SELECT is_deleted, merged_into_id FROM accounts WHERE id = '{loser}'"
                 ) == [(True, survivor)]
    after = clusters(db, "accounts")
    assert after[loser] == after[survivor]
    people = clusters(db, "contacts")
    assert people[twin] == people[person]
    assert query(db, "SELECT merged_into_id FROM resolved_entities "
                     f"WHERE id = '{twin}'") == [(person,)]
    moved = dict(query(db, "SELECT id, account_id FROM contacts WHERE id IN "
                           f"({', '.join(repr(child) for child in children)})"))
    assert set(moved.values()) == {survivor}  # Salesforce re-parents the merged one's children
