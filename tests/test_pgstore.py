"""The Postgres store against a real PostgreSQL server started for these tests
(:mod:`pg_server`): syncs through the installed ``crm-connect sync``, the per-connection
lock, a killed sync, and the KPI catalogue run inside Postgres."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pg_server import PostgresServer
from test_poison_records import BAD_LINE, POISON, ROWS, _poisoned_export
from test_store_concurrency import GATED_PLUGIN

from conftest import CLI, CliCall, register_entry_point, run_cli_process
from crm_connect.errors import ConfigError, StoreLockedError
from crm_connect.pgstore import PASSWORD_ENV, PostgresStore, native_placeholders
from crm_connect.schema import Account
from crm_connect.secrets import set_secret

QUICKSTART = Path(__file__).parent.parent / "examples" / "quickstart" / "exports"


@pytest.fixture
def pg_url(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database's store url; its password in ``CRM_CONNECT_STORE_PASSWORD``."""
    monkeypatch.setenv(PASSWORD_ENV, postgres_server.password)
    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


def _project(folder: Path, url: str, connections: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "crm-connect.toml").write_text(
        f'[store]\nurl = "{url}"\n\n[reporting]\ncurrency = "USD"\nrates = {{ EUR = 1.08 }}\n'
        f"\n{connections}")
    return folder


def _files(name: str) -> str:
    return f'[connections.{name}]\nconnector = "files"\npath = "{QUICKSTART}"\n'


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, password=os.environ[PASSWORD_ENV]) as con:
        return list(con.execute(sql).fetchall())


def _counts(url: str) -> dict[str, int]:
    tables = ("accounts", "contacts", "deals", "activities", "tickets", "users")
    return {table: int(_rows(url, f"SELECT count(*) FROM {table}")[0][0]) for table in tables}


