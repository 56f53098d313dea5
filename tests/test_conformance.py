"""The conformance suite proves itself: a connector that does everything right passes every
check, each deliberately broken connector fails the check that matches its fault (and only the
checks that follow from it), the built-in ``files`` connector passes, and the command line
prints one line per check and exits 1 on a failure."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conformance_connectors import (
    BackwardsCursorConnector,
    BadRecordConnector,
    DuplicateIdsConnector,
    GoodConnector,
    LooseConfigConnector,
    MemoryConnectorsPlugin,
    StuckStateConnector,
)

from crm_connect.testing.conformance import (
    CHECKS,
    CheckOutcome,
    ConformanceSuite,
    ConformanceTarget,
    Status,
    run_conformance,
)

SECRET = "k-0123456789"
CLEAN_CASSETTE = """interactions:
- request:
    body: null
    headers:
      Authorization:
      - REDACTED
    method: GET
    uri: http://127.0.0.1:8000/users?limit=2
  response:
    body:
      string: '{"results": [], "access_token": "REDACTED"}'
    headers: {}
    status: {code: 200, message: OK}
version: 1
"""


def write_config(folder: Path, connections: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, options in connections.items():
        lines.append(f"[connections.{name}]")
        lines += [f"{key} = {value!r}".replace("'", '"') for key, value in options.items()]
        lines.append("")
    path = folder / "crm-connect.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def memory_plugin(crm_plugin: Callable[[Any, str], None]) -> None:
    crm_plugin(MemoryConnectorsPlugin(), "conformance-memory")


def run(tmp_path: Path, connector: str, *, cassette: str | None = CLEAN_CASSETTE,
        **options: Any) -> dict[str, CheckOutcome]:
    config = write_config(tmp_path, {"crm": {"connector": connector, **options}})
    cassettes = None
    if cassette is not None:
        cassettes = tmp_path / "cassettes"
        cassettes.mkdir(exist_ok=True)
        (cassettes / "test_users.yaml").write_text(cassette, encoding="utf-8")
    target = ConformanceTarget(config, "crm", secrets={"api_key": SECRET}, cassettes=cassettes)
    return {outcome.name: outcome for outcome in run_conformance(target)}


def failed(outcomes: dict[str, CheckOutcome]) -> set[str]:
    return {name for name, outcome in outcomes.items() if outcome.status is Status.FAIL}


@pytest.mark.usefixtures("memory_plugin")
def test_a_connector_that_does_everything_right_passes_every_check(tmp_path: Path) -> None:
    outcomes = run(tmp_path, GoodConnector.name)
    assert [name for name in outcomes] == [check.name for check in CHECKS]
    assert {name: o.status for name, o in outcomes.items()} == {
        check.name: Status.PASS for check in CHECKS}, outcomes
    assert "api_key" in outcomes["missing_secret_named"].message
    assert "GET /users" in outcomes["retries_429_and_503"].message
    assert "1 record flagged deleted" in outcomes["deletes_flagged"].message


BROKEN_CASES = [
    (DuplicateIdsConnector, {"ids_unique"}, "page in a stable order"),
    (StuckStateConnector, {"state_advances", "incremental_skips_unchanged"},
     "advance the state's cursor"),
    (BadRecordConnector, {"records_validate"}, "last_login_at"),
    (BackwardsCursorConnector, {"cursor_never_goes_backwards", "state_advances",
                                "incremental_skips_unchanged", "resume_from_every_state"},
     "went back from"),
    (LooseConfigConnector, {"config_model"}, "extra='forbid'"),
]


@pytest.mark.usefixtures("memory_plugin")
@pytest.mark.parametrize(("connector", "expected", "advice"), BROKEN_CASES,
                         ids=[case[0].name for case in BROKEN_CASES])
def test_a_broken_connector_fails_the_matching_checks(
        tmp_path: Path, connector: type[GoodConnector], expected: set[str], advice: str) -> None:
    outcomes = run(tmp_path, connector.name)
    assert failed(outcomes) == expected, {name: outcomes[name].message
                                          for name in failed(outcomes)}
    assert any(advice in outcomes[name].message for name in expected)


@pytest.mark.usefixtures("memory_plugin")
def test_a_token_in_a_cassette_fails_only_the_cassette_check(tmp_path: Path) -> None:
    leaked = CLEAN_CASSETTE.replace("      - REDACTED", "      - Bearer 00Dxx0000001!AQ4AQ.tok")
    outcomes = run(tmp_path, GoodConnector.name, cassette=leaked)
    assert failed(outcomes) == {"cassettes_hold_no_secret"}
    message = outcomes["cassettes_hold_no_secret"].message
    assert "test_users.yaml, line 6, holds a bearer token" in message
    assert "scrub secrets at record time" in message


@pytest.mark.usefixtures("memory_plugin")
def test_the_connection_secret_in_a_cassette_is_named_never_shown(tmp_path: Path) -> None:
    leaked = CLEAN_CASSETTE.replace("limit=2", f"limit=2&key={SECRET}")
    outcomes = run(tmp_path, GoodConnector.name, cassette=leaked)
    message = outcomes["cassettes_hold_no_secret"].message
    assert "holds the connection's secret 'api_key'" in message
    assert SECRET not in message


@pytest.mark.usefixtures("memory_plugin")
def test_a_single_page_read_skips_resuming_with_the_reason(tmp_path: Path) -> None:
    outcomes = run(tmp_path, GoodConnector.name, cassette=None, page_size=100)
    resume = outcomes["resume_from_every_state"]
    assert resume.status is Status.SKIP and "smaller page size" in resume.message
    assert outcomes["cassettes_hold_no_secret"].status is Status.SKIP


@pytest.mark.usefixtures("memory_plugin")
def test_a_known_delete_that_is_not_flagged_fails(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"crm": {"connector": GoodConnector.name}})
    checks = [check for check in CHECKS if check.name == "deletes_flagged"]
    flagged = ConformanceTarget(config, "crm", secrets={"api_key": SECRET},
                                deleted_ids={"users": {"u004"}})
    assert run_conformance(flagged, checks)[0].status is Status.PASS
    missed = ConformanceTarget(config, "crm", secrets={"api_key": SECRET},
                               deleted_ids={"users": {"u004", "u006"}})
    [outcome] = run_conformance(missed, checks)
    assert outcome.status is Status.FAIL
    assert "1 deleted record not flagged (e.g. u006)" in outcome.message


def test_the_files_connector_passes(project: Path) -> None:
    with (project / "crm-connect.toml").open("a", encoding="utf-8") as config:
        config.write("page_size = 7\n")
    target = ConformanceTarget(project / "crm-connect.toml", "finance",
                               streams=("accounts", "deals", "tickets"))
    outcomes = {outcome.name: outcome for outcome in run_conformance(target)}
    assert failed(outcomes) == set(), outcomes
    skipped = {name for name, outcome in outcomes.items() if outcome.status is Status.SKIP}
    # a local connector sends no request to retry; this export marks no record deleted
    assert skipped == {"missing_secret_named", "retries_429_and_503", "deletes_flagged",
                       "cassettes_hold_no_secret"}, outcomes
    assert "no secret_fields" in outcomes["missing_secret_named"].message
    assert "resumed from" in outcomes["resume_from_every_state"].message


class TestMemoryConnectorConformance(ConformanceSuite):
    """The suite as a plugin's tests use it: one class, each check a test item."""

    connection = "crm"
    secrets = {"api_key": SECRET}
    plugins = {"conformance-memory": MemoryConnectorsPlugin()}

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_target(cls, tmp_path_factory: pytest.TempPathFactory
                           ) -> ConformanceTarget:
        folder = tmp_path_factory.mktemp("memory")
        cassettes = folder / "cassettes"
        cassettes.mkdir()
        (cassettes / "users.yaml").write_text(CLEAN_CASSETTE, encoding="utf-8")
        config = write_config(folder, {"crm": {"connector": GoodConnector.name}})
        return ConformanceTarget(config, cls.connection, secrets=cls.secrets,
                                 cassettes=cassettes, plugins=cls.plugins)


