from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
import types
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import CLI
from crm_connect import hookimpl
from crm_connect.config import open_store, parse_config
from crm_connect.errors import ConfigError, StoreError
from crm_connect.sample import write_sample_export
from crm_connect.schema import Deal
from crm_connect.store import DuckDBStore, QuarantinedRecord
from crm_connect.sync import run_sync


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with DuckDBStore.open("duckdb:///crm.duckdb", base_dir=tmp_path) as opened:
        yield opened


def deal(n: int, **fields: Any) -> Deal:
    return Deal(source="sf", id=f"D{n}", amount=Decimal("10.5"), currency="USD",
                created_at="2026-05-01T07:25:37.000+0000", **fields)


def test_url_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    with DuckDBStore.open("duckdb:///data/x.duckdb", base_dir=tmp_path) as opened:
        assert opened.path == str(tmp_path / "data" / "x.duckdb")
    with pytest.raises(StoreError, match="duckdb:///path"):
        DuckDBStore.open("duckdb:x", base_dir=tmp_path)
    with pytest.raises(ConfigError, match="no store plugin handles it"):
        open_store("mysql://db/crm", base_dir=tmp_path)


def test_one_table_per_entity_with_typed_columns(store: DuckDBStore) -> None:
    types_ = dict(store.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'deals'"))
    assert types_["amount"] == "DECIMAL(38,9)"
    assert types_["created_at"] == "TIMESTAMP" and types_["is_won"] == "BOOLEAN"
    assert types_["extra"] == "JSON"


def test_upsert_by_source_and_id_with_state_in_the_same_transaction(store: DuckDBStore) -> None:
    run = store.begin_run(["sf"])
    store.write_page(entity="deals", source="sf", stream="Opportunity",
                     records=[deal(1), deal(2)], state={"cursor": "a"}, quarantined=[],
                     run_id=run)
    store.write_page(entity="deals", source="sf", stream="Opportunity",
                     records=[deal(2, name="second version"), deal(3), deal(3, name="last")],
                     state={"cursor": "b"}, quarantined=[], run_id=run)
    rows = store.execute("SELECT id, name, amount, created_at FROM deals ORDER BY id")
    assert rows == [
        ("D1", None, Decimal("10.500000000"), dt.datetime(2026, 5, 1, 7, 25, 37)),
        ("D2", "second version", Decimal("10.500000000"), dt.datetime(2026, 5, 1, 7, 25, 37)),
        ("D3", "last", Decimal("10.500000000"), dt.datetime(2026, 5, 1, 7, 25, 37)),
    ]
    assert store.get_state("sf", "Opportunity") == {"cursor": "b"}


def test_a_page_that_fails_to_store_leaves_records_and_state_untouched(
        store: DuckDBStore) -> None:
    run = store.begin_run(["sf"])
    store.write_page(entity="deals", source="sf", stream="Opportunity", records=[deal(1)],
                     state={"cursor": "a"}, quarantined=[], run_id=run)
    broken = QuarantinedRecord("sf", "Opportunity", "deals", "bad amount", raw={"Id": "D9"})
    store.con.execute("DROP TABLE quarantine")  # make the write fail after the records went in
    with pytest.raises(StoreError) as failure:
        store.write_page(entity="deals", source="sf", stream="Opportunity",
                         records=[deal(2)], state={"cursor": "b"}, quarantined=[broken],
                         run_id=run)
    # The real cause is reported, not what the aborted transaction says afterwards.
    message = str(failure.value)
    assert "quarantine does not exist" in message and "aborted" not in message
    assert "sf/Opportunity" in message and "nothing of this page was stored" in message
    assert store.execute("SELECT id FROM deals") == [("D1",)]
    assert store.get_state("sf", "Opportunity") == {"cursor": "a"}


def test_new_schema_columns_are_added_to_an_existing_store(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE deals (source VARCHAR, id VARCHAR)")
        con.execute("INSERT INTO deals VALUES ('sf', 'D1')")
    with DuckDBStore.open(f"duckdb:///{path}", base_dir=tmp_path) as opened:
        assert opened.execute("SELECT id, amount FROM deals") == [("D1", None)]


def test_a_store_plugin_is_found_by_url_scheme(tmp_path: Path, crm_plugin) -> None:  # type: ignore[no-untyped-def]
    opened: list[str] = []

    class MemoryStore(DuckDBStore):
        scheme = "memory"

        @classmethod
        def open(cls, url: str, **kwargs: Any) -> DuckDBStore:  # type: ignore[override]
            opened.append(url)
            return cls(duckdb.connect(":memory:"), ":memory:")

    @hookimpl
    def register_stores(register: Any) -> None:
        register("memory", MemoryStore)

    crm_plugin(types.SimpleNamespace(register_stores=register_stores), "memstore")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "spend.csv").write_text(
        "id,date,category,amount\nS1,2026-01-01,acquisition,10\n")
    config = parse_config('[store]\nurl = "memory://"\n[connections.f]\nconnector = "files"\n'
                          'path = "x"\n', None, tmp_path)
    report = run_sync(config)
    assert report.ok and opened == ["memory://"]


def test_id_sweep_marks_rows_it_did_not_list_deleted(store: DuckDBStore) -> None:
    """A sweep in parts: staged until its last part, which marks the stored rows of the source
    (under its id prefix) that no part listed as deleted, and never removes a row."""
    from crm_connect.connector import IdSweep

    run = store.begin_run(["sf"])
    rows = [deal(n) for n in (1, 2, 3, 4)] + [
        Deal(source="sf", id="X9", currency="USD"), Deal(source="other", id="D3")]
    store.write_page(entity="deals", source="sf", stream="deals", records=rows[:5], state=None,
                     quarantined=[], run_id=run)
    store.write_page(entity="deals", source="other", stream="deals", records=rows[5:],
                     state=None, quarantined=[], run_id=run)
    first = store.write_page(entity="deals", source="sf", stream="deals", records=[],
                             state=None, quarantined=[], run_id=run,
                             id_sweep=IdSweep(["D1"], first=True, prefix="D"))
    assert first.deleted == 0  # staged only
    assert store.execute("SELECT count(*) FROM deals WHERE is_deleted") == [(0,)]
    marked = store.write_page(entity="deals", source="sf", stream="deals", records=[],
                              state={"cursor": "z"}, quarantined=[], run_id=run,
                              id_sweep=IdSweep(["D2", "D4"], last=True, prefix="D"))
    assert marked.deleted == 1
    assert store.execute("SELECT source, id, is_deleted FROM deals ORDER BY source, id") == [
        ("other", "D3", False), ("sf", "D1", False), ("sf", "D2", False), ("sf", "D3", True),
        ("sf", "D4", False), ("sf", "X9", False)]  # X9: outside the prefix
    assert store.get_state("sf", "deals") == {"cursor": "z"}
    assert store.execute("SELECT count(*) FROM sync_id_sweep") == [(0,)]
    # an unfinished sweep is dropped by the next one's first part
    store.write_page(entity="deals", source="sf", stream="deals", records=[], state=None,
                     quarantined=[], run_id=run, id_sweep=IdSweep(["D1"], first=True))
    again = store.write_page(entity="deals", source="sf", stream="deals", records=[],
                             state=None, quarantined=[], run_id=run,
                             id_sweep=IdSweep(["D2"], first=True, last=True))
    assert again.deleted == 3  # D1, D4, X9; D3 was already marked


# -- a store that cannot be created: a message naming [store] url, never a traceback ----------


def _sync_into(root: Path, store_url: str, **run: Any) -> subprocess.CompletedProcess[str]:
    """``crm-connect sync`` of a small files export into ``store_url``."""
    write_sample_export(root / "exports", scale=0.01, seed=1)
    (root / "crm-connect.toml").write_text(
        f'[store]\nurl = "{store_url}"\n[connections.finance]\nconnector = "files"\n'
        'path = "exports/"\n')
    return subprocess.run([CLI, "sync"], cwd=root, capture_output=True, text=True,
                          timeout=120, **run)


def _says_what_to_write(result: subprocess.CompletedProcess[str], why: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    message = " ".join(result.stderr.split())
    assert "Traceback" not in message
    assert "[store] url" in message and why in message, message
    assert 'url = "duckdb:///crm.duckdb"' in message


def test_a_store_folder_that_is_a_file_names_the_store_url_key(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder")
    result = _sync_into(tmp_path, "duckdb:///data/crm.duckdb")  # FileExistsError on mkdir
    _says_what_to_write(result, f"{tmp_path / 'data'} is a file, not a folder")
    deeper = _sync_into(tmp_path, "duckdb:///data/sub/crm.duckdb")  # NotADirectoryError
    _says_what_to_write(deeper, f"{tmp_path / 'data'} is a file, not a folder")


def test_a_store_folder_without_write_permission_names_the_store_url_key() -> None:
    # Root writes anywhere: as root the sync runs as "nobody" in a folder it may read but not
    # write; any other user is refused by the folder's mode as it is.
    root = Path(tempfile.mkdtemp(prefix="crm-perm-"))
    run: dict[str, Any] = {}
    if os.geteuid() == 0:
        run = {"user": 65534, "group": 65534, "env": {**os.environ, "HOME": str(root)}}
        probe = subprocess.run([CLI, "--version"], capture_output=True, **run)
        if probe.returncode != 0:
            shutil.rmtree(root)
            pytest.skip("the checkout is not readable by user nobody, who must run the sync")
    try:
        root.chmod(0o755)
        (root / "store").mkdir(mode=0o555)
        result = _sync_into(root, "duckdb:///store/crm.duckdb", **run)
        _says_what_to_write(result, f"{root / 'store'} is not writable (permission denied)")
        deeper = _sync_into(root, "duckdb:///store/sub/crm.duckdb", **run)
        _says_what_to_write(deeper, f"{root / 'store'} is not writable (permission denied)")
    finally:
        shutil.rmtree(root)


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs at ``tmp_path/ro``, to be remounted read-only by the test."""
    mount_point = tmp_path / "ro"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to make a read-only filesystem here "
                    f"(needs root with CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def _remount_read_only(mount_point: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)


def test_a_store_on_a_read_only_filesystem_names_the_store_url_key(
        tmp_path: Path, read_only_mount: Path) -> None:
    (read_only_mount / "empty").mkdir()
    (read_only_mount / "synced").mkdir()
    first = _sync_into(tmp_path, "duckdb:///ro/synced/crm.duckdb")
    assert first.returncode == 0, first.stderr
    _remount_read_only(read_only_mount)

    new = _sync_into(tmp_path, "duckdb:///ro/empty/crm.duckdb")
    _says_what_to_write(new, f"{read_only_mount / 'empty'} is on a read-only filesystem")
    again = _sync_into(tmp_path, "duckdb:///ro/synced/crm.duckdb")
    _says_what_to_write(again, f"{read_only_mount / 'synced'} is on a read-only filesystem")
    # What was synced before is intact, and still readable.
    kpis = subprocess.run([CLI, "kpis", "--metric", "accounts_created", "--format", "json",
                           "--grain", "year", "--from", "2020-01-01"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert kpis.returncode == 0, kpis.stderr
    assert sum(row["value"] or 0 for row in json.loads(kpis.stdout)) > 0
