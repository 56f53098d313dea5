"""Bulk validation gives exactly what record-by-record pydantic validation gives.

The same varied and dirty pages go through both paths (``prepare_in_bulk`` and
``CRM_CONNECT_VALIDATION=records``): the Arrow table stored, the quarantine (reason, raw
payload, id, place) and the counts must be identical.  Then a whole export with dirty rows is
synced by the installed command both ways, and the stored tables and the quarantine compared.
"""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crm_connect.bulk_fields import entity_rules
from crm_connect.connector import Page, Rejected
from crm_connect.pages import PreparedPage, prepare_in_bulk, prepare_page
from crm_connect.sample import write_sample_export
from crm_connect.schema import ENTITIES

# Values that are clean, dirty, or only valid after pydantic's own coercions.
_ANY = ["", None, "abc", 12, 12.5, True, "\ud800", "caf\u00e9", " x ", [1], {"a": 1}, b"abc",
        b"\xff"]
_BY_KIND: dict[str, list[Any]] = {
    "datetime": ["2026-05-01T07:25:37.000+0000", "2026-05-01 07:25:37", "2026-05-01T07:25:37Z",
                 "2026-05-01T07:25:37+05:30", "2026-05-01", "2026-02-30T00:00:00",
                 "2026-05-01T24:00:00", "2026-05-01T07:25:37.1234567", "1700000000",
                 1700000000, 1700000000000, "2026-05-01t07:25:37z",
                 "2026-05-01T07:25:37.5-0130", "0999-01-01T00:00:00"],
    "date": ["2026-05-01", "2026-02-30", "2026-05-01T23:30:00-02:00", "2026-05-01 01:00:00",
             "20260501", "2026-5-1"],
    "money": ["12.50", "-0", "1e3", " 12", "+5", "12.", "0.0000000001", "1" * 29 + ".5",
              "1" * 30, "99999999999999999999999999999.9999999999", 10**30, 42, 12.25, "NaN",
              "-43201.00"],
    "count": ["12", "007", "-0", "12.0", "+5", "1_000", "9" * 19, 2**63, 2**40, "1e3"],
    "number": ["1.5", "100", "1e3", "inf", "nan", ".5", "-0.0", 7, 0.1, "1e400", "1_0"],
    "flag": ["true", "True", "FALSE", "yes", "n", "1", "0", "2", " true", 0, 1, False],
    "enum": ["call", "Call", " email ", "meeting_x", "new_business", "Upsell", "nps", "NPS",
             "acquisition", "inbound", "Out-bound"],
    "pattern": ["USD", "usd", "EURO", "GB"],
    "json": ['{"k": "v"}', "[1, 2]", "not json", {"k": 1}, {"k": "\ud800"}, {1: "x"}, {},
             '{"k": "\\ud800"}'],
    "text": ["Deal 1", 123, 2**70],
    "opaque": [],
}


def _dirty_page(entity: str, rng: random.Random, clean: list[dict[str, Any]]) -> Page:
    rules = entity_rules(entity)
    records: list[Any] = []
    for base in clean:
        record = dict(base)
        record["source"] = "src"
        if rng.random() < 0.5:
            for rule in rng.sample(rules.fields, k=rng.randint(1, 3)):
                if rule.name == "source":
                    continue
                record[rule.name] = rng.choice(_BY_KIND[rule.kind] + _ANY)
        if rng.random() < 0.05:
            record["unknown_field"] = rng.choice(["x", "", None])
        if rng.random() < 0.1 and records:
            record["id"] = rng.choice(records).get("id", "d")
        if rng.random() < 0.02:
            record.pop("id", None)
        records.append(record)
    locations = [f"{entity}.csv:{line}" for line in range(2, len(records) + 2)]
    return Page(records, None, locations=locations,
                rejected=[Rejected("unreadable", "raw line", f"{entity}.csv:1")])


def _clean_rows(folder: Path, entity: str) -> list[dict[str, Any]]:
    with (folder / f"{entity}.csv").open(newline="") as handle:
        return [{key: value for key, value in row.items() if value}
                for row in csv.DictReader(handle)]