def test_each_check_is_a_test_item_of_the_suite_class() -> None:
    names = {name for name in dir(TestMemoryConnectorConformance) if name.startswith("test_")}
    assert names == {f"test_{check.name}" for check in CHECKS}


def test_injected_failures_are_retried_by_the_policy_and_counted() -> None:
    from crm_connect.resilience import ResiliencePolicy
    from crm_connect.resilience.injection import inject_failures

    policy = ResiliencePolicy("crm", sleep=lambda seconds: None)
    sent: list[int] = []

    def request() -> str:
        sent.append(1)
        return "ok"

    assert policy.call(request, description="GET /users") == "ok" and policy.retries == 0
    with inject_failures((429, 503)) as injection:
        assert policy.call(request, description="GET /users") == "ok"
    assert injection.injected == ["GET /users", "GET /users"] and injection.policies == [policy]
    assert policy.retries == 2 and len(sent) == 2  # the failed attempts never left
    with pytest.raises(ValueError, match="only 429 and 5xx"):
        inject_failures((404,)).__enter__()


# -- the command line ----------------------------------------------------------------------------

@pytest.fixture
def broken_files(tmp_path: Path) -> Path:
    folder = tmp_path / "broken"
    exports = folder / "exports"
    exports.mkdir(parents=True)
    (exports / "users.csv").write_text(
        "id,name,updated_at\nu1,Ann,2026-01-01T00:00:00Z\nu2,Bob,2026-01-02T00:00:00Z\n"
        "u1,Ann again,2026-01-03T00:00:00Z\n", encoding="utf-8")
    write_config(folder, {"dup": {"connector": "files", "path": "exports"}})
    return folder


