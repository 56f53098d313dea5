"""What the command line prints: user and vendor text is never read as rich markup, listings
fit 80 columns without cutting values, and a broken connection does not hide the others."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from crm_connect import CheckResult, Connector, ConnectorConfig, Page, Stream, hookimpl
from crm_connect.errors import ConnectorError
from crm_connect.resilience import BearerAuth, ResiliencePolicy, ResilientSession
from crm_connect.testing import faults
from crm_connect.testing.faults import FaultServer

MARKUP_NAME = "[bold red]x[/]"
VENDOR_MESSAGE = "filter [/] is not valid near [bold]"


def _wide(**env: str) -> dict[str, str]:
    return {"COLUMNS": "200", **env}


def test_markup_in_an_argument_is_printed_as_written(project: Path) -> None:
    for command in (["sync", "[/oops]"], ["connections", "test", "[/oops]"],
                    ["auth", "set", "[/oops]", "token", "--value", "x"]):
        result = run_cli(*command, cwd=project)
        assert result.returncode == 2, (command, result.stderr)
        assert "no connection named '[/oops]'" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "MarkupError" not in result.stderr


def test_a_connection_named_like_markup_is_shown_as_written(project: Path) -> None:
    (project / "crm-connect.toml").write_text(
        f'[connections."{MARKUP_NAME}"]\nconnector = "files"\npath = "exports/"\n')
    listed = run_cli("connections", "list", cwd=project, env=_wide())
    assert listed.returncode == 0, listed.stderr
    assert MARKUP_NAME in listed.stdout

    synced = run_cli("sync", cwd=project, env=_wide())
    assert synced.returncode == 0, synced.stderr
    assert MARKUP_NAME in synced.stdout  # the summary table
    assert f"{MARKUP_NAME}/deals: started" in synced.stderr  # the log lines
    runs = run_cli("runs", cwd=project, env=_wide())
    assert MARKUP_NAME in runs.stdout
    tested = run_cli("connections", "test", MARKUP_NAME, cwd=project, env=_wide())
    assert tested.returncode == 0 and tested.stdout.startswith(f"{MARKUP_NAME}: ok")


def test_connections_list_shows_the_others_when_one_names_an_unknown_connector(
        project: Path) -> None:
    (project / "crm-connect.toml").write_text(
        '[connections.finance]\nconnector = "files"\npath = "exports/"\n\n'
        '[connections."[/]crm"]\nconnector = "nope"\n\n'
        '[connections.backup]\nconnector = "files"\npath = "backup/"\n')
    result = run_cli("connections", "list", cwd=project, env=_wide())
    assert result.returncode == 2
    assert "finance" in result.stdout and "backup" in result.stdout
    assert "[/]crm" in result.stdout and "unusable" in result.stdout
    assert "crm-connect.toml, line 5" in result.stderr and "'nope'" in result.stderr
    assert "pip install crm-connect-nope" in result.stderr and "Traceback" not in result.stderr
    # a command that needs every connection still refuses the file
    assert run_cli("sync", "finance", cwd=project).returncode == 2


def _fits_80(text: str) -> None:
    lines = text.splitlines()
    assert lines and all(len(line) <= 80 for line in lines), text
    assert "…" not in text, text  # nothing cut short


def test_listings_fit_80_columns_and_fold_long_values(project: Path) -> None:
    long_path = "exports/" + "/".join(["a-rather-long-folder-name"] * 4) + "/"
    (project / "crm-connect.toml").write_text(
        '[connections.finance]\nconnector = "files"\npath = "exports/"\n\n'
        f'[connections.archive_with_a_long_name]\nconnector = "files"\npath = "{long_path}"\n')
    narrow = {"COLUMNS": "80"}
    listed = run_cli("connections", "list", cwd=project, env=narrow)
    _fits_80(listed.stdout)
    flat = "".join(line.strip("│ ") for line in listed.stdout.splitlines())
    assert "a-rather-long-folder-name" in flat  # folded onto more lines, never cut
    synced = run_cli("sync", "finance", cwd=project, env=narrow)
    assert synced.returncode == 0, synced.stderr
    _fits_80(synced.stdout)
    for command in (["runs"], ["quarantine", "list"], ["plugins", "list"]):
        result = run_cli(*command, cwd=project, env=narrow)
        assert result.returncode == 0, (command, result.stderr)
        _fits_80(result.stdout)


class _ApiConfig(ConnectorConfig):
    base_url: str


class _ApiConnector(Connector[_ApiConfig]):
    """A vendor connector that reports the vendor's own error message, as plugins do."""

    name = "markup_api"
    config_model = _ApiConfig

    def streams(self) -> list[Stream]:
        return [Stream("accounts", "accounts")]

    def check(self) -> CheckResult:
        return CheckResult(True, "ok")

    def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
        session = ResilientSession(ResiliencePolicy.for_connector(self),
                                   auth=BearerAuth(lambda: "access-token-0"))
        response = session.get(f"{self.config.base_url}{faults.RECORDS_PATH}")
        if response.status_code >= 400:
            raise ConnectorError(f"the API answered HTTP {response.status_code}: "
                                 f"{response.json()['message']}", connection=self.connection)
        yield Page([])


class _Plugin:
    @hookimpl
    def register_connectors(self, register: Any) -> None:
        register(_ApiConnector)


@pytest.fixture
def markup_api(crm_plugin: Callable[[Any, str], None], tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultServer]:
    crm_plugin(_Plugin(), "markup-api-test")
    with FaultServer(records=faults.make_records(3), path_script={
            faults.RECORDS_PATH: [faults.status(400, {"message": VENDOR_MESSAGE})]}) as server:
        (tmp_path / "crm-connect.toml").write_text(
            f'[connections.api]\nconnector = "markup_api"\nbase_url = "{server.url}"\n')
        monkeypatch.chdir(tmp_path)
        yield server


def test_a_vendor_error_with_markup_is_printed_as_written(markup_api: FaultServer) -> None:
    from typer.testing import CliRunner

    from crm_connect.cli import app

    result = CliRunner().invoke(app, ["sync"])
    assert result.exit_code == 1, result.output
    assert f"api/accounts: api: the API answered HTTP 400: {VENDOR_MESSAGE}" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    runs = CliRunner().invoke(app, ["runs"], env={"COLUMNS": "200"})
    assert runs.exit_code == 0, runs.output
    assert VENDOR_MESSAGE in runs.stdout and "failed" in runs.stdout