def _same(bulk: PreparedPage, records: PreparedPage) -> None:
    assert (bulk.table is None) == (records.table is None)
    if bulk.table is not None and records.table is not None:
        assert bulk.table.schema == records.table.schema
        assert [_nan_as_text(tuple(row.values())) for row in bulk.table.to_pylist()] == [
            _nan_as_text(tuple(row.values())) for row in records.table.to_pylist()]
    assert [vars(item) for item in bulk.quarantined] == [
        vars(item) for item in records.quarantined]
    assert (bulk.records, bulk.negative_won_deals) == (
        records.records, records.negative_won_deals)


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_bulk_and_pydantic_prepare_the_same_page(entity: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write_sample_export(tmp_path, scale=0.6, seed=5)
    clean = _clean_rows(tmp_path, entity)
    rng = random.Random(entity)
    for _ in range(3):
        page = _dirty_page(entity, rng, clean)
        bulk = prepare_in_bulk(entity, "src", entity, page)
        monkeypatch.setenv("CRM_CONNECT_VALIDATION", "records")
        by_record = prepare_page(entity, "src", entity, page)
        monkeypatch.delenv("CRM_CONNECT_VALIDATION")
        _same(bulk, by_record)
        assert bulk.quarantined, "the dirty page has rows both paths refuse"
        assert bulk.records, "the dirty page has rows both paths keep"


def test_a_clean_page_never_needs_pydantic(tmp_path: Path) -> None:
    write_sample_export(tmp_path, scale=0.2, seed=5)
    for entity in ENTITIES:
        rows = [{**row, "source": "src"} for row in _clean_rows(tmp_path, entity)]
        assert not entity_rules(entity).opaque
        from crm_connect.bulk import check_page

        assert check_page(entity, rows).passed.all(), entity


def _nan_as_text(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """NaN is stored both ways, but never equals itself: compare it as text."""
    return tuple("nan" if isinstance(value, float) and math.isnan(value) else value
                 for value in row)


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {entity: [_nan_as_text(row) for row in con.execute(
            f'SELECT * FROM "{entity}" ORDER BY source, id').fetchall()]
                  for entity in ENTITIES}
        tables["quarantine"] = con.execute(
            "SELECT source, stream, entity, record_key, record_id, location, reason, raw "
            "FROM quarantine ORDER BY stream, record_key").fetchall()
    return tables


def _dirty_export(folder: Path) -> None:
    write_sample_export(folder, scale=1.0, seed=9)
    rng = random.Random(4)
    for entity in ("deals", "activities", "survey_responses", "contracts", "spend"):
        path = folder / f"{entity}.csv"
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        fields = list(rows[0])
        rules = {rule.name: rule for rule in entity_rules(entity).fields}
        for row in rows:
            if rng.random() < 0.3:
                name = rng.choice([name for name in fields if name in rules])
                options = [value for value in _BY_KIND[rules[name].kind] + _ANY
                           if isinstance(value, str) and value.isascii()]
                row[name] = rng.choice(options)
        rows.append(dict(rows[0]))  # a record read twice: the last one wins
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fields)
            writer.writeheader()
            writer.writerows(rows)
    lines = [json.dumps({"id": "J1", "kind": "call", "extra": {"k": "v"}, "duration_seconds": 5}),
             json.dumps({"id": "J2", "kind": "Call", "occurred_at": 1700000000}),
             json.dumps({"id": "J3", "kind": "email", "opened": "maybe"})]
    (folder / "activities.csv").unlink()
    (folder / "activities.jsonl").write_text("\n".join(lines) + "\n")


def test_a_dirty_export_is_stored_the_same_either_way(tmp_path: Path, cli: Any) -> None:
    _dirty_export(tmp_path / "exports")
    stored = {}
    for mode in ("bulk", "records"):
        root = tmp_path / mode
        root.mkdir()
        (root / "crm-connect.toml").write_text(
            f'[connections.exp]\nconnector = "files"\npath = "{tmp_path / "exports"}"\n'
            "page_size = 200\n")
        result = cli("sync", cwd=root, env={"CRM_CONNECT_VALIDATION": mode,
                                            "CRM_CONNECT_WORKERS": "0"})
        assert result.returncode in (0, 1), result.stderr
        stored[mode] = _dump(root / "crm.duckdb")
    assert stored["bulk"]["quarantine"], "the dirty rows reached the quarantine"
    assert stored["bulk"]["deals"], "the clean rows were stored"
    assert stored["bulk"] == stored["records"]


def _csv_level_dirt(folder: Path) -> None:
    """Bytes and shapes only the line-by-line reader reads exactly, placed after several
    blocks Arrow reads (blocks are max(page_size, 256) lines): a byte that is not UTF-8, a
    short row, a blank line, a quoted line break, quotes only Python's reader makes sense
    of, a lone carriage return; CRLF line ends and a byte-order mark Arrow reads itself."""
    def edit(name: str, at: int, extra: list[bytes]) -> None:
        path = folder / name
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(lines[:at] + extra + lines[at:]))

    deals = (folder / "deals.csv").read_bytes().splitlines(keepends=True)
    width = deals[0].count(b",") + 1
    row = deals[5].rstrip(b"\r\n").split(b",")

    def deal(key: str, name: bytes) -> bytes:
        return b",".join([key.encode(), name, *row[2:]]) + b"\n"

    edit("deals.csv", 600, [deal("X1", b"Caf\xe9 deal"), b"X2,short\n", b"\n",
                            deal("X3", b'"two\nlines"'), deal("X4", b'ab"c'),
                            deal("X5", b'"ab"c'), deal("X6", b'"fine, ""quoted"""')])
    assert width == len(row)
    leads = (folder / "leads.csv").read_bytes()
    (folder / "leads.csv").write_bytes(leads.replace(b"\n", b"\r\n"))
    accounts = (folder / "accounts.csv").read_bytes()
    (folder / "accounts.csv").write_bytes(b"\xef\xbb\xbf" + accounts)
    edit("contacts.csv", 700, [b"\r"])


