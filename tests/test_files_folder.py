"""Issue 13.7: the ``files`` connector says which files it reads and which it ignores, and why.

End to end through the installed ``crm-connect`` command on a real folder and DuckDB store.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from files_export import WORKER_SETTINGS, make_project, one_line, query

from conftest import run_cli
from crm_connect.connectors.files_folder import why_ignored

CONTACTS = b"id,email\nC1,a@example.com\nC2,b@example.com\n"
EXPECTED = ("name exports <entity>.csv or <entity>.jsonl, with <entity> one of accounts, "
            "contacts, leads, deals, activities, tickets, campaigns, survey_responses, users, "
            "contracts, spend")


@pytest.mark.parametrize(("name", "reason"), [
    ("Accounts.csv", "file names are matched exactly: rename it to accounts.csv"),
    ("DEALS.JSONL", "file names are matched exactly: rename it to deals.jsonl"),
    ("survey-responses.csv", "file names are matched exactly: rename it to "
                             "survey_responses.csv"),
    ("opportunities.csv", "'opportunities' is not an entity name: rename it to deals.csv if "
                          "it holds deals"),
    ("deal.csv", "'deal' is not an entity name: rename it to deals.csv if it holds deals"),
    ("contcts.jsonl", "'contcts' is not an entity name: rename it to contacts.jsonl if it "
                      "holds contacts"),
    ("deals.xlsx", "only .csv and .jsonl (one JSON object per line) files are read; save it "
                   "as deals.csv or deals.jsonl"),
    ("readme.md", "only .csv and .jsonl (one JSON object per line) files are read"),
    ("q3-numbers.csv", "'q3-numbers' is not an entity name; files are named <entity>.csv "
                       "with <entity> one of accounts, contacts, leads, deals, activities, "
                       "tickets, campaigns, survey_responses, users, contracts, spend"),
])
def test_why_a_file_is_ignored_names_the_expected_file(name: str, reason: str) -> None:
    assert why_ignored(name) == reason


def ignored_folder(root: Path) -> Path:
    project = make_project(root, {
        "contacts.csv": CONTACTS, "Accounts.csv": b"id\nA1\n",
        "opportunities.csv": b"id\nO1\n", "deal.csv": b"id\nD1\n", "notes.txt": b"hello",
        ".DS_Store": b"\0", "deals [old].csv": b"id\nX\n"})
    (project / "exports" / "archive").mkdir()
    return project


def test_connections_test_lists_files_read_and_ignored(tmp_path: Path) -> None:
    project = ignored_folder(tmp_path)
    result = run_cli("connections", "test", "exp", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = one_line(result.stdout)
    assert f"exp: ok 1 file in {project / 'exports'}: contacts.csv" in shown
    for expected in [
        "Accounts.csv is not read: file names are matched exactly: rename it to accounts.csv",
        "opportunities.csv is not read: 'opportunities' is not an entity name: rename it to "
        "deals.csv if it holds deals",
        "deal.csv is not read: 'deal' is not an entity name: rename it to deals.csv",
        "notes.txt is not read: only .csv and .jsonl",
        "deals [old].csv is not read: 'deals [old]' is not an entity name",
        "subfolders are not read: archive",
    ]:
        assert f"warning: {expected}" in shown
    assert ".DS_Store" not in shown


@pytest.mark.parametrize("workers", list(WORKER_SETTINGS))
def test_sync_warns_once_per_ignored_file(tmp_path: Path, workers: str) -> None:
    project = ignored_folder(tmp_path)
    result = run_cli("sync", cwd=project, env=WORKER_SETTINGS[workers])
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 5, result.stderr
    shown = one_line(result.stderr)
    assert "exp: Accounts.csv is not read: file names are matched exactly: rename it to " \
           "accounts.csv" in shown
    assert "exp: opportunities.csv is not read" in shown and "deals.csv" in shown
    assert query(project, "SELECT id FROM contacts ORDER BY id") == [("C1",), ("C2",)]


def test_no_readable_file_is_an_error_naming_folder_and_expected_names(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"deal.csv": b"id\nD1\n", "Accounts.csv": b"id\nA1\n"})
    folder = project / "exports"
    synced = run_cli("sync", cwd=project)
    assert synced.returncode == 2
    shown = one_line(synced.stderr)
    assert f"no file in {folder} can be read" in shown and EXPECTED in shown
    assert "deal.csv is not read" in shown and "rename it to deals.csv" in shown
    assert "Accounts.csv is not read" in shown and "rename it to accounts.csv" in shown
    assert "Traceback" not in synced.stderr
    tested = run_cli("connections", "test", "exp", cwd=project)
    assert tested.returncode == 1
    assert f"no file in {folder} can be read" in one_line(tested.stdout)


def test_an_emptied_folder_is_an_error_and_keeps_what_was_synced(tmp_path: Path) -> None:
    project = make_project(tmp_path / "a [b]", {"contacts.csv": CONTACTS})
    assert run_cli("sync", cwd=project).returncode == 0
    (project / "exports" / "contacts.csv").unlink()
    result = run_cli("sync", cwd=project)
    assert result.returncode == 2
    shown = one_line(result.stderr)
    assert f"no export file in {project / 'exports'} (it is empty)" in shown
    assert EXPECTED in shown
    assert query(project, "SELECT id FROM contacts ORDER BY id") == [("C1",), ("C2",)]
    shutil.rmtree(project / "exports")
    tested = run_cli("connections", "test", "exp", cwd=project)
    assert tested.returncode == 1
    assert "does not exist (check `path` in its [connections] table" in one_line(tested.stdout)


def test_documented_configuration_is_valid(tmp_path: Path) -> None:
    from crm_connect.config import parse_config

    doc = (Path(__file__).parent.parent / "docs" / "files-connector.md").read_text()
    [block] = re.findall(r"```toml\n(.*?)```", doc, re.DOTALL)
    config = parse_config(block, None, tmp_path)
    assert config.build_connector("finance").config.encoding == "utf-8"
    rows = re.findall(r"^\| `([^`]+)` \| (.+) \|$", doc, re.MULTILINE)
    assert len(rows) == 4
    for name, reason in rows:
        assert why_ignored(name) == reason


def test_a_file_that_cannot_be_opened_is_named_not_a_traceback(tmp_path: Path) -> None:
    project = make_project(tmp_path, {"contacts.csv": CONTACTS})
    (project / "exports" / "deals.csv").symlink_to(project / "exports" / "gone.csv")
    tested = run_cli("connections", "test", "exp", cwd=project)
    assert tested.returncode == 1
    assert "deals.csv cannot be opened (No such file or directory)" in one_line(tested.stdout)
    synced = run_cli("sync", cwd=project)
    assert synced.returncode == 1 and "Traceback" not in synced.stderr
    assert "exp/deals: deals.csv cannot be opened" in one_line(synced.stderr)
    assert query(project, "SELECT count(*) FROM contacts") == [(2,)]
