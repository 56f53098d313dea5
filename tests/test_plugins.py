from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from conftest import register_entry_point
from crm_connect import Connector, ConnectorConfig, hookimpl
from crm_connect.errors import PluginError
from crm_connect.plugins import get_connectors, list_plugins, load_plugins

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin built and installed as a real distribution into a private folder."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / "example_plugin"
    import shutil

    shutil.copytree(FIXTURES / "example_plugin", source)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--disable-pip-version-check", "--target", str(target),
         str(source)],
        check=True, capture_output=True,
    )
    assert list(target.glob("crm_connect_example-1.2.3.dist-info"))
    return target


def test_installed_distribution_is_discovered_through_its_entry_point(
        installed_example: Path, cli_process, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli = cli_process  # installed into a folder on PYTHONPATH: a process of its own
    env = {"PYTHONPATH": str(installed_example), "CRM_CONNECT_LOAD_PLUGINS": "example"}
    listed = cli("plugins", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert plugins["example"]["version"] == "1.2.3"
    assert plugins["example"]["connectors"] == ["example"]
    assert plugins["example"]["hooks"] == ["register_connectors"]
    assert plugins["files"]["builtin"] is True

    # ... and used: a sync through its connector lands its records.
    (tmp_path / "crm-connect.toml").write_text('[connections.ex]\nconnector = "example"\n')
    synced = cli("sync", cwd=tmp_path, env={**env, "CRM_CONNECT_EX_API_KEY": "k"})
    assert synced.returncode == 0, synced.stderr
    import duckdb

    with duckdb.connect(str(tmp_path / "crm.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM deals WHERE source = 'ex'").fetchone() == (25,)


def test_allow_list_and_deny_list(installed_example: Path, cli_process) -> None:  # type: ignore[no-untyped-def]
    cli = cli_process  # installed into a folder on PYTHONPATH: a process of its own
    base = {"PYTHONPATH": str(installed_example)}
    names = lambda env: {p["name"] for p in json.loads(cli("plugins", "list", "--json",  # noqa: E731
                                                         env={**base, **env}).stdout)}
    assert "example" not in names({"CRM_CONNECT_LOAD_PLUGINS": ""})
    assert "example" in names({"CRM_CONNECT_LOAD_PLUGINS": "example"})
    assert "example" not in names({"CRM_CONNECT_LOAD_PLUGINS": "example",
                                   "CRM_CONNECT_DISABLED_PLUGINS": "example"})
    # Built-ins always load unless disabled by name.
    assert {"files", "duckdb"} <= names({"CRM_CONNECT_LOAD_PLUGINS": ""})
    assert "files" not in names({"CRM_CONNECT_DISABLED_PLUGINS": "files"})


def test_a_plugin_that_fails_to_import_is_named(tmp_path: Path, cli_process) -> None:  # type: ignore[no-untyped-def]
    cli = cli_process  # found through PYTHONPATH: a process of its own
    site = register_entry_point(tmp_path / "site", "crm-connect-broken", "0.1", "broken",
                                "crm_connect_broken")
    (site / "crm_connect_broken.py").write_text("raise RuntimeError('boom at import')\n")
    result = cli("plugins", "list", env={"PYTHONPATH": str(site),
                                         "CRM_CONNECT_LOAD_PLUGINS": "broken"})
    assert result.returncode == 1
    assert 'Error loading plugin "broken": boom at import' in result.stderr


def test_exception_inside_a_hook_names_plugin_and_hook(crm_plugin) -> None:  # type: ignore[no-untyped-def]
    plugin = types.SimpleNamespace()

    @hookimpl
    def register_connectors(register: Any) -> None:
        raise ValueError("cannot talk to the license server")

    plugin.register_connectors = register_connectors
    crm_plugin(plugin, "flaky")
    with pytest.raises(PluginError, match=r'Plugin "flaky" raised in hook register_connectors: '
                                          r"ValueError: cannot talk"):
        get_connectors()


def test_duplicate_connector_names_both_plugins(crm_plugin) -> None:  # type: ignore[no-untyped-def]
    class Files(Connector[ConnectorConfig]):
        name = "files"

        def streams(self):  # type: ignore[no-untyped-def]
            return []

        def check(self):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def read(self, stream, state):  # type: ignore[no-untyped-def]
            return iter(())

    plugin = types.SimpleNamespace(register_connectors=hookimpl(
        lambda register: register(Files)))
    crm_plugin(plugin, "impostor")
    with pytest.raises(PluginError, match=r"'files' is registered by both plugin \"files\" and "
                                          r"plugin \"impostor\""):
        get_connectors()


def test_registering_something_that_is_not_a_connector_is_refused(crm_plugin) -> None:  # type: ignore[no-untyped-def]
    plugin = types.SimpleNamespace(register_connectors=hookimpl(lambda register: register(42)))
    crm_plugin(plugin, "confused")
    with pytest.raises(PluginError, match='Plugin "confused" registered 42'):
        get_connectors()


def test_loading_is_idempotent_and_lists_versions_and_hooks() -> None:
    assert load_plugins() is load_plugins()
    infos = {info.name: info for info in list_plugins()}
    assert infos["files"].hooks == ["register_connectors"]
    assert infos["duckdb"].hooks == ["register_stores"]
    assert infos["files"].builtin and infos["files"].version


def test_builtins_load_only_through_the_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkout that was never installed has no entry points: it says how to install."""
    from crm_connect import plugins

    installed = list(plugins._entry_points())
    assert {ep.name for ep in installed if ep.dist is not None
            and ep.dist.metadata["Name"] == "crm-connect"} == {"files", "duckdb", "kpis",
                                                                  "postgres"}
    others = [ep for ep in installed
              if ep.dist is None or ep.dist.metadata["Name"] != "crm-connect"]
    monkeypatch.setattr(plugins, "_entry_points", lambda: iter(others))
    plugins.reset_plugins()
    try:
        with pytest.raises(PluginError, match=r"^crm-connect is not installed: run pip "
                                              r"install -e \. "):
            load_plugins()
        with pytest.raises(PluginError, match="crm-connect is not installed"):
            get_connectors()
    finally:
        monkeypatch.undo()
        plugins.reset_plugins()
    assert {"files", "duckdb", "kpis"} <= {info.name for info in list_plugins()}


def test_reset_reads_the_disabled_list_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_connect import plugins

    monkeypatch.setenv("CRM_CONNECT_DISABLED_PLUGINS", "files")
    plugins.reset_plugins()
    try:
        assert "files" not in get_connectors()
        assert "files" not in {info.name for info in list_plugins()}
    finally:
        monkeypatch.undo()
        plugins.reset_plugins()
    assert "files" in get_connectors()


def test_every_hook_is_documented_and_typed() -> None:
    from crm_connect import hookspecs

    specs = [getattr(hookspecs, name) for name in dir(hookspecs)
             if hasattr(getattr(hookspecs, name), "crm_connect_spec")]
    assert {spec.__name__ for spec in specs} >= {
        "register_connectors", "register_kpis", "register_stores", "transform_records",
        "sync_started", "stream_finished", "sync_finished"}
    for spec in specs:
        assert spec.__doc__ and "versionadded" in spec.__doc__, spec.__name__
        assert "return" in spec.__annotations__, spec.__name__


def test_every_hook_has_a_test() -> None:
    """datasette's meta-test: each hook's name appears in some test module."""
    from crm_connect import hookspecs

    here = Path(__file__).parent
    text = "".join(path.read_text() for path in here.glob("test_*.py")
                   if path.name != "test_plugins.py")
    text += Path(__file__).read_text().split("def test_every_hook_has_a_test")[0]
    for name in dir(hookspecs):
        if hasattr(getattr(hookspecs, name), "crm_connect_spec"):
            if name == "register_kpis":  # consumed and tested by the metric engine
                import importlib.util

                if importlib.util.find_spec("crm_connect.metrics") is None:
                    continue
                text += "".join(p.read_text() for p in here.glob("test_metrics*.py"))
            assert f"def {name}(" in text or f"{name}=" in text, f"no test implements {name}"