def test_sync_the_sample_into_postgres_twice_changes_nothing(tmp_path: Path, pg_url: str,
                                                             cli: CliCall) -> None:
    # In-process (the cli fixture): the command's exit codes and output, three interpreter
    # start-ups fewer; the tests below keep real processes for locks and kills.
    project = _project(tmp_path, pg_url, _files("sample"))
    first = cli("sync", cwd=project)
    assert first.returncode == 0, first.stderr
    counts = _counts(pg_url)
    assert counts["accounts"] > 0 and counts["deals"] > 0
    again = cli("sync", cwd=project)
    assert again.returncode == 0, again.stderr
    assert _counts(pg_url) == counts
    runs = _rows(pg_url, "SELECT status, counts FROM sync_runs ORDER BY run_id")
    assert [status for status, _ in runs] == ["succeeded", "succeeded"]
    changed = sum(stream["changed"] for stream in runs[1][1].values())  # type: ignore[union-attr]
    assert changed == 0  # the second run stored nothing new
    listed = cli("runs", "--format", "json", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert os.environ[PASSWORD_ENV] not in listed.stdout + listed.stderr + first.stderr


def test_a_password_in_the_url_is_refused_and_the_secret_is_used(
        tmp_path: Path, pg_url: str, postgres_server: PostgresServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret_url = pg_url.replace("crm@", f"crm:{postgres_server.password}@")
    with pytest.raises(ConfigError) as refused:
        PostgresStore.open(secret_url, base_dir=tmp_path)
    assert postgres_server.password not in str(refused.value)
    assert PASSWORD_ENV in str(refused.value)
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    with pytest.raises(Exception, match="password authentication failed") as wrong:
        PostgresStore.open(pg_url, base_dir=tmp_path)
    assert "not-the-password" not in str(wrong.value)


def test_the_password_comes_from_the_keyring_entry_auth_set_writes(
        tmp_path: Path, pg_url: str, postgres_server: PostgresServer, cli: Any,
        memory_keyring: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path, pg_url, _files("sample"))
    stored = cli("auth", "set", "store", "password", "--value", "x", cwd=project)
    assert stored.returncode == 0, stored.stderr  # "store" is not a connection: allowed
    assert "Stored store.password" in stored.stdout
    monkeypatch.delenv(PASSWORD_ENV)
    set_secret("store", "password", postgres_server.password)  # what auth set writes
    with PostgresStore.open(pg_url, base_dir=tmp_path) as store:
        assert store.has_table("accounts")
        assert postgres_server.password not in store.location


def test_a_page_and_its_state_upsert_in_one_transaction(tmp_path: Path, pg_url: str) -> None:
    with PostgresStore.open(pg_url, base_dir=tmp_path) as store:
        run = store.begin_run(["a"])
        first = [Account(source="a", id=f"A{n}", name=f"n{n}") for n in range(3)]
        written = store.write_page(entity="accounts", source="a", stream="accounts",
                                   records=first, state={"page": 1}, quarantined=[],
                                   run_id=run)
        assert written.changed == 3
        again = store.write_page(entity="accounts", source="a", stream="accounts",
                                 records=[*first[:2], Account(source="a", id="A2", name="new",
                                                              is_deleted=True)],
                                 state={"page": 2}, quarantined=[], run_id=run)
        assert (again.changed, again.deleted) == (1, 1)
        assert store.get_state("a", "accounts") == {"page": 2}
        rows = store.execute("SELECT id, name, is_deleted FROM accounts ORDER BY id")
        assert rows == [("A0", "n0", False), ("A1", "n1", False), ("A2", "new", True)]
        table = store.query_arrow("SELECT count(*) AS n, max(name) AS m FROM accounts "
                                  "WHERE source = ? AND name LIKE '%n%'", ["a"])
        assert table.to_pylist() == [{"n": 3, "m": "new"}]
        store.finish_run(run, "succeeded", {}, None)


def test_new_rows_are_copied_in_and_counted_as_an_upsert_counts_them(tmp_path: Path,
                                                                     pg_url: str) -> None:
    """A page of rows the store does not hold goes straight in (a first sync's pages); the
    same ids under another source are other records; a page with a stored id is upserted."""
    with PostgresStore.open(pg_url, base_dir=tmp_path) as store:
        run = store.begin_run(["a", "b"])

        def write(source: str, *accounts: Account) -> tuple[int, int]:
            done = store.write_page(entity="accounts", source=source, stream="accounts",
                                    records=list(accounts), state=None, quarantined=[],
                                    run_id=run)
            return done.changed, done.deleted

        assert write("a", Account(source="a", id="A0", name="n0"),
                     Account(source="a", id="A1", name="n1", is_deleted=True)) == (2, 1)
        assert write("b", Account(source="b", id="A0", name="other")) == (1, 0)
        assert write("a", Account(source="a", id="A1", name="n1", is_deleted=True),
                     Account(source="a", id="A2", name="n2")) == (1, 0)
        rows = store.execute("SELECT source, id, name, is_deleted FROM accounts "
                             "ORDER BY source, id")
        assert rows == [("a", "A0", "n0", False), ("a", "A1", "n1", True),
                        ("a", "A2", "n2", False), ("b", "A0", "other", False)]
        store.finish_run(run, "succeeded", {}, None)


def test_a_store_no_server_answers_is_a_clear_error(tmp_path: Path, pg_url: str,
                                                    postgres_server: PostgresServer) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project = _project(tmp_path, pg_url.replace(f":{postgres_server.port}/", f":{port}/"),
                       _files("sample"))
    result = run_cli_process("sync", cwd=project)
    assert result.returncode == 1, result.stderr
    assert f"cannot open the store postgresql://crm@127.0.0.1:{port}/" in result.stderr
    assert "Traceback" not in result.stderr


def test_placeholders_outside_literals_are_numbered() -> None:
    assert native_placeholders("SELECT '?', \"a?\", ? -- ?\n, ?") == \
        "SELECT '?', \"a?\", $1 -- ?\n, $2"


def test_the_same_connection_is_locked_others_are_not(tmp_path: Path, pg_url: str) -> None:
    with PostgresStore.open(pg_url, base_dir=tmp_path) as first, \
            PostgresStore.open(pg_url, base_dir=tmp_path) as second:
        first.lock_connections(["alpha"])
        second.lock_connections(["beta"])  # another connection syncs at the same time
        with pytest.raises(StoreLockedError, match=r"connection alpha .* \(PID \d+ on "):
            second.lock_connections(["alpha"], wait_seconds=0.2)
    with PostgresStore.open(pg_url, base_dir=tmp_path) as third:
        third.lock_connections(["alpha"])  # closed sessions released their locks


@pytest.fixture
def gated_project(tmp_path: Path, pg_url: str) -> tuple[Path, dict[str, str]]:
    """A project on the Postgres store: ``crm`` (the gated connector, which waits mid-stream
    until its FIFO is opened) and ``sample`` (the quickstart export)."""
    site = register_entry_point(tmp_path / "site", "crm-connect-gated", "1.0", "gated",
                                "crm_connect_gated")
    (site / "crm_connect_gated.py").write_text(GATED_PLUGIN)
    os.mkfifo(tmp_path / "gate")
    project = _project(tmp_path, pg_url, '[connections.crm]\nconnector = "gated"\n'
                       'gate = "gate"\n\n' + _files("sample"))
    return project, {"PYTHONPATH": str(site), "CRM_CONNECT_LOAD_PLUGINS": "gated,files",
                     "CRM_CONNECT_WORKERS": "0"}


def _paused_sync(project: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen([CLI, "-v", "sync", "crm"], cwd=project,
                               env={**os.environ, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:
        if "crm/accounts: stored 3 records" in line:
            return process
    process.kill()
    pytest.fail(f"the sync never stored its first page: {process.communicate()}")


def _open_gate(project: Path) -> threading.Thread:
    def write() -> None:
        with open(project / "gate", "w") as gate:
            gate.write("go")

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_syncs_of_different_connections_run_together_the_same_one_exits_73(
        gated_project: tuple[Path, dict[str, str]], pg_url: str) -> None:
    project, env = gated_project
    paused = _paused_sync(project, env)
    try:
        other = run_cli_process("sync", "sample", cwd=project, env=env)
        assert other.returncode == 0, other.stderr  # a different connection, meanwhile
        same = run_cli_process("sync", "crm", cwd=project, env=env)
        assert same.returncode == 73, same.stderr
        message = " ".join(same.stderr.split())
        assert re.search(r"connection crm of the store postgresql://crm@127\.0\.0\.1:\d+/\w+ "
                         rf"is being synced by another crm-connect process \(PID {paused.pid} ",
                         message), message
        assert "Traceback" not in same.stderr and "--wait" in message
        _open_gate(project).join(timeout=30)
        _, err = paused.communicate(timeout=60)
        assert paused.returncode == 0, err
    finally:
        if paused.poll() is None:
            paused.kill()
            paused.wait()
    assert int(_rows(pg_url, "SELECT count(*) FROM accounts WHERE source = 'crm'")[0][0]) == 5


@pytest.mark.slow
def test_a_killed_sync_loses_nothing_and_releases_its_lock(
        gated_project: tuple[Path, dict[str, str]], pg_url: str) -> None:
    project, env = gated_project
    paused = _paused_sync(project, env)
    paused.kill()  # SIGKILL: no cleanup runs in the process
    paused.wait()
    assert _rows(pg_url, "SELECT count(*) FROM accounts WHERE source = 'crm'") == [(3,)]
    assert _rows(pg_url, "SELECT state FROM sync_state WHERE source = 'crm'") == \
        [({"page": 1},)]
    gate = _open_gate(project)
    resumed = run_cli_process("sync", "crm", cwd=project, env=env, timeout=60)
    gate.join(timeout=30)
    assert resumed.returncode == 0, resumed.stderr  # the lock died with the process
    assert _rows(pg_url, "SELECT count(*) FROM accounts WHERE source = 'crm'") == [(5,)]
    statuses = _rows(pg_url, "SELECT status FROM sync_runs ORDER BY run_id")
    assert statuses == [("interrupted",), ("succeeded",)]


def test_records_postgres_cannot_hold_are_quarantined_or_kept_visibly(
        tmp_path: Path, pg_url: str, cli: Any) -> None:
    _poisoned_export(tmp_path)
    with (tmp_path / "exports" / "users.jsonl").open("w") as users:
        users.write(json.dumps({"id": "U1", "name": "a\x00b", "nick": "c\x00d"}) + "\n")
    config = (tmp_path / "crm-connect.toml").read_text()
    (tmp_path / "crm-connect.toml").write_text(f'[store]\nurl = "{pg_url}"\n\n{config}')
    for _ in range(2):  # and again: nothing changes
        synced = cli("sync", cwd=tmp_path)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        for entity, (_, reason) in POISON.items():
            assert _rows(pg_url, f"SELECT count(*) FROM {entity}") == [(ROWS - 1,)], entity
            found = _rows(pg_url, "SELECT location, reason FROM quarantine WHERE entity = "
                          f"'{entity}'")
            assert len(found) == 1 and found[0][0] == f"{entity}.jsonl:{BAD_LINE}", entity
            assert reason in str(found[0][1]), (entity, found[0][1])
    raw, record_id = _rows(pg_url, "SELECT raw, record_id FROM quarantine "
                                   "WHERE entity = 'leads'")[0]
    assert raw["id"] == "L\\ud800" and record_id == "L\\ud800"  # type: ignore[index]
    listed = cli("quarantine", "list", "--format", "json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert sorted(entry["entity"] for entry in entries) == sorted(POISON)
    shown = cli("quarantine", "show", entries[0]["id"], cwd=tmp_path)
    assert shown.returncode == 0 and entries[0]["reason"][:20] in shown.stdout, shown.stderr
    # Postgres text holds no NUL: it is kept as the visible text \u0000.
    assert _rows(pg_url, "SELECT name, extra->>'nick' FROM users") == \
        [("a\\u0000b", "c\\u0000d")]
