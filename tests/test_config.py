from __future__ import annotations

from pathlib import Path

import keyring
import pytest

from crm_connect.config import load_config, parse_config
from crm_connect.errors import ConfigError, MissingSecretError, UnknownConnectorError
from crm_connect.secrets import env_var_name, get_secret, require_secret, set_secret

EXAMPLE = Path(__file__).parent / "fixtures" / "example_plugin"


@pytest.fixture
def example_plugin(crm_plugin):  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("crm_connect_example",
                                                  EXAMPLE / "crm_connect_example.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    crm_plugin(module, "example")
    return module


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crm-connect.toml"
    path.write_text(text)
    return path


def test_full_contract_file_parses(tmp_path: Path) -> None:
    path = write(tmp_path, """
[store]
url = "duckdb:///data/crm.duckdb"

[reporting]
currency = "USD"
rates = { EUR = 1.08, GBP = 1.27 }

[connections.finance]
connector = "files"
path = "exports/"

[targets]
customer_churn_rate = { value = 3.0, by = "2027-06-30" }
""")
    config = load_config(path)
    assert config.connections["finance"].connector == "files"
    assert str(config.reporting.rates["EUR"]) == "1.08"
    assert config.targets["customer_churn_rate"].value == 3.0
    assert config.base_dir == tmp_path


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[connections.finance]\nconnector = "files"\npath = \n')
    with pytest.raises(ConfigError, match=r"crm-connect.toml: invalid TOML: .*line 3") as info:
        load_config(path)
    assert info.value.exit_code == 2


def test_unknown_connector_names_connection_line_and_what_is_installed(tmp_path: Path) -> None:
    path = write(tmp_path, '\n[connections.sf_prod]\nconnector = "salesforce"\n')
    with pytest.raises(UnknownConnectorError) as info:
        load_config(path)
    message = str(info.value)
    assert "line 2" in message and "'sf_prod'" in message and "'salesforce'" in message
    assert "installed: files" in message and info.value.exit_code == 2


def test_unknown_field_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[connections.finance]\nconnector = "files"\npath = "x"\n'
                           'pathh = "y"\n')
    with pytest.raises(ConfigError, match=r"line 4: connection 'finance': unknown field 'pathh'"):
        load_config(path)


def test_unknown_top_level_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 1: unknown table \[stores\]"):
        load_config(write(tmp_path, '[stores]\nurl = "x"\n'))


def test_config_found_by_option_environment_then_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text('[connections.a]\nconnector = "files"\npath = "a"\n')
    write(tmp_path, '[connections.b]\nconnector = "files"\npath = "b"\n')
    monkeypatch.chdir(tmp_path)
    assert list(load_config().connections) == ["b"]
    monkeypatch.setenv("CRM_CONNECT_CONFIG", str(elsewhere))
    assert list(load_config().connections) == ["a"]
    assert list(load_config(tmp_path / "crm-connect.toml").connections) == ["b"]
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_secret_written_in_the_file_is_refused(tmp_path: Path, example_plugin) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, '[connections.ex]\nconnector = "example"\napi_key = "hunter2"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "line 3" in str(info.value) and "crm-connect auth set ex api_key" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_missing_secret_names_connection_field_and_both_fixes(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MissingSecretError) as info:
        require_secret("sf_prod", "password")
    message = str(info.value)
    assert "'sf_prod'" in message and "'password'" in message
    assert "crm-connect auth set sf_prod password" in message
    assert "CRM_CONNECT_SF_PROD_PASSWORD" in message
    assert info.value.exit_code == 2


def test_keyring_then_environment_override(memory_keyring, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    set_secret("sf_prod", "password", "from-keyring")
    assert memory_keyring.secrets[("crm-connect", "sf_prod.password")] == "from-keyring"
    assert get_secret("sf_prod", "password") == "from-keyring"
    monkeypatch.setenv(env_var_name("sf_prod", "password"), "from-env")
    assert get_secret("sf_prod", "password") == "from-env"
    assert env_var_name("hs-marketing", "token") == "CRM_CONNECT_HS_MARKETING_TOKEN"


def test_no_usable_keyring_says_to_use_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(ConfigError, match="CRM_CONNECT_SF_PROD_TOKEN") as info:
            set_secret("sf_prod", "token", "x")
        assert info.value.exit_code == 2
        with pytest.raises(MissingSecretError, match="no usable system keyring"):
            require_secret("sf_prod", "token")
        monkeypatch.setenv("CRM_CONNECT_SF_PROD_TOKEN", "abc")
        assert require_secret("sf_prod", "token") == "abc"
    finally:
        keyring.set_keyring(previous)


def test_store_and_reporting_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 2: \[reporting\] currency"):
        load_config(write(tmp_path, '[reporting]\ncurrency = "dollars"\n'))
    config = parse_config("", None, tmp_path)
    assert config.store.url == "duckdb:///crm.duckdb"
