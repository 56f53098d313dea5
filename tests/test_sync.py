from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crm_connect import hookimpl
from crm_connect.config import load_config
from crm_connect.sync import run_sync

CLI = str(Path(sys.executable).parent / "crm-connect")


def table(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every entity table's full content, ordered, for before/after comparisons."""
    from crm_connect.schema import ENTITIES

    return {entity: table(db, f"SELECT * FROM {entity} ORDER BY source, id")
            for entity in ENTITIES}


def test_sync_twice_lands_every_record_once(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    first = cli("sync", cwd=project)
    assert first.returncode == 0, first.stderr
    db = project / "crm.duckdb"
    before = snapshot(db)
    expected = len((project / "exports" / "deals.csv").read_text().splitlines()) - 1
    assert len(before["deals"]) == expected
    second = cli("sync", cwd=project)
    assert second.returncode == 0, second.stderr
    assert snapshot(db) == before
    runs = table(db, "SELECT run_id, status FROM sync_runs ORDER BY run_id")
    assert runs == [(1, "succeeded"), (2, "succeeded")]


def test_incremental_sync_reads_only_changed_rows(project: Path) -> None:
    config = load_config(project / "crm-connect.toml")
    run_sync(config)
    path = project / "exports" / "accounts.csv"
    rows = list(csv.DictReader(path.open()))
    from crm_connect.schema import parse_datetime

    newest = max(parse_datetime(row["updated_at"]) for row in rows)
    at_cursor = sum(1 for row in rows if parse_datetime(row["updated_at"]) == newest)
    rows[0]["name"] = "Renamed Inc"
    rows[0]["updated_at"] = "2027-01-01T00:00:00.000+0000"
    rows.append({**rows[1], "id": "A-new", "updated_at": "2027-01-02T00:00:00Z"})
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = run_sync(config, ["finance"])
    accounts = next(r for r in report.results if r.stream == "accounts")
    # The changed row and the new one, plus the rows at the previous cursor, which the
    # inclusive bound reads again (harmlessly) so that nothing on the boundary is missed.
    assert accounts.records == 2 + at_cursor
    db = project / "crm.duckdb"
    assert table(db, f"SELECT name FROM accounts WHERE id = '{rows[0]['id']}'") == [
        ("Renamed Inc",)]
    assert table(db, "SELECT count(*) FROM accounts")[0][0] == len(rows)
    full = run_sync(config, full_refresh=True)
    assert next(r for r in full.results if r.stream == "accounts").records == len(rows)


def test_same_ids_from_two_sources_are_kept_apart(project: Path) -> None:
    (project / "crm-connect.toml").write_text(
        '[connections.eu]\nconnector = "files"\npath = "exports/"\n'
        '[connections.us]\nconnector = "files"\npath = "exports/"\n')
    run_sync(load_config(project / "crm-connect.toml"))
    counts = dict(table(project / "crm.duckdb",
                        "SELECT source, count(*) FROM deals GROUP BY source"))
    assert counts["eu"] == counts["us"] > 0


def test_bad_rows_are_quarantined_with_file_and_line(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = project / "exports" / "deals.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    bad = lines[3].split(",")
    bad[header.index("amount")] = "lots"
    lines[3] = ",".join(bad)
    lines.insert(5, "D-short,only-two-columns")
    path.write_text("\n".join(lines) + "\n")
    result = cli("sync", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "2 records were quarantined" in result.stdout
    rows = table(project / "crm.duckdb",
                 "SELECT location, reason, raw FROM quarantine ORDER BY location")
    assert [r[0] for r in rows] == ["deals.csv:4", "deals.csv:6"]
    assert "amount" in rows[0][1] and "'lots'" in rows[0][1]
    assert json.loads(rows[0][2])["amount"] == "lots"
    assert "expected" in rows[1][1] and "columns" in rows[1][1]
    # The good rows around them all landed.
    assert table(project / "crm.duckdb", "SELECT count(*) FROM deals")[0][0] == len(lines) - 3
    # A second run does not duplicate quarantine entries.
    cli("sync", "--full-refresh", cwd=project)
    assert table(project / "crm.duckdb", "SELECT count(*) FROM quarantine")[0][0] == 2


def test_a_failing_stream_does_not_stop_the_others(project: Path, crm_plugin, cli) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []

    @hookimpl
    def transform_records(connection: str, stream: str, entity: str,
                          records: list[dict[str, Any]]) -> None:
        calls.append(stream)
        if stream == "leads":
            raise RuntimeError("lead scoring service down")

    crm_plugin(types.SimpleNamespace(transform_records=transform_records), "scorer")
    report = run_sync(load_config(project / "crm-connect.toml"))
    statuses = {r.stream: r.status for r in report.results}
    assert statuses["leads"] == "failed" and statuses["deals"] == "succeeded"
    leads = next(r for r in report.results if r.stream == "leads")
    assert 'Plugin "scorer" raised in hook transform_records' in str(leads.error)
    assert report.exit_code == 1 and report.run.status == "failed"
    assert table(project / "crm.duckdb", "SELECT status, error FROM sync_runs")[0][0] == "failed"


def test_transform_hook_can_fill_canonical_fields(project: Path, crm_plugin) -> None:  # type: ignore[no-untyped-def]
    @hookimpl
    def transform_records(entity: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if entity == "accounts":
            return [{**record, "segment": "from-plugin"} for record in records]
        return records

    crm_plugin(types.SimpleNamespace(transform_records=transform_records), "mapper")
    run_sync(load_config(project / "crm-connect.toml"))
    assert table(project / "crm.duckdb", "SELECT DISTINCT segment FROM accounts") == [
        ("from-plugin",)]


def test_lifecycle_hooks_are_called(project: Path, crm_plugin) -> None:  # type: ignore[no-untyped-def]
    events: list[tuple[str, Any]] = []

    @hookimpl
    def sync_started(run: Any) -> None:
        events.append(("started", run.connections))

    @hookimpl
    def stream_finished(result: Any) -> None:
        events.append(("stream", result.stream))

    @hookimpl
    def sync_finished(run: Any, results: list[Any]) -> None:
        events.append(("finished", (run.status, len(results))))

    crm_plugin(types.SimpleNamespace(sync_started=sync_started, stream_finished=stream_finished,
                                     sync_finished=sync_finished), "notifier")
    run_sync(load_config(project / "crm-connect.toml"))
    assert events[0] == ("started", ["finance"])
    assert ("stream", "deals") in events
    assert events[-1] == ("finished", ("succeeded", 11))


def _big_project(root: Path, rows: int, page_size: int) -> None:
    """A files export of ``rows`` contacts and a configuration that stores them in small pages."""
    folder = root / "exports"
    folder.mkdir()
    with (folder / "contacts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email", "first_name", "created_at", "updated_at"])
        for n in range(rows):
            stamp = f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T10:00:00Z"
            writer.writerow([f"C{n}", f"c{n}@example.com", f"Name{n}", stamp, stamp])
    (root / "crm-connect.toml").write_text(
        '[connections.big]\nconnector = "files"\npath = "exports/"\n'
        f"page_size = {page_size}\n")


def _start_sync(root: Path, pages: int, stdout: int = subprocess.DEVNULL,
                env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``crm-connect -v sync`` and return once it reports ``pages`` stored pages."""
    process = subprocess.Popen([CLI, "-v", "sync"], cwd=root, stdout=stdout,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    assert process.stderr is not None
    stored = 0
    deadline = time.monotonic() + 60
    while stored < pages and time.monotonic() < deadline:
        if "stored " in process.stderr.readline():
            stored += 1
    assert stored == pages, "the sync never reported progress"
    return process


@pytest.mark.slow
def test_sync_killed_with_sigkill_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    rows = 120_000
    _big_project(tmp_path, rows, page_size=2000)
    # Workers are opt-in (the default validates in the sync's own process): opted in, pages
    # after the first are validated in worker processes, and a SIGKILL leaves none behind.
    process = _start_sync(tmp_path, pages=5, env={"CRM_CONNECT_WORKERS": "2"})  # mid-file
    import psutil

    workers = psutil.Process(process.pid).children(recursive=True)
    assert workers, "with CRM_CONNECT_WORKERS=2, pages are validated in worker processes"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    # Its validation workers do not linger as orphans.
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []

    db = tmp_path / "crm.duckdb"
    partial = table(db, "SELECT count(*) FROM contacts")[0][0]
    assert 0 < partial < rows
    state = json.loads(table(db, "SELECT state FROM sync_state")[0][0])
    assert state["resume"]["line"] >= partial  # the checkpoint covers what was stored
    assert table(db, "SELECT status FROM sync_runs") == [("running",)]

    resumed = subprocess.run([CLI, "sync"], cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert table(db, "SELECT count(*), count(DISTINCT id) FROM contacts")[0] == (rows, rows)
    assert table(db, "SELECT status FROM sync_runs ORDER BY run_id") == [
        ("interrupted",), ("succeeded",)]
    final = json.loads(table(db, "SELECT state FROM sync_state")[0][0])
    assert final == {"cursor": "2026-12-28T10:00:00+00:00"}
    # The resumed run started from the checkpoint rather than from the top of the file.
    resumed_records = json.loads(table(
        db, "SELECT counts FROM sync_runs WHERE status = 'succeeded'")[0][0])
    assert resumed_records["big/contacts"]["records"] <= rows - partial + 2000


@pytest.mark.slow
def test_a_second_sync_on_the_same_store_says_so_or_waits(tmp_path: Path) -> None:
    _big_project(tmp_path, 60_000, page_size=500)
    first = _start_sync(tmp_path, pages=1)
    assert first.stderr is not None
    second = subprocess.run([CLI, "sync"], cwd=tmp_path, capture_output=True, text=True)
    assert second.returncode == 73
    assert "in use by another crm-connect process" in second.stderr
    assert "--wait" in second.stderr
    waiting = subprocess.run([CLI, "sync", "--wait", "120"], cwd=tmp_path, capture_output=True,
                             text=True)
    first.stderr.read()
    assert first.wait() == 0
    assert waiting.returncode == 0, waiting.stderr
    db = tmp_path / "crm.duckdb"
    assert table(db, "SELECT count(*), count(DISTINCT id) FROM contacts")[0] == (60_000, 60_000)
    assert table(db, "SELECT status FROM sync_runs ORDER BY run_id") == [
        ("succeeded",), ("succeeded",)]


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_with_progress_kept(tmp_path: Path) -> None:
    _big_project(tmp_path, 120_000, page_size=1000)
    process = _start_sync(tmp_path, pages=1, stdout=subprocess.PIPE)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Interrupted" in err and "resume" in err
    db = tmp_path / "crm.duckdb"
    assert table(db, "SELECT status FROM sync_runs") == [("interrupted",)]
    stored = table(db, "SELECT count(*) FROM contacts")[0][0]
    assert stored > 0
    resumed = subprocess.run([CLI, "sync"], cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert table(db, "SELECT count(*), count(DISTINCT id) FROM contacts")[0] == (120_000, 120_000)


def test_refused_credentials_stop_the_connection_after_one_try(tmp_path: Path,
                                                               crm_plugin) -> None:  # type: ignore[no-untyped-def]
    from crm_connect import Connector, ConnectorConfig, Stream
    from crm_connect.errors import AuthenticationError

    logins: list[str] = []

    class Locked(Connector[ConnectorConfig]):
        name = "locked"

        def streams(self) -> list[Stream]:
            return [Stream("a", "accounts"), Stream("b", "deals"), Stream("c", "leads")]

        def check(self) -> Any:
            raise NotImplementedError

        def read(self, stream: Stream, state: Any) -> Any:
            logins.append(stream.name)
            raise AuthenticationError("password refused", connection=self.connection)

    crm_plugin(types.SimpleNamespace(register_connectors=hookimpl(
        lambda register: register(Locked))), "locked")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "deals.csv").write_text("id\nD1\n")
    from crm_connect.config import parse_config

    config = parse_config('[connections.crm]\nconnector = "locked"\n'
                          '[connections.files]\nconnector = "files"\npath = "x"\n', None, tmp_path)
    report = run_sync(config)
    # One refused login, not one per stream (vendors lock accounts after a few), and the
    # other connection still syncs.
    assert logins == ["a"]
    assert [(r.connection, r.stream, r.status) for r in report.results] == [
        ("crm", "a", "failed"), ("files", "deals", "succeeded")]
    assert report.exit_code == 1


def test_id_sweep_pages_mark_hard_deletes_through_the_runner(tmp_path: Path) -> None:
    """A connector's id-sweep pages go through validation workers and the store like any page;
    the stream's result counts the rows marked deleted."""
    from collections.abc import Iterator, Sequence

    from crm_connect.connector import (
        CheckResult,
        ConnectionContext,
        Connector,
        ConnectorConfig,
        IdSweep,
        Page,
        Stream,
    )
    from crm_connect.store import DuckDBStore
    from crm_connect.sync import PageWorkers, _Silent, sync_stream

    class Vendor(Connector[ConnectorConfig]):
        name = "vendor"
        ids = ["A1", "A2", "A3"]

        def streams(self) -> Sequence[Stream]:
            return [Stream("accounts", "accounts")]

        def check(self) -> CheckResult:
            return CheckResult(True, "ok")

        def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
            yield Page([{"id": i, "name": i} for i in self.ids], {"n": len(self.ids)})
            yield Page([], id_sweep=IdSweep(self.ids[:1], first=True))
            yield Page([], {"swept": True}, id_sweep=IdSweep(self.ids[1:], last=True))

    connector = Vendor(ConnectionContext("v", tmp_path), ConnectorConfig())
    stream = connector.streams()[0]
    workers = PageWorkers(2)
    try:
        with DuckDBStore.open("duckdb:///crm.duckdb", base_dir=tmp_path) as store:
            run = store.begin_run(["v"])
            first = sync_stream(store, connector, stream, run, True, _Silent(), workers)
            assert first.status == "succeeded" and first.deleted == 0
            Vendor.ids = ["A1", "A3"]  # A2 hard-deleted at the vendor
            second = sync_stream(store, connector, stream, run, True, _Silent(), workers)
            assert second.status == "succeeded" and second.deleted == 1
            assert store.execute("SELECT id, is_deleted FROM accounts ORDER BY id") == [
                ("A1", False), ("A2", True), ("A3", False)]
            assert store.get_state("v", "accounts") == {"swept": True}
    finally:
        workers.close()


def test_pages_are_validated_in_process_unless_workers_are_asked_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With bulk validation, worker processes cost more than they save: none by default;
    ``CRM_CONNECT_WORKERS`` opts in."""
    from crm_connect.pages import PageWorkers

    monkeypatch.delenv("CRM_CONNECT_WORKERS", raising=False)
    assert (PageWorkers().workers, PageWorkers().enabled) == (0, False)
    monkeypatch.setenv("CRM_CONNECT_WORKERS", "2")
    assert (PageWorkers().workers, PageWorkers().enabled) == (2, True)
