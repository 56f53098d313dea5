"""The store contract's ways in, the same on every built-in store: a dialect, queries into
Arrow with bound parameters, tables created and widened, Arrow appended (and upserted on a
key), the writer lock refused to a read-only store."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from crm_connect.config import open_store
from crm_connect.errors import StoreError
from crm_connect.store_contract import Store


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "duckdb":
        return "duckdb:///contract.duckdb"
    server = request.getfixturevalue("postgres_server")
    monkeypatch.setenv("CRM_CONNECT_STORE_PASSWORD", server.password)
    url: str = server.create_database(f"c_{uuid.uuid4().hex[:12]}")
    return url


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(store_url, base_dir=tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def _rows(day: int, value: float, note: str | None) -> pa.Table:
    return pa.table({"key": ["a"], "day": pa.array([dt.date(2026, 3, day)], pa.date32()),
                     "value": [value], "note": pa.array([note], pa.string())})


def test_tables_are_created_widened_appended_and_upserted(store: Store) -> None:
    assert store.dialect in ("duckdb", "postgres")
    assert not store.has_table("facts")
    store.ensure_table("facts", [("key", "VARCHAR NOT NULL"), ("day", "DATE NOT NULL"),
                                 ("value", "DOUBLE")])
    assert store.has_table("facts")
    store.ensure_table("facts", [("key", "VARCHAR NOT NULL"), ("day", "DATE NOT NULL"),
                                 ("value", "DOUBLE"), ("note", "VARCHAR")])
    assert store.append_arrow("facts", _rows(1, 1.5, None)) == 1
    assert store.append_arrow("facts", _rows(2, 2.5, "100% sure?")) == 1
    store.append_arrow("facts", _rows(2, 3.5, "replaced"), replace_on=("key", "day"))
    table = store.query_arrow("SELECT day, value, note FROM facts WHERE key = ? "
                              "AND coalesce(note, '') NOT LIKE '%?%' ORDER BY day", ["a"])
    assert table.to_pylist() == [
        {"day": dt.date(2026, 3, 1), "value": 1.5, "note": None},
        {"day": dt.date(2026, 3, 2), "value": 3.5, "note": "replaced"}]
    assert store.execute("SELECT count(*) FROM facts WHERE value > $1", [2]) == [(1,)]


def test_a_read_only_store_takes_no_writer_lock(store_url: str, tmp_path: Path) -> None:
    open_store(store_url, base_dir=tmp_path).close()  # create it
    reader = open_store(store_url, base_dir=tmp_path, read_only=True)
    try:
        with pytest.raises(StoreError, match="read-only"):
            reader.lock_connections(["crm"])
    finally:
        reader.close()
