"""Hard deletes (an emptied recycle bin) leave no tombstone: a full refresh, and every N-th
incremental run when configured, compares the org's ids with the stored ones and marks the
missing rows ``is_deleted`` without removing them."""

from __future__ import annotations

import json
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


def deleted(db: Path, table: str) -> set[str]:
    return {row[0] for row in query(db, f"SELECT id FROM {table} WHERE is_deleted")}


def last_counts(db: Path) -> dict[str, Any]:
    (counts,) = query(db, "SELECT counts FROM sync_runs ORDER BY run_id DESC LIMIT 1")[0]
    loaded: dict[str, Any] = json.loads(counts)
    return loaded


@pytest.mark.parametrize("bulk", ["never", "always"])
def test_full_refresh_marks_hard_deletes(sandbox: SalesforceSandbox, tmp_path: Path,
                                         bulk: str) -> None:
    write_project(tmp_path, {"sf": sandbox_options(
        sandbox, streams=["tasks", "events", "accounts"], bulk=bulk)})
    env = sandbox_env(sandbox)
    db = tmp_path / "crm.duckdb"
    first = run_cli("sync", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    soft = deleted(db, "activities")
    tasks_before = query(db, "SELECT count(*) FROM activities")[0][0]

    task, account = sandbox.id_of("Task", 5), sandbox.id_of("Account", 2)
    assert task not in soft
    sandbox.hard_delete(task)
    sandbox.hard_delete(account)

    incremental = run_cli("sync", cwd=tmp_path, env=env)
    assert incremental.returncode == 0
    assert deleted(db, "activities") == soft  # no tombstone: an incremental run cannot see it

    sandbox.clear_log()
    full = run_cli("sync", "--full-refresh", cwd=tmp_path, env=env)
    assert full.returncode == 0, full.stdout + full.stderr
    assert deleted(db, "activities") == soft | {task}  # events (same table) untouched
    assert account in deleted(db, "accounts")
    assert query(db, "SELECT count(*) FROM activities")[0][0] == tasks_before  # nothing removed
    counts = last_counts(db)
    assert counts["sf/tasks"]["deleted"] == 1 and counts["sf/events"]["deleted"] == 0
    assert counts["sf/accounts"]["deleted"] == 1
    if bulk == "always":  # a full read sees every id: no separate id query
        assert sandbox.request_count(r"/jobs/query$", method="POST") == 3
    (state,) = query(db, "SELECT state FROM sync_state WHERE stream = 'tasks'")[0]
    assert json.loads(state)["complete"] is True

    again = run_cli("sync", "--full-refresh", cwd=tmp_path, env=env)
    assert again.returncode == 0
    assert last_counts(db)["sf/tasks"]["deleted"] == 0  # idempotent


@pytest.mark.parametrize("start_date", [None, "2024-01-01T00:00:00Z"])
def test_every_nth_incremental_run_checks_ids(sandbox: SalesforceSandbox, tmp_path: Path,
                                              start_date: str | None) -> None:
    """Runs that do not read everything (incremental, or from a start_date) send a separate
    SELECT Id pass."""
    options = {"start_date": start_date} if start_date else {}
    write_project(tmp_path, {"sf": sandbox_options(
        sandbox, streams=["accounts"], bulk="never", hard_delete_check_every=2, **options)})
    env = sandbox_env(sandbox)
    db = tmp_path / "crm.duckdb"
    assert run_cli("sync", cwd=tmp_path, env=env).returncode == 0  # first sync: a check
    account = query(db, "SELECT max(id) FROM accounts WHERE NOT is_deleted")[0][0]
    sandbox.hard_delete(account)
    sandbox.clear_log()
    assert run_cli("sync", cwd=tmp_path, env=env).returncode == 0  # run 1 of 2: no check
    assert account not in deleted(db, "accounts")
    assert run_cli("sync", cwd=tmp_path, env=env).returncode == 0  # run 2 of 2: a check
    assert sandbox.request_count(r"/query") >= 1
    assert account in deleted(db, "accounts")
    assert last_counts(db)["sf/accounts"]["deleted"] == 1
