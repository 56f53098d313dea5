"""One writer and many readers on a DuckDB store: ``kpis`` during a sync, two syncs at once.

The sync here is a real ``crm-connect sync`` process whose connector (a test plugin installed
through an entry point) stores one page, then stops mid-stream until the test opens a FIFO:
the store is held by a writer in the middle of a run for as long as the test needs.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import CLI, register_entry_point, run_cli_process
from crm_connect.errors import StoreLockedError
from crm_connect.schema import Account
from crm_connect.store import DuckDBStore

GATED_PLUGIN = '''
"""A connector that stores a first page, then waits mid-stream until its gate is opened."""

from typing import Any

from crm_connect import CheckResult, Connector, ConnectorConfig, Page, Stream, hookimpl


class GatedConfig(ConnectorConfig):
    gate: str


class GatedConnector(Connector[GatedConfig]):
    name = "gated"
    config_model = GatedConfig

    def streams(self) -> list[Stream]:
        return [Stream("accounts", "accounts")]

    def check(self) -> CheckResult:
        return CheckResult(True, "ok")

    def read(self, stream: Stream, state: Any) -> Any:
        yield Page([_account(n) for n in (1, 2, 3)], {"page": 1})
        with open(self.config.gate) as gate:  # blocks until the test opens the FIFO
            gate.read()
        yield Page([_account(n) for n in (4, 5)], {"page": 2})


def _account(n: int) -> dict[str, Any]:
    return {"id": f"A{n}", "name": f"Account {n}", "created_at": "2026-03-01T00:00:00Z"}


@hookimpl
def register_connectors(register: Any) -> None:
    register(GatedConnector)
'''


@pytest.fixture
def gated(tmp_path: Path) -> dict[str, str]:
    """A project whose one connection is the gated connector; returns the environment."""
    site = register_entry_point(tmp_path / "site", "crm-connect-gated", "1.0", "gated",
                                "crm_connect_gated")
    (site / "crm_connect_gated.py").write_text(GATED_PLUGIN)
    os.mkfifo(tmp_path / "gate")
    (tmp_path / "crm-connect.toml").write_text(
        '[connections.crm]\nconnector = "gated"\ngate = "gate"\n')
    # Two pages: no validation workers to start (they would only slow the test down).
    return {"PYTHONPATH": str(site), "CRM_CONNECT_LOAD_PLUGINS": "gated",
            "CRM_CONNECT_WORKERS": "0"}


@pytest.fixture
def paused_sync(tmp_path: Path, gated: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A ``crm-connect -v sync`` that has committed its first page and waits mid-stream."""
    process = subprocess.Popen([CLI, "-v", "sync"], cwd=tmp_path, env={**os.environ, **gated},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "crm/accounts: stored 3 records" in line:
                break
        else:
            pytest.fail(f"the sync never stored its first page: {process.communicate()}")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _open_gate(tmp_path: Path) -> None:
    with open(tmp_path / "gate", "w") as gate:
        gate.write("go")


def _accounts_created(tmp_path: Path, env: dict[str, str]) -> tuple[float, str]:
    result = run_cli_process("kpis", "--metric", "accounts_created", "--grain", "year",
                             "--from", "2026-01-01", "--as-of", "2026-12-31", "--format",
                             "json", cwd=tmp_path, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    return rows[-1]["value"], result.stderr


def test_kpis_during_a_sync_returns_the_committed_pages(
        tmp_path: Path, gated: dict[str, str], paused_sync: subprocess.Popen[str]) -> None:
    value, stderr = _accounts_created(tmp_path, gated)
    assert value == 3  # the first page, committed; the second is not read yet
    assert "in use" not in stderr
    again, _ = _accounts_created(tmp_path, gated)  # the writer let readers in twice
    assert again == 3

    _open_gate(tmp_path)
    _, err = paused_sync.communicate(timeout=60)
    assert paused_sync.returncode == 0, err
    assert "crm/accounts: succeeded, 5 records" in err
    # The writer took the file back after the readers and stored the rest of the stream.
    value, _ = _accounts_created(tmp_path, gated)
    assert value == 5


def test_a_second_sync_is_refused_with_exit_73_naming_the_running_one(
        tmp_path: Path, gated: dict[str, str], paused_sync: subprocess.Popen[str]) -> None:
    second = run_cli_process("sync", cwd=tmp_path, env=gated, timeout=60)
    assert second.returncode == 73, second.stderr
    assert f"in use by another crm-connect process (PID {paused_sync.pid})" in second.stderr
    assert "--wait SECONDS" in second.stderr
    assert "Traceback" not in second.stderr
    _open_gate(tmp_path)
    assert paused_sync.wait(timeout=60) == 0


def test_a_reader_in_the_same_process_gets_in_between_pages_and_the_writer_goes_on(
        tmp_path: Path) -> None:
    url = "duckdb:///crm.duckdb"
    with DuckDBStore.open(url, base_dir=tmp_path) as writer:
        run = writer.begin_run(["crm"])
        for n in (1, 2):
            writer.write_page(entity="accounts", source="crm", stream="accounts",
                              records=[Account(source="crm", id=f"A{n}")],
                              state={"page": n}, quarantined=[], run_id=run)
            with DuckDBStore.open(url, base_dir=tmp_path, read_only=True) as reader:
                assert reader.execute("SELECT count(*) FROM accounts") == [(n,)]
                assert reader.get_state("crm", "accounts") == {"page": n}
        writer.finish_run(run, "succeeded", {}, None)
        assert writer.execute("SELECT status FROM sync_runs") == [("succeeded",)]
    with DuckDBStore.open(url, base_dir=tmp_path, read_only=True) as reader:
        assert reader.execute("SELECT id FROM accounts ORDER BY id") == [("A1",), ("A2",)]


def test_a_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with DuckDBStore.open("duckdb:///crm.duckdb", base_dir=tmp_path) as writer:
        writer.begin_run(["crm"])
        with pytest.raises(StoreLockedError, match=f"PID {os.getpid()}"):
            DuckDBStore.open("duckdb:///crm.duckdb", base_dir=tmp_path)
    with DuckDBStore.open("duckdb:///crm.duckdb", base_dir=tmp_path):
        pass  # and once the first is closed, the store is free
