from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crm_connect.config import parse_config
from crm_connect.connector import Stream
from crm_connect.errors import ConfigError
from crm_connect.sync import run_sync


def connector(folder: Path, **options: Any) -> Any:
    body = "".join(f"{key} = {json.dumps(value)}\n" for key, value in options.items())
    config = parse_config(f'[connections.f]\nconnector = "files"\npath = "{folder.name}"\n{body}',
                          None, folder.parent)
    return config, config.build_connector("f")


def test_csv_and_jsonl_streams_one_per_entity(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "deals.csv").write_text("id,amount,currency\nD1,5,USD\n")
    (folder / "tickets.jsonl").write_text(
        json.dumps({"id": "T1", "channel": "chat", "crm_flag": True}) + "\n\n"
        "{not json\n" + json.dumps([1, 2]) + "\n")
    (folder / "notes.txt").write_text("ignored")
    config, files = connector(folder)
    assert [s.name for s in files.streams()] == ["deals", "tickets"]
    report = run_sync(config)
    tickets = next(r for r in report.results if r.stream == "tickets")
    assert tickets.records == 1 and tickets.quarantined == 2
    from crm_connect.store import DuckDBStore

    with DuckDBStore.open("duckdb:///crm.duckdb", base_dir=tmp_path) as store:
        assert store.execute("SELECT extra FROM tickets") == [('{"crm_flag":true}',)]
        rows = store.execute("SELECT location, reason FROM quarantine ORDER BY location")
        assert rows[0][0] == "tickets.jsonl:3" and "invalid JSON" in rows[0][1]
        assert rows[1][0] == "tickets.jsonl:4" and "one JSON object" in rows[1][1]


def test_both_formats_for_one_entity_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "deals.csv").write_text("id\nD1\n")
    (folder / "deals.jsonl").write_text('{"id": "D1"}\n')
    _, files = connector(folder)
    with pytest.raises(ConfigError, match=r"both deals\.csv and deals\.jsonl"):
        files.streams()


def test_check_reports_missing_id_column_and_extra_columns(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "deals.csv").write_text("name,colour\nX,red\n")
    _, files = connector(folder)
    result = files.check()
    assert not result.ok
    assert result.problems == ["deals.csv: no 'id' column in the header row"]
    assert "deals.csv: columns kept in extra: colour" in result.warnings


def test_resume_mid_file_and_restart_when_the_file_changed(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    path = folder / "leads.csv"
    path.write_text("id,updated_at\n" + "".join(f"L{n},2026-01-{1 + n % 9:02d}\n"
                                                 for n in range(10)))
    _, files = connector(folder, page_size=3)
    stream = Stream("leads", "leads")
    pages = list(files.read(stream, None))
    assert [len(p.records) for p in pages] == [3, 3, 3, 1]
    resume_state = pages[1].state
    assert resume_state["resume"]["line"] == 7
    rest = list(files.read(stream, resume_state))
    assert [r["id"] for p in rest for r in p.records] == ["L6", "L7", "L8", "L9"]
    assert rest[-1].state == {"cursor": "2026-01-09T00:00:00+00:00"}
    path.write_text(path.read_text() + "L10,2026-01-05\n")  # changed: start again from the top
    again = list(files.read(stream, resume_state))
    assert len([r for p in again for r in p.records]) == 11


def test_incremental_cursor_is_inclusive(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "leads.csv").write_text("id,updated_at\nL1,2026-01-01\nL2,2026-01-02\n"
                                      "L3,\n")
    _, files = connector(folder)
    pages = list(files.read(Stream("leads", "leads"), {"cursor": "2026-01-02T00:00:00+00:00"}))
    # L2 sits on the cursor (read again, harmlessly); L3 has no updated_at (always read).
    assert [r["id"] for p in pages for r in p.records] == ["L2", "L3"]
