"""On a terminal, ``crm-connect sync`` of a Salesforce stream shows the total the org announced
(the COUNT() query's ``totalSize``) and a bar, end to end through the installed command."""

from __future__ import annotations

import os
import pty
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from crm_connect_salesforce.sandbox import SalesforceSandbox
from sf_support import CLI, sandbox_env, sandbox_options, write_project


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(records=600, seed=5) as org:
        yield org


def _run_on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    primary, secondary = pty.openpty()
    process = subprocess.Popen([CLI, *args], cwd=cwd, stdin=secondary, stdout=secondary,
                               stderr=secondary, env={**os.environ, **env}, close_fds=True)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=120) == 0, b"".join(chunks).decode(errors="replace")
    os.close(primary)
    return b"".join(chunks).decode(errors="replace")


def test_sync_on_a_terminal_shows_the_announced_total(sandbox: SalesforceSandbox,
                                                       tmp_path: Path) -> None:
    write_project(tmp_path, {"sf": sandbox_options(
        sandbox, streams=["accounts", "deals"], bulk="auto", page_size=200)})
    env = {**sandbox_env(sandbox), "COLUMNS": "80", "TERM": "xterm"}
    screen = _run_on_a_terminal(["sync"], tmp_path, env)
    counts = sandbox.counts(include_deleted=True)
    accounts, deals = counts["Account"], counts["Opportunity"]
    assert "sf/accounts" in screen and f"{accounts:,}/{accounts:,}" in screen
    assert f"{deals:,}/{deals:,}" in screen
    assert "\x1b[" in screen  # drawn as a live display, not log lines


def test_without_a_count_query_the_line_counts_records(sandbox: SalesforceSandbox,
                                                        tmp_path: Path) -> None:
    """``bulk = "never"`` sends no COUNT() query: no total is announced, none is invented."""
    write_project(tmp_path, {"sf": sandbox_options(sandbox, streams=["accounts"],
                                                   bulk="never", page_size=200)})
    env = {**sandbox_env(sandbox), "COLUMNS": "80", "TERM": "xterm"}
    screen = _run_on_a_terminal(["sync"], tmp_path, env)
    accounts = sandbox.counts(include_deleted=True)["Account"]
    assert f"{accounts:,} rec" in screen and f"/{accounts:,}" not in screen
