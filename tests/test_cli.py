from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import register_entry_point

COMMANDS = [[], ["plugins"], ["plugins", "list"], ["connections"], ["connections", "list"],
            ["connections", "test"], ["auth"], ["auth", "set"], ["auth", "get"],
            ["auth", "delete"], ["schema"], ["sync"], ["runs"], ["quarantine"],
            ["quarantine", "list"], ["quarantine", "show"], ["kpis"], ["report"]]


def test_version(cli_process) -> None:  # type: ignore[no-untyped-def]
    """Through the installed entry point."""
    result = cli_process("--version")
    assert result.returncode == 0 and result.stdout.startswith("crm-connect ")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(cli, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 4
    # Arguments by name, as every command line writes them: no {template}, no Python types.
    assert not re.search(r"\{\w+\}|<[\w\[\], ]+>", result.stdout), result.stdout


def test_usage_errors_exit_2(cli, cli_process) -> None:  # type: ignore[no-untyped-def]
    assert cli("sync", "--no-such-option").returncode == 2
    assert cli("frobnicate").returncode == 2
    # ... and so does the installed command's process.
    assert cli_process("frobnicate").returncode == 2


def test_no_configuration_is_a_clear_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sync", cwd=tmp_path)
    assert result.returncode == 2
    assert "no configuration found" in result.stderr and "crm-connect.toml" in result.stderr


def test_configuration_errors_exit_2_with_file_and_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "crm-connect.toml"
    config.write_text('[connections.x]\nconnector = "nope"\n')
    result = cli("connections", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "crm-connect.toml, line 1" in result.stderr and "'nope'" in result.stderr
    config.write_text("[connections.x\n")
    result = cli("sync", cwd=tmp_path)
    assert result.returncode == 2 and "invalid TOML" in result.stderr
    result = cli("--config", str(tmp_path / "other.toml"), "sync")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_unknown_connection_name_exits_2(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("sync", "nope", cwd=project)
    assert result.returncode == 2 and "no connection named 'nope'" in result.stderr
    assert "finance" in result.stderr


def test_connections_list_and_test(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    listed = cli("connections", "list", cwd=project)
    assert listed.returncode == 0 and "finance" in listed.stdout and "files" in listed.stdout
    tested = cli("connections", "test", "finance", cwd=project)
    assert tested.returncode == 0, tested.stderr
    assert "finance: ok 11 files" in tested.stdout
    (project / "crm-connect.toml").write_text(
        '[connections.finance]\nconnector = "files"\npath = "missing/"\n')
    failed = cli("connections", "test", "finance", cwd=project)
    assert failed.returncode == 1 and "does not exist" in failed.stdout


def test_plugins_list_table_and_json(cli) -> None:  # type: ignore[no-untyped-def]
    table = cli("plugins", "list")
    assert table.returncode == 0 and "files" in table.stdout and "register_stores" in table.stdout
    rows = json.loads(cli("plugins", "list", "--json").stdout)
    assert {row["name"] for row in rows} >= {"files", "duckdb"}


def test_auth_set_without_a_keyring_says_to_use_the_environment(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("auth", "set", "finance", "token", "--value", "s3cret-value", cwd=project,
                 env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert result.returncode == 2
    assert "CRM_CONNECT_FINANCE_TOKEN" in result.stderr and "s3cret-value" not in result.stderr


def test_auth_set_stores_in_the_keyring(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    # The in-memory test backend (see conftest.py) stands in for the system keyring.
    result = cli("auth", "set", "finance", "token", cwd=project, input="s3cret-value\n")
    assert result.returncode == 0, result.stderr
    assert "Stored finance.token" in result.stdout and "s3cret-value" not in result.stdout
    unknown = cli("auth", "set", "nope", "token", "--value", "x", cwd=project)
    assert unknown.returncode == 2 and "no connection named 'nope'" in unknown.stderr


def test_auth_set_in_process_reaches_the_keyring(memory_keyring, project: Path,  # type: ignore[no-untyped-def]
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from crm_connect.cli import app

    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["auth", "set", "finance", "api_key"], input="abc123\n")
    assert result.exit_code == 0, result.output
    assert memory_keyring.secrets[("crm-connect", "finance.api_key")] == "abc123"


def test_missing_secret_on_sync_exits_2_naming_both_fixes(cli_process, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli = cli_process  # the plugin is found through PYTHONPATH: a process of its own
    plugin = Path(__file__).parent / "fixtures" / "example_plugin"
    (tmp_path / "crm-connect.toml").write_text('[connections.ex]\nconnector = "example"\n')
    env = {"PYTHONPATH": str(plugin), "CRM_CONNECT_LOAD_PLUGINS": "example"}
    # The fixture folder is importable but not installed: register it through a tiny
    # dist-info so the entry point exists.
    site = register_entry_point(tmp_path / "site", "crm-connect-example", "1.2.3", "example",
                                "crm_connect_example")
    env["PYTHONPATH"] = f"{site}:{plugin}"
    result = cli("sync", cwd=tmp_path, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "connection 'ex' needs the secret 'api_key'" in result.stderr
    assert "crm-connect auth set ex api_key" in result.stderr
    assert "CRM_CONNECT_EX_API_KEY" in result.stderr
    ok = cli("sync", cwd=tmp_path, env={**env, "CRM_CONNECT_EX_API_KEY": "k"})
    assert ok.returncode == 0, ok.stderr


def test_sync_on_a_terminal_shows_progress_per_stream_with_a_rate(project: Path) -> None:
    """On a terminal the sync draws a progress line per stream with records and records/s."""
    import os
    import pty
    import subprocess
    import sys

    primary, secondary = pty.openpty()
    cli = str(Path(sys.executable).parent / "crm-connect")
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    process = subprocess.Popen([cli, "sync"], cwd=project, stdin=secondary, stdout=secondary,
                               stderr=secondary, env=env, close_fds=True)
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
    assert process.wait(timeout=60) == 0
    os.close(primary)
    screen = b"".join(chunks).decode(errors="replace")
    assert "finance/deals" in screen and "finance/activities" in screen
    assert "/s" in screen and "records" in screen
    assert "\x1b[" in screen  # drawn with terminal control codes, not plain log lines
    assert "finance/deals: started" not in screen


def test_the_installed_command_serves_every_command_group(cli_process, project: Path) -> None:  # type: ignore[no-untyped-def]
    """One call per command group through the installed entry point, in processes of their
    own, as a cron job runs them (the other tests run the same commands in-process)."""
    root_help = cli_process("--help")
    assert root_help.returncode == 0 and root_help.stdout.startswith("Usage: crm-connect ")
    plugins = json.loads(cli_process("plugins", "list", "--json").stdout)
    assert {row["name"] for row in plugins} >= {"files", "duckdb", "kpis"}
    listed = cli_process("connections", "list", cwd=project)
    assert listed.returncode == 0 and "finance" in listed.stdout
    secret = cli_process("auth", "get", "finance", "token", cwd=project)
    assert secret.returncode == 1 and "CRM_CONNECT_FINANCE_TOKEN" in secret.stdout
    schema = json.loads(cli_process("schema", "deals").stdout)
    assert "amount" in schema["properties"]
    synced = cli_process("sync", cwd=project)
    assert synced.returncode == 0, synced.stderr
    assert "finance" in synced.stdout and "Traceback" not in synced.stderr
    runs = json.loads(cli_process("runs", "--format", "json", cwd=project).stdout)
    assert [run["status"] for run in runs] == ["succeeded"]
    quarantined = cli_process("quarantine", "list", "--format", "json", cwd=project)
    assert quarantined.returncode == 0 and isinstance(json.loads(quarantined.stdout), list)
    kpis = cli_process("kpis", "--metric", "win_rate", "--format", "json", cwd=project)
    assert kpis.returncode == 0, kpis.stderr
    assert {row["metric"] for row in json.loads(kpis.stdout)} == {"win_rate"}
