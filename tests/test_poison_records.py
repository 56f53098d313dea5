"""Records pydantic would accept but the store cannot hold (issue 12): each is quarantined with
its reason, the rest of its page is stored, and no page is lost behind it."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pydantic import ValidationError

from crm_connect.schema import INT64_MAX, INT64_MIN, Deal, Ticket
from crm_connect.store import DuckDBStore

ROWS, PAGE, BAD_LINE = 45, 10, 15  # the bad record sits in the second page of five

# entity -> (the bad row's fields as JSON text, what its quarantine reason says)
POISON: dict[str, tuple[str, str]] = {
    "accounts": ('"name": "Acme \\ud800"', "lone surrogate"),
    "tickets": ('"interactions_count": 1180591620717411303424',
                "less than or equal to 9223372036854775807"),
    "deals": ('"amount": "123456789012345678901234567890.5"',
              "less than 99999999999999999999999999999.9999999995"),
    # A field with no canonical home goes to `extra`, which the store keeps as JSON.
    "contacts": ('"nickname": "\\udc00"', "cannot be stored: text that is not valid UTF-8"),
    "leads": ('"email": "x@example.com", "id": "L\\ud800"', "lone surrogate"),
}


def table(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _poisoned_export(root: Path) -> None:
    folder = root / "exports"
    folder.mkdir()
    for entity, (bad, _) in POISON.items():
        lines = []
        for n in range(1, ROWS + 1):
            stamp = f"2026-03-{n:02d}T10:00:00Z" if n <= 28 else f"2026-04-{n - 28:02d}T10:00:00Z"
            fields = f'"id": "{entity[0].upper()}{n}", "updated_at": "{stamp}"'
            if n == BAD_LINE:
                fields += ", " + bad
            lines.append("{" + fields + "}")
        (folder / f"{entity}.jsonl").write_text("\n".join(lines) + "\n")
    (root / "crm-connect.toml").write_text(
        f'[connections.files]\nconnector = "files"\npath = "exports/"\npage_size = {PAGE}\n')


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_record_the_store_cannot_hold_is_quarantined_and_its_page_kept(
        tmp_path: Path, cli: Callable[..., Any], workers: str) -> None:
    _poisoned_export(tmp_path)
    env = {"CRM_CONNECT_WORKERS": workers}
    first = cli("sync", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{len(POISON)} records were quarantined" in first.stdout
    assert "Traceback" not in first.stderr
    db = tmp_path / "crm.duckdb"

    def check() -> None:
        for entity, (_, reason) in POISON.items():
            assert table(db, f"SELECT count(*) FROM {entity}") == [(ROWS - 1,)], entity
            rows = table(db, "SELECT location, reason FROM quarantine WHERE entity = ?"
                         .replace("?", f"'{entity}'"))
            assert len(rows) == 1 and rows[0][0] == f"{entity}.jsonl:{BAD_LINE}", entity
            assert reason in rows[0][1], (entity, rows[0][1])
            state = json.loads(table(db, "SELECT state FROM sync_state WHERE stream = "
                                         f"'{entity}'")[0][0])
            assert "resume" not in state, f"{entity}: the stream was read to its end"

    check()
    # The raw payload is kept, a lone surrogate shown as text.
    raw, record_id = table(db, "SELECT raw, record_id FROM quarantine WHERE entity = 'leads'")[0]
    assert json.loads(raw)["id"] == "L\\ud800" and record_id == "L\\ud800"
    assert table(db, "SELECT status FROM sync_runs") == [("succeeded",)]

    # Nothing was skipped, so an incremental run and a full refresh change nothing.
    for args in (("sync",), ("sync", "--full-refresh")):
        again = cli(*args, cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        check()
    assert table(db, "SELECT count(*) FROM quarantine") == [(len(POISON),)]


def test_the_models_refuse_what_the_columns_cannot_hold() -> None:
    assert Ticket(source="s", id="1", interactions_count=INT64_MAX).interactions_count == INT64_MAX
    assert Ticket(source="s", id="1", interactions_count=INT64_MIN).interactions_count == INT64_MIN
    largest = Decimal("99999999999999999999999999999.9999999994")  # rounds to 29 + 9 nines
    assert Deal(source="s", id="1", amount=largest).amount == largest
    assert Deal(source="s", id="1", amount=largest.copy_negate()).amount == largest.copy_negate()
    assert Deal(source="s", id="1", name="Café 😀").name == "Café 😀"
    refused: list[dict[str, Any]] = [
        {"amount": "99999999999999999999999999999.9999999995"},
        {"amount": "-1e29"},
        {"name": "x\udfff"},
        {"id": "\ud800"},
        {"source": "\ud800"},
    ]
    for fields in refused:
        with pytest.raises(ValidationError):
            Deal(**{"source": "s", "id": "1", **fields})
    for count in (INT64_MAX + 1, INT64_MIN - 1):
        with pytest.raises(ValidationError):
            Ticket(source="s", id="1", interactions_count=count)


def test_records_built_without_validation_are_quarantined_by_the_store(tmp_path: Path) -> None:
    """A store given records no model checked (``model_construct``) still stores the page,
    quarantining the records its columns cannot hold, with the column named."""
    good = [Ticket(source="s", id=f"T{n}", interactions_count=n) for n in range(3)]
    too_big = Ticket.model_construct(source="s", id="T-big", interactions_count=2**70,
                                     extra={}, is_deleted=False)
    bad_text = Ticket.model_construct(source="s", id="T-text", status="open\ud800",
                                      extra={}, is_deleted=False)
    bad_amount = Deal.model_construct(source="s", id="D-big", amount=Decimal("1e40"),
                                      extra={}, is_deleted=False, is_won=False,
                                      is_closed=False)
    with DuckDBStore.open("duckdb:///crm.duckdb", base_dir=tmp_path) as store:
        run = store.begin_run(["s"])
        store.write_page(entity="tickets", source="s", stream="t",
                         records=[good[0], too_big, good[1], bad_text, good[2]],
                         state={"cursor": "1"}, quarantined=[], run_id=run)
        store.write_page(entity="deals", source="s", stream="d", records=[bad_amount],
                         state={"cursor": "2"}, quarantined=[], run_id=run)
        assert store.execute("SELECT id FROM tickets ORDER BY id") == [
            ("T0",), ("T1",), ("T2",)]
        reasons = dict(store.execute("SELECT record_id, reason FROM quarantine"))
        assert reasons["T-big"] == (
            "cannot be stored: integer 1180591620717411303424 is beyond the 64-bit range of "
            "tickets.interactions_count (BIGINT)")
        assert "not valid UTF-8" in reasons["T-text"] and "tickets.status" in reasons["T-text"]
        assert "amount 1E+40 is beyond DECIMAL(38, 9)" in reasons["D-big"]
        assert store.get_state("s", "t") == {"cursor": "1"}
        assert store.get_state("s", "d") == {"cursor": "2"}


def test_won_deals_with_a_negative_amount_are_kept_with_a_warning(
        tmp_path: Path, cli: Callable[..., Any]) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    rows = ["id,amount,currency,is_closed,is_won,updated_at",
            "D1,-120.50,EUR,true,true,2026-03-01T10:00:00Z",   # a credit note: kept
            "D2,900,EUR,true,true,2026-03-02T10:00:00Z",
            "D3,-40,EUR,true,false,2026-03-03T10:00:00Z",      # lost: not counted
            "D4,-5,EUR,true,true,2026-03-04T10:00:00Z"]
    (folder / "deals.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "crm-connect.toml").write_text(
        '[connections.crm]\nconnector = "files"\npath = "exports/"\npage_size = 2\n')
    result = cli("sync", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "crm/deals: 2 won deals with a negative amount" in result.stderr
    db = tmp_path / "crm.duckdb"
    assert table(db, "SELECT id, amount FROM deals WHERE amount < 0 ORDER BY id") == [
        ("D1", Decimal("-120.500000000")), ("D3", Decimal("-40.000000000")),
        ("D4", Decimal("-5.000000000"))]
    counts = json.loads(table(db, "SELECT counts FROM sync_runs")[0][0])
    assert "2 won deals with a negative amount" in counts["crm/deals"]["warnings"][0]
    assert "warnings" not in counts.get("crm/accounts", {})