@pytest.mark.parametrize("page_size", [100, 1000])
def test_the_arrow_reader_and_the_line_reader_store_the_same(tmp_path: Path, cli: Any,
                                                             page_size: int) -> None:
    """A CSV export read by Arrow in blocks (handed to bulk validation as tables) and read
    line by line into dictionaries gives the same tables, quarantine and states, on a first
    sync and on an incremental one after the files changed."""
    exports = tmp_path / "exports"
    write_sample_export(exports, scale=2.0, seed=9)
    _dirty_export(exports)  # dirty values, a record read twice, a JSON Lines file
    _csv_level_dirt(exports)
    modes = {"arrow": {}, "python": {"CRM_CONNECT_CSV_READER": "python"},
             "arrow-records": {"CRM_CONNECT_VALIDATION": "records"}}
    stored: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    logs = {}
    for mode, env in modes.items():
        root = tmp_path / mode
        root.mkdir()
        (root / "crm-connect.toml").write_text(
            f'[connections.exp]\nconnector = "files"\npath = "{exports}"\n'
            f"page_size = {page_size}\n")
        result = cli("-vv", "sync", cwd=root, env=env)
        assert result.returncode in (0, 1), result.stderr
        logs[mode] = result.stderr
        stored[mode].append(_dump_with_state(root / "crm.duckdb"))
    for name in ("spend.csv", "contracts.csv"):  # newer rows, an older one, a changed one
        lines = (exports / name).read_text().splitlines()
        newer = [line.replace("2026-", "2027-") for line in lines[1:4]]
        (exports / name).write_text("\n".join([*lines, *newer, lines[5]]) + "\n")
    for mode, env in modes.items():
        result = cli("sync", cwd=tmp_path / mode, env=env)
        assert result.returncode in (0, 1), result.stderr
        stored[mode].append(_dump_with_state(tmp_path / mode / "crm.duckdb"))
    assert "deals.csv is read with Arrow" in logs["arrow"]
    assert "deals.csv is read line by line from line" in logs["arrow"]
    assert "spend.csv is read line by line" not in logs["arrow"]
    assert "read with Arrow" not in logs["python"]
    first = stored["arrow"][0]
    assert [row for row in first["quarantine"] if row[1] == "deals"], "dirt was quarantined"
    assert first["deals"] and first["contacts"] and first["leads"]
    assert stored["arrow"] == stored["python"]
    assert stored["arrow"] == stored["arrow-records"]


def _dump_with_state(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    tables = _dump(path)
    with duckdb.connect(str(path), read_only=True) as con:
        tables["sync_state"] = con.execute(
            "SELECT source, stream, state FROM sync_state ORDER BY stream").fetchall()
    return tables
