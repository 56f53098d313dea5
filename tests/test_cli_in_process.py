"""The in-process ``cli`` fixture behaves as the installed command in a new process would:
each call starts from the same state, whatever the calls before it did."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from conftest import run_cli, run_cli_process


def test_same_result_as_the_installed_command(project: Path) -> None:
    for args in (["schema", "deals"], ["connections", "list"], ["sync", "nope"],
                 ["kpis", "--grain", "decade"]):
        here, there = run_cli(*args, cwd=project), run_cli_process(*args, cwd=project)
        assert (here.returncode, here.stdout, here.stderr) == \
            (there.returncode, there.stdout, there.stderr), args


def test_each_call_reads_the_plugin_lists_again() -> None:
    def names(env: dict[str, str]) -> set[str]:
        result = run_cli("plugins", "list", "--json", env=env)
        assert result.returncode == 0, result.stderr
        return {row["name"] for row in json.loads(result.stdout)}

    assert "files" not in names({"CRM_CONNECT_DISABLED_PLUGINS": "files"})
    assert "files" in names({})


def test_each_call_reads_columns_again(project: Path) -> None:
    (project / "crm-connect.toml").write_text(
        '[connections.a_connection_with_a_rather_long_name_to_fold]\nconnector = "files"\n'
        'path = "exports/with/a/long/path/that/must/fold/in/a/narrow/table/"\n')
    narrow = run_cli("connections", "list", cwd=project, env={"COLUMNS": "50"})
    wide = run_cli("connections", "list", cwd=project, env={"COLUMNS": "200"})
    assert max(map(len, narrow.stdout.splitlines())) <= 50
    assert max(map(len, wide.stdout.splitlines())) > 50


def test_a_secret_stored_by_one_call_is_not_seen_by_the_next(project: Path) -> None:
    """The test keyring lives as long as a process: a new call starts with an empty one."""
    stored = run_cli("auth", "set", "finance", "token", "--value", "x", cwd=project)
    assert stored.returncode == 0, stored.stderr
    assert run_cli("auth", "get", "finance", "token", cwd=project).returncode == 1


def test_log_lines_reach_stderr_and_the_logging_setup_is_put_back(project: Path) -> None:
    before = list(logging.getLogger().handlers)
    result = run_cli("-v", "sync", cwd=project)
    assert result.returncode == 0, result.stderr
    assert " INFO crm_connect.sync: finance/" in result.stderr
    assert logging.getLogger().handlers == before


def test_variables_only_a_new_interpreter_reads_are_refused() -> None:
    with pytest.raises(ValueError, match="PYTHONPATH only take effect in a new process: use "
                                         "the cli_process fixture"):
        run_cli("plugins", "list", env={"PYTHONPATH": "/elsewhere"})
