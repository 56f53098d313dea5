"""Records no page should die of: a timestamp that leaves the calendar once converted to UTC,
and a connector yielding something that is not a record at all.  Each is quarantined with a
reason that says what is wrong; the rest of its page is stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crm_connect.connector import Page, Stream
from crm_connect.pages import prepare_page
from crm_connect.schema import Account, parse_datetime
from crm_connect.sync import _prepare

FAR_FUTURE = "9999-12-31T23:00:00-05:00"  # 10000-01-01T04:00 in UTC
VALIDATION = ["bulk", "records"]


def test_a_timestamp_past_year_9999_in_utc_is_a_validation_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="outside the calendar"):
        Account.model_validate({"id": "a", "source": "s", "updated_at": FAR_FUTURE})
    assert parse_datetime(FAR_FUTURE) == FAR_FUTURE  # not a datetime: the model reports it
    assert parse_datetime("0001-01-01T00:30:00+01:00") == "0001-01-01T00:30:00+01:00"
    assert parse_datetime("9999-12-31T23:00:00+00:00") == dt.datetime(
        9999, 12, 31, 23, tzinfo=dt.UTC)


@pytest.mark.parametrize("validation", VALIDATION)
def test_a_far_future_timestamp_quarantines_its_row_and_keeps_the_page(
        validation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_CONNECT_VALIDATION", validation)
    records = [{"id": f"A{n}", "source": "src", "updated_at": "2026-01-02T03:04:05Z"}
               for n in range(5)]
    records[2]["updated_at"] = FAR_FUTURE
    records[4]["extra"] = {"seen": FAR_FUTURE}  # only a timestamp field is converted
    prepared = prepare_page("accounts", "src", "accounts",
                            Page(records, locations=[f"a.csv:{n + 2}" for n in range(5)]))
    assert prepared.records == 4
    assert prepared.table is not None
    assert prepared.table.column("id").to_pylist() == ["A0", "A1", "A3", "A4"]
    [bad] = prepared.quarantined
    assert (bad.record_id, bad.location) == ("A2", "a.csv:4")
    assert bad.reason.startswith("updated_at: ")
    assert "outside the calendar (years 1 to 9999) once converted to UTC" in bad.reason


@pytest.mark.parametrize("validation", VALIDATION)
def test_a_record_that_is_not_a_dictionary_is_quarantined_with_a_reason(
        validation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_CONNECT_VALIDATION", validation)
    page = Page(["not a record", {"id": "C1"}, None, 42, {"id": "C2"}])  # type: ignore[list-item]
    _prepare("conn", Stream("contacts", "contacts"), page)  # the runner fills in `source`
    prepared = prepare_page("contacts", "conn", "contacts", page)
    assert prepared.records == 2
    assert prepared.table is not None
    assert prepared.table.column("id").to_pylist() == ["C1", "C2"]
    assert prepared.table.column("source").to_pylist() == ["conn", "conn"]
    assert [(item.raw, item.record_id) for item in prepared.quarantined] == [
        ("not a record", None), (None, None), (42, None)]
    for item in prepared.quarantined:
        assert item.reason.startswith("record: Input should be a valid dictionary"), item.reason


def test_a_far_future_row_of_an_export_is_quarantined_by_the_sync(
        tmp_path: Path, cli: Callable[..., Any]) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    rows = ["id,name,updated_at"] + [f"A{n},Acme {n},2026-01-0{n}T00:00:00Z"
                                      for n in range(1, 6)]
    rows[3] = f"A3,Acme 3,{FAR_FUTURE}"
    (folder / "accounts.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "crm-connect.toml").write_text(
        '[connections.exp]\nconnector = "files"\npath = "exports/"\n')
    result = cli("sync", cwd=tmp_path)
    assert "Traceback" not in result.stderr
    with duckdb.connect(str(tmp_path / "crm.duckdb"), read_only=True) as con:
        assert con.execute("SELECT id FROM accounts ORDER BY id").fetchall() == [
            ("A1",), ("A2",), ("A4",), ("A5",)]
        [(record_id, location, reason)] = con.execute(
            "SELECT record_id, location, reason FROM quarantine").fetchall()
    assert (record_id, location) == ("A3", "accounts.csv:4")
    assert "outside the calendar" in reason