@pytest.mark.slow
def test_the_installed_command_passes_a_files_connection_and_fails_a_broken_one(
        cli: Callable[..., subprocess.CompletedProcess[str]], project: Path,
        broken_files: Path) -> None:
    good = cli("conformance", "finance", "--stream", "accounts", cwd=project)
    assert good.returncode == 0, good.stdout + good.stderr
    lines = good.stdout.splitlines()[:len(CHECKS) + 1]
    assert lines[-1] == "8 passed, 0 failed, 5 skipped"  # one page: nothing to resume
    assert all(len(line) <= 80 for line in good.stdout.splitlines())
    assert lines[0].startswith("PASS  config_model")
    assert any(line.startswith("SKIP  retries_429_and_503") for line in lines)
    assert "SKIP retries_429_and_503:\n  the read sent no request through" in good.stdout

    bad = cli("conformance", "dup", cwd=broken_files)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAIL  ids_unique" in bad.stdout
    assert "id u1 2 times" in bad.stdout and "Traceback" not in bad.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["conformance", "nowhere"], "no connection named 'nowhere'"),
    (["conformance", "finance", "--stream", "nothing"], "has no stream 'nothing'"),
])
def test_usage_errors_exit_2(project: Path, monkeypatch: pytest.MonkeyPatch,
                             args: list[str], says: str) -> None:
    from typer.testing import CliRunner

    from crm_connect.cli import app

    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert says in result.output


def test_help_and_a_missing_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    from typer.testing import CliRunner

    from crm_connect.cli import app

    monkeypatch.chdir(tmp_path)
    help_text = CliRunner().invoke(app, ["conformance", "--help"]).output
    assert "Usage: crm-connect conformance [OPTIONS] CONNECTION" in help_text
    assert "--stream NAME" in help_text and "--cassettes DIR" in help_text
    result = CliRunner().invoke(app, ["conformance", "crm"])
    assert result.exit_code == 2 and "no configuration found" in result.output


def test_the_kit_reference_documents_every_check_and_target_attribute() -> None:
    docs = Path(__file__).parent.parent / "docs" / "writing-a-plugin.md"
    text = docs.read_text(encoding="utf-8")
    section = text[text.index("## Kit reference: the conformance suite"):]
    if "\n## " in section:  # self-contained: up to the next section
        section = section[:section.index("\n## ")]
    for check in CHECKS:
        assert f"| `{check.name}` |" in section, check.name
    [example] = re.findall(r"```py\n(.*?)```", section, re.DOTALL)
    attributes = re.findall(r"^    (\w+) = ", example, re.MULTILINE)
    assert attributes and all(hasattr(ConformanceSuite, name) for name in attributes)


def test_the_command_line_side_needs_no_pytest() -> None:
    """pytest is a test dependency: the checks and the command import without it."""
    import sys

    code = ("import sys; sys.modules['pytest'] = None; "
            "import crm_connect.testing, crm_connect.testing.conformance, "
            "crm_connect.cli_conformance; from crm_connect.cli import app")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
