"""Issue 12.2: an undecodable byte spoils one row, never the rest of the file.

End to end through the installed ``crm-connect`` command on real files and a real DuckDB store,
with page validation in worker processes and without.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from files_export import WORKER_SETTINGS, make_project, one_line, query, write_config

from conftest import run_cli
from crm_connect.config import parse_config
from crm_connect.connector import Stream

HEADER = b"id,name,amount,currency,updated_at\n"


def deal_line(number: int, name: bytes = b"Deal") -> bytes:
    minute = number % 60
    return b"D%d,%s %d,%d,EUR,2026-01-%02dT10:%02d:00Z\n" % (
        number, name, number, number, 1 + number // 1000, minute)


def deals_csv(rows: int, bad_line: int) -> bytes:
    """``rows`` deals; the row on file line ``bad_line`` has a cp1252 'é' (0xE9)."""
    lines = [HEADER]
    for number in range(1, rows + 1):
        line = number + 1
        lines.append(deal_line(number, b"Caf\xe9" if line == bad_line else b"Deal"))
    return b"".join(lines)


@pytest.fixture(params=list(WORKER_SETTINGS), ids=list(WORKER_SETTINGS))
def workers(request: pytest.FixtureRequest) -> dict[str, str]:
    return WORKER_SETTINGS[request.param]


@pytest.mark.parametrize("bad_line", [5, 1001], ids=["in-first-8kb", "line-1001"])
def test_undecodable_line_is_quarantined_at_its_line_and_the_file_goes_on(
        tmp_path: Path, workers: dict[str, str], bad_line: int) -> None:
    project = make_project(tmp_path, {"deals.csv": deals_csv(3000, bad_line)}, page_size=500)
    for _ in range(2):  # the rerun changes nothing
        result = run_cli("sync", cwd=project, env=workers)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert "1 records were quarantined" in result.stdout
        assert query(project, "SELECT count(*) FROM deals") == [(2999,)]
        [(location, reason, raw)] = query(project, "SELECT location, reason, raw FROM quarantine")
        assert location == f"deals.csv:{bad_line}"
        assert f"line {bad_line}, column 'name': byte 0xE9" in reason
        assert "not valid utf-8" in reason
        assert 'encoding = "cp1252"' in reason
        assert json.loads(raw)[1] == f"Caf\\xe9 {bad_line - 1}"
    assert query(project, f"SELECT count(*) FROM deals WHERE id = 'D{bad_line - 1}'") == [(0,)]


def test_declaring_the_encoding_reads_the_quarantined_row_again(tmp_path: Path) -> None:
    # The row's updated_at lies before the saved cursor: only a new encoding brings it back.
    project = make_project(tmp_path, {"deals.csv": deals_csv(3000, 1001)})
    assert run_cli("sync", cwd=project).returncode == 0
    assert query(project, "SELECT count(*) FROM deals") == [(2999,)]
    write_config(project, encoding="cp1252")
    result = run_cli("sync", cwd=project, env={"CRM_CONNECT_WORKERS": "0"})
    assert result.returncode == 0, result.stderr
    assert query(project, "SELECT count(*) FROM deals") == [(3000,)]
    assert query(project, "SELECT name FROM deals WHERE id = 'D1000'") == [("Café 1000",)]


def test_jsonl_undecodable_line_is_quarantined_and_the_file_goes_on(tmp_path: Path) -> None:
    lines = [json.dumps({"id": f"T{n}", "channel": "chat"}).encode() for n in range(1, 6)]
    lines[2] = b'{"id": "T3", "channel": "caf\xe9"}'
    project = make_project(tmp_path, {"tickets.jsonl": b"\n".join(lines) + b"\n"})
    result = run_cli("sync", cwd=project)
    assert result.returncode == 0, result.stderr
    assert query(project, "SELECT id FROM tickets ORDER BY id") == [
        ("T1",), ("T2",), ("T4",), ("T5",)]
    [(location, reason, raw)] = query(project, "SELECT location, reason, raw FROM quarantine")
    assert location == "tickets.jsonl:3" and "line 3: byte 0xE9 at character 29" in reason
    assert json.loads(raw) == '{"id": "T3", "channel": "caf\\xe9"}'


def test_quoted_fields_spanning_lines_keep_true_line_numbers(tmp_path: Path) -> None:
    text = (HEADER
            + deal_line(1)                                          # line 2
            + b'D2,"three\nline\nname",2,EUR,2026-01-01T00:00:00Z\n'  # lines 3-5
            + b"D3,Caf\xe9,3,EUR,2026-01-01T00:00:00Z\n"             # line 6
            + b'D4,"two\nlin\xe9s",4,EUR,2026-01-01T00:00:00Z\n'     # lines 7-8, bad on 8
            + b"D5,Deal,lots,EUR,2026-01-01T00:00:00Z\n"             # line 9: bad amount
            + b'D6,"ok\nagain",6,EUR,2026-01-01T00:00:00Z\n')        # lines 10-11
    project = make_project(tmp_path, {"deals.csv": text})
    result = run_cli("sync", cwd=project)
    assert result.returncode == 0, result.stderr
    assert query(project, "SELECT id, name FROM deals ORDER BY id") == [
        ("D1", "Deal 1"), ("D2", "three\nline\nname"), ("D6", "ok\nagain")]
    rows = query(project, "SELECT location, reason FROM quarantine ORDER BY location")
    assert [location for location, _ in rows] == ["deals.csv:6", "deals.csv:7-8", "deals.csv:9"]
    assert "line 6, column 'name': byte 0xE9" in rows[0][1]
    assert "line 8, column 'name': byte 0xE9" in rows[1][1]
    assert "amount" in rows[2][1]


def test_an_unreadable_rest_of_file_fails_the_stream_and_keeps_what_came_before(
        tmp_path: Path) -> None:
    # A quote opened on line 4 and never closed makes the rest of the file one huge field.
    filler = b"".join(deal_line(n, b"x" * 60) for n in range(4, 3000))
    text = HEADER + deal_line(1) + deal_line(2) + b'D3,"never closed,3,EUR,\n' + filler
    project = make_project(tmp_path, {"deals.csv": text, "tickets.csv": b"id\nT1\n"})
    result = run_cli("sync", cwd=project)
    assert result.returncode == 1
    message = one_line(result.stderr)
    assert "deals.csv, record starting on line 4" in message and "never closed" in message
    assert "Traceback" not in result.stderr
    assert query(project, "SELECT id FROM deals ORDER BY id") == [("D1",), ("D2",)]
    assert query(project, "SELECT id FROM tickets") == [("T1",)]  # the other stream went on
    assert query(project, "SELECT status FROM sync_runs") == [("failed",)]


def test_an_unclosed_quote_in_a_small_file_is_named_in_the_quarantine(tmp_path: Path) -> None:
    text = HEADER + deal_line(1) + b'D2,"never closed,2,EUR,\n' + deal_line(3) + deal_line(4)
    config = make_project(tmp_path, {"deals.csv": text})
    files = parse_config((config / "crm-connect.toml").read_text(), None, config)
    [page] = files.build_connector("exp").read(Stream("deals", "deals"), None)
    assert [record["id"] for record in page.records] == ["D1"]
    [rejected] = page.rejected
    assert rejected.location == "deals.csv:3-5"
    assert "is a quote opened on line 3 never closed?" in rejected.reason


def test_utf8_byte_order_mark_and_other_encodings(tmp_path: Path) -> None:
    files = {"deals.csv": b"\xef\xbb\xbf" + HEADER + deal_line(1, "Café".encode()),
             "tickets.csv": "id,channel\nT1,téléphone\n".encode("utf-16")}
    project = make_project(tmp_path, files)
    config = parse_config((project / "crm-connect.toml").read_text(), None, project)
    [deals] = config.build_connector("exp").read(Stream("deals", "deals"), None)
    assert deals.records[0]["id"] == "D1" and deals.records[0]["name"] == "Café 1"
    write_config(project, encoding="utf-16")
    config = parse_config((project / "crm-connect.toml").read_text(), None, project)
    [tickets] = config.build_connector("exp").read(Stream("tickets", "tickets"), None)
    assert tickets.records == [{"id": "T1", "channel": "téléphone"}]


def test_an_unknown_encoding_is_a_configuration_error(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"deals.csv": HEADER}, encoding="klingon")
    result = run_cli("sync", cwd=project)
    assert result.returncode == 2
    message = one_line(result.stderr)
    assert "unknown text encoding 'klingon'" in message and "cp1252" in message
    assert "Traceback" not in result.stderr


def test_connections_test_warns_of_undecodable_lines(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"deals.csv": deals_csv(1200, 1001)})
    result = run_cli("connections", "test", "exp", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    message = one_line(result.stdout)
    assert "exp: ok 1 file in" in message
    assert ("deals.csv: 1 line not valid utf-8 (first: line 1001: byte 0xE9 at character 10) "
            "will be quarantined") in message
