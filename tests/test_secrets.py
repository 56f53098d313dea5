"""Secrets: which value wins (rotated, environment, keyring), rotated token sets saved in one
piece to the keyring or to a 0600 tokens file, and ``crm-connect auth get | delete``."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from crm_connect.connector import ConnectionContext
from crm_connect.errors import ConfigError
from crm_connect.secrets import (
    delete_secret,
    get_secret,
    locate_secret,
    save_rotated_secrets,
    set_secret,
    tokens_file_for,
)
from crm_connect.testing.memory_keyring import MemoryKeyring

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """The documented server setup: no usable keyring backend at all."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def test_rotated_token_wins_over_the_stale_environment_value(
        memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CRM_CONNECT_SF_REFRESH_TOKEN", "refresh-0")
    tokens = tmp_path / "crm.duckdb.tokens.json"
    assert get_secret("sf", "refresh_token", tokens) == "refresh-0"
    where = save_rotated_secrets("sf", {"refresh_token": "refresh-1", "access_token": "a-1"},
                                 tokens)
    assert where == "keyring"
    # one keyring entry holds the whole set: no half-saved set, no per-field writes
    assert list(memory_keyring.secrets) == [("crm-connect", "sf:rotated")]
    assert get_secret("sf", "refresh_token", tokens) == "refresh-1"
    assert get_secret("sf", "access_token", tokens) == "a-1"
    found = locate_secret("sf", "refresh_token", tokens)
    assert found.source == "keyring (rotated)"
    assert found.shadowed == ["environment (CRM_CONNECT_SF_REFRESH_TOKEN)"]
    # a second rotation still replaces the same environment value
    save_rotated_secrets("sf", {"refresh_token": "refresh-2"}, tokens)
    assert get_secret("sf", "refresh_token", tokens) == "refresh-2"
    assert get_secret("sf", "access_token", tokens) == "a-1"
    # an operator who puts a new token in the environment overrides the older rotation
    monkeypatch.setenv("CRM_CONNECT_SF_REFRESH_TOKEN", "refresh-new")
    found = locate_secret("sf", "refresh_token", tokens)
    assert (found.value, found.source) == ("refresh-new", "environment")
    assert found.shadowed == ["keyring (rotated) (older than the environment value)"]


