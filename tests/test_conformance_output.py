"""What ``crm-connect conformance`` prints reads well in 80 columns: per-stream messages keep
the streams that fit and count the others, cuts fall after a word, one cause failing many
streams and checks is said once, and the retries the suite injects are not logged as
warnings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from conformance_connectors import GoodConnector
from typer.testing import CliRunner

from crm_connect import hookimpl
from crm_connect.cli_conformance import format_outcome
from crm_connect.connector import Stream

STREAMS = ["users", "accounts", "contacts", "leads", "deals", "tasks"]


@pytest.mark.parametrize(("message", "shown"), [
    ("; ".join(f"{name}: {number} ids" for number, name in enumerate(STREAMS)),
     "users: 0 ids; accounts: 1 ids (+4 streams)"),
    ("; ".join(f"{name}: 2 committed cursors, none going back" for name in STREAMS),
     "users: 2 committed cursors... (+5 streams)"),
    ("3 cassettes, no secret (in /home/someone/projects/crm/cassettes/salesforce)",
     "3 cassettes, no secret..."),
])
def test_a_long_message_is_cut_where_it_reads_well(message: str, shown: str) -> None:
    line = format_outcome("cursor_never_goes_backwards", "pass", message)
    assert len(line) <= 80
    assert line == f"PASS  {'cursor_never_goes_backwards':<28} {shown}"


def test_a_short_message_is_left_whole() -> None:
    assert format_outcome("ids_unique", "fail", "users: id u1 2 times") == (
        f"FAIL  {'ids_unique':<28} users: id u1 2 times")


class ManyStreamsConnector(GoodConnector):
    """The good connector offering the same users under several stream names."""

    name = "memory_many_streams"

    def streams(self) -> Sequence[Stream]:
        return [Stream(name, "users", "updated_at") for name in STREAMS[:3]]


class ManyStreamsPlugin:
    @hookimpl
    def register_connectors(self, register: Any) -> None:
        register(ManyStreamsConnector)


def _conformance(folder: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from crm_connect.cli import app

    (folder / "crm-connect.toml").write_text(
        '[connections.crm]\nconnector = "memory_many_streams"\n', encoding="utf-8")
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(app, ["conformance", "crm"], terminal_width=80)
    return result.output


def test_a_missing_secret_failing_every_read_is_explained_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        crm_plugin: Callable[[Any, str], None]) -> None:
    crm_plugin(ManyStreamsPlugin(), "conformance-many-streams")
    monkeypatch.delenv("CRM_CONNECT_CRM_API_KEY", raising=False)
    output = _conformance(tmp_path, monkeypatch)
    assert all(len(line) <= 80 for line in output.splitlines()), output
    assert "FAIL  records_validate             users, accounts, contacts: the read..." in output
    said = " ".join(output.split())  # as read, whatever the wrapping
    assert said.count("needs the secret 'api_key'") == 2, output  # check() and the reads
    assert "FAIL ids_unique:\n  the same as records_validate" in output
    assert ".." not in output.replace("...", "")


def test_the_injected_failures_are_not_logged_as_warnings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        crm_plugin: Callable[[Any, str], None]) -> None:
    crm_plugin(ManyStreamsPlugin(), "conformance-many-streams")
    monkeypatch.setenv("CRM_CONNECT_CRM_API_KEY", "k-0123456789")
    with caplog.at_level(logging.WARNING, logger="crm_connect.resilience"):
        output = _conformance(tmp_path, monkeypatch)
    assert "PASS  retries_429_and_503" in output, output
    assert [record.getMessage() for record in caplog.records
            if record.name == "crm_connect.resilience"] == []
