"""A connected app with refresh token rotation: each login answers a new refresh token and
revokes the one presented.  The new one must be saved (keyring, else the tokens file beside the
store), must win next run over the stale ``CRM_CONNECT_SF_REFRESH_TOKEN``, and the token POST
is never repeated once its answer may have been received."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_connect_salesforce.sandbox import FaultKind, SalesforceSandbox
from sf_support import run_cli, sandbox_options, write_project

from crm_connect.testing.memory_keyring import MemoryKeyring

TOKEN = r"/services/oauth2/token$"
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


@pytest.fixture
def org() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(records=300, seed=4, rotate_refresh_tokens=True) as sandbox:
        yield sandbox


def project(org: SalesforceSandbox, folder: Path) -> dict[str, str]:
    write_project(folder, {"sf": sandbox_options(
        org, auth="refresh_token", consumer_key=org.credentials.client_id,
        streams=["users"], bulk="never")})
    return {"CRM_CONNECT_SF_REFRESH_TOKEN": org.credentials.refresh_token,
            "CRM_CONNECT_SF_CONSUMER_SECRET": org.credentials.client_secret,
            "CRM_CONNECT_LOAD_PLUGINS": "salesforce"}


def test_rotated_refresh_token_survives_on_a_server_without_keyring(
        org: SalesforceSandbox, tmp_path: Path) -> None:
    env = {**project(org, tmp_path), **NO_KEYRING}
    first_token = env["CRM_CONNECT_SF_REFRESH_TOKEN"]
    first = run_cli("sync", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert org.credentials.refresh_token != first_token  # rotated: the env value is revoked
    tokens = tmp_path / "crm.duckdb.tokens.json"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert org.credentials.refresh_token in tokens.read_text()

    second = run_cli("sync", cwd=tmp_path, env=env)  # the environment still holds the old one
    assert second.returncode == 0, second.stdout + second.stderr
    assert org.request_count(TOKEN, status=400) == 0  # never presented the revoked token
    where = run_cli("auth", "get", "sf", "refresh_token", cwd=tmp_path, env=env)
    assert "set, from the tokens file" in where.stdout
    assert "not used: environment (CRM_CONNECT_SF_REFRESH_TOKEN)" in where.stdout
    assert org.credentials.refresh_token not in where.stdout + first.stderr + second.stderr


def test_rotated_refresh_token_goes_to_the_keyring_when_there_is_one(
        org: SalesforceSandbox, tmp_path: Path, memory_keyring: MemoryKeyring,
        monkeypatch: pytest.MonkeyPatch, crm_plugin: Callable[[Any, str], None]) -> None:
    from crm_connect_salesforce import plugin
    from typer.testing import CliRunner

    from crm_connect.cli import app

    crm_plugin(plugin, "salesforce")  # in-process: the plugin set may be loaded already
    env = project(org, tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        result = CliRunner().invoke(app, ["sync"])
        assert result.exit_code == 0, result.output
    assert ("crm-connect", "sf:rotated") in memory_keyring.secrets
    assert org.credentials.refresh_token in memory_keyring.secrets[("crm-connect", "sf:rotated")]
    assert not (tmp_path / "crm.duckdb.tokens.json").exists()
    assert org.request_count(TOKEN, method="POST") == 2
    assert org.request_count(TOKEN, status=400) == 0


def test_a_lost_answer_to_the_token_request_is_not_retried(
        org: SalesforceSandbox, tmp_path: Path) -> None:
    env = {**project(org, tmp_path), **NO_KEYRING}
    org.inject(FaultKind.TRUNCATED_BODY, TOKEN, method="POST")
    result = run_cli("sync", cwd=tmp_path, env=env)
    assert result.returncode != 0
    assert org.request_count(TOKEN, method="POST") == 1  # sent once, never again
    message = " ".join(result.stderr.split())
    assert "the answer was lost" in message and "It is not sent again" in message
    assert "crm-connect auth set sf refresh_token" in message
    assert "Traceback" not in result.stderr