def test_auth_set_replaces_a_rotated_value(memory_keyring: MemoryKeyring, tmp_path: Path) -> None:
    tokens = tmp_path / "t.json"
    set_secret("sf", "refresh_token", "typed-0", tokens)
    save_rotated_secrets("sf", {"refresh_token": "rotated-1"}, tokens)
    assert get_secret("sf", "refresh_token", tokens) == "rotated-1"
    set_secret("sf", "refresh_token", "typed-2", tokens)
    assert get_secret("sf", "refresh_token", tokens) == "typed-2"
    assert ("crm-connect", "sf:rotated") not in memory_keyring.secrets


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_rotated_tokens_go_to_a_0600_file_beside_the_store(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CRM_CONNECT_SF_REFRESH_TOKEN", "refresh-0")
    tokens = tokens_file_for("duckdb:///data/crm.duckdb", tmp_path)
    assert tokens == tmp_path / "data" / "crm.duckdb.tokens.json"
    context = ConnectionContext("sf", tmp_path, tokens)
    context.save_secrets({"refresh_token": "refresh-1", "access_token": "a-1"})
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    document = json.loads(tokens.read_text())["sf"]
    assert {name: item["value"] for name, item in document["fields"].items()} == {
        "refresh_token": "refresh-1", "access_token": "a-1"}
    assert "refresh-0" not in tokens.read_text()  # the replaced value is only a salted hash
    assert context.secret("refresh_token") == "refresh-1"
    assert locate_secret("sf", "refresh_token", tokens).source == "tokens file"
    # the file is replaced atomically: no temporary file is left behind
    assert sorted(p.name for p in tokens.parent.iterdir()) == [
        "crm.duckdb.tokens.json", "crm.duckdb.tokens.json.lock"]


@pytest.mark.usefixtures("no_keyring")
def test_concurrent_saves_of_different_connections_keep_every_set(tmp_path: Path) -> None:
    tokens = tmp_path / "crm.duckdb.tokens.json"

    def rotate(connection: str) -> None:
        for number in range(25):
            save_rotated_secrets(connection, {"refresh_token": f"{connection}-{number}"}, tokens)

    threads = [threading.Thread(target=rotate, args=(name,)) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [get_secret(name, "refresh_token", tokens) for name in ("a", "b", "c")] == [
        "a-24", "b-24", "c-24"]


@pytest.mark.usefixtures("no_keyring")
def test_a_token_set_that_can_be_saved_nowhere_is_a_clear_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "store"
    not_a_folder.write_text("a file where the store's folder should be")
    with pytest.raises(ConfigError) as caught:
        save_rotated_secrets("sf", {"refresh_token": "very-secret-token"},
                             not_a_folder / "crm.duckdb.tokens.json")
    message = str(caught.value)
    assert "connection 'sf'" in message and "refresh_token" in message
    assert "no usable system keyring" in message and "crm-connect auth set sf" in message
    assert "very-secret-token" not in message


def test_delete_removes_keyring_and_rotated_values(memory_keyring: MemoryKeyring,
                                                   tmp_path: Path) -> None:
    tokens = tmp_path / "t.json"
    set_secret("sf", "refresh_token", "typed", tokens)
    save_rotated_secrets("sf", {"refresh_token": "rotated", "access_token": "a"}, tokens)
    assert delete_secret("sf", "refresh_token", tokens) == ["keyring", "keyring (rotated)"]
    assert get_secret("sf", "refresh_token", tokens) is None
    assert get_secret("sf", "access_token", tokens) == "a"
    assert delete_secret("sf", "refresh_token", tokens) == []


# -- the installed command ------------------------------------------------------------------


def _rotate_in_file(project: Path, values: dict[str, str], env: dict[str, str],
                    monkeypatch: pytest.MonkeyPatch) -> Path:
    """What a sync's token refresh leaves behind on a server without a keyring."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        tokens = tokens_file_for("duckdb:///crm.duckdb", project)
        save_rotated_secrets("finance", values, tokens)
    finally:
        keyring.set_keyring(previous)
    return tokens


def test_auth_get_says_where_a_secret_comes_from_and_never_prints_it(  # type: ignore[no-untyped-def]
        cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**NO_KEYRING, "CRM_CONNECT_FINANCE_TOKEN": "env-secret-value"}
    missing = cli("auth", "get", "finance", "token", cwd=project, env=NO_KEYRING)
    assert missing.returncode == 1
    assert "finance.token: not set" in missing.stdout
    assert "crm-connect auth set finance token" in missing.stdout
    assert "CRM_CONNECT_FINANCE_TOKEN" in missing.stdout
    from_env = cli("auth", "get", "finance", "token", cwd=project, env=env)
    assert from_env.returncode == 0, from_env.stderr
    assert "set, from the environment\n  CRM_CONNECT_FINANCE_TOKEN" in from_env.stdout
    tokens = _rotate_in_file(project, {"token": "rotated-secret-value"}, env, monkeypatch)
    rotated = cli("auth", "get", "finance", "token", cwd=project, env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "set, from the tokens file" in rotated.stdout and str(tokens) in rotated.stdout
    assert "not used: environment (CRM_CONNECT_FINANCE_TOKEN)" in rotated.stdout
    for result in (missing, from_env, rotated):
        assert "secret-value" not in result.stdout + result.stderr
        assert all(len(line) <= 80 for line in result.stdout.splitlines()
                   if str(tokens) not in line)
    unknown = cli("auth", "get", "nope", "token", cwd=project, env=NO_KEYRING)
    assert unknown.returncode == 2 and "no connection named 'nope'" in unknown.stderr


def test_auth_delete_removes_the_rotated_token_and_names_the_environment(  # type: ignore[no-untyped-def]
        cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**NO_KEYRING, "CRM_CONNECT_FINANCE_TOKEN": "env-secret-value"}
    tokens = _rotate_in_file(project, {"token": "rotated-secret-value", "other": "x"}, env,
                             monkeypatch)
    deleted = cli("auth", "delete", "finance", "token", cwd=project, env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert f"Deleted finance.token from: tokens file {tokens}." in deleted.stdout
    assert "still set by the environment:\n  unset CRM_CONNECT_FINANCE_TOKEN" in deleted.stdout
    assert "rotated-secret-value" not in tokens.read_text()
    assert "finance" in json.loads(tokens.read_text())  # the other field is kept
    after = cli("auth", "get", "finance", "token", cwd=project, env=env)
    assert "set, from the environment" in after.stdout
    again = cli("auth", "delete", "finance", "token", cwd=project, env=NO_KEYRING)
    assert again.returncode == 1 and "nothing stored" in again.stdout
