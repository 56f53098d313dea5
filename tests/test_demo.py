"""``crm-connect demo``: the installed command in a real process, over every installed
plugin's sandbox and the shipped exports, into a real DuckDB file."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from conftest import CLI, register_entry_point
from crm_connect import hookimpl
from crm_connect.errors import PluginError
from crm_connect.plugins import get_demo_sandboxes
from crm_connect.sandboxes import DemoSandbox

pytest.importorskip("crm_connect_salesforce")
pytest.importorskip("crm_connect_hubspot")

TESTS = Path(__file__).parent
ENTITIES = ("accounts", "contacts", "leads", "deals", "activities", "tickets", "campaigns",
            "survey_responses", "users", "contracts", "spend")


def records_by_source(store: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with duckdb.connect(str(store), read_only=True) as db:
        tables = {row[0] for row in db.execute("SELECT table_name FROM information_schema.tables")
                  .fetchall()}
        for entity in ENTITIES:
            if entity not in tables:
                continue
            for source, count in db.execute(
                    f"SELECT source, count(*) FROM {entity} GROUP BY source").fetchall():
                counts[source] = counts.get(source, 0) + count
    return counts


def demo_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CRM_CONNECT_")}
    env.update({"COLUMNS": "80", **extra})
    return env


def test_the_demo_syncs_two_crms_and_the_exports_and_runs_again_safely(
        tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    first = subprocess.run([CLI, "demo", "--dir", "demo"], capture_output=True, text=True,
                           env=demo_env(), timeout=300, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    counts = records_by_source(folder / "crm.duckdb")
    assert set(counts) == {"salesforce_demo", "hubspot_demo", "exports_demo"}
    assert all(count > 0 for count in counts.values()), counts
    out = first.stdout
    assert "Headline KPIs, every source combined" in out
    assert re.search(r"Customer acquisition cost +USD [\d,]+ +USD [\d,]+", out), out
    assert re.search(r"Net Promoter Score +-?[\d.]+ +-?[\d.]+", out), out
    assert "exports_demo" in out and "hubspot_demo" in out and "salesforce_demo" in out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert "crm-connect auth set salesforce_demo password" in out
    config = (folder / "crm-connect.toml").read_text()
    parsed = tomllib.loads(config)
    assert parsed["connections"]["exports_demo"]["connector"] == "files"
    assert "password" not in parsed["connections"]["salesforce_demo"]
    assert "access_token" not in parsed["connections"]["hubspot_demo"]
    assert (folder / "exports" / "spend.csv").is_file()
    # The HTML report: written beside the store, self-contained, every source in its data panel.
    report = (folder / "report.html").read_text()
    assert "report         demo/report.html" in out
    assert "<script src=" not in report and "Plotly" in report  # the library embedded
    assert all(name in report for name in counts)

    second = subprocess.run([CLI, "demo", "--dir", "demo"], capture_output=True,
                            text=True, env=demo_env(), timeout=300, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert records_by_source(folder / "crm.duckdb") == counts
    headline = out[out.index("Headline KPIs"):out.index("Where everything is")]
    assert headline in second.stdout  # the same figures


def test_a_third_party_plugin_s_sandbox_joins_the_demo(tmp_path: Path) -> None:
    site = register_entry_point(tmp_path / "site", "crm-connect-tinycrm", "0.1", "tinycrm",
                                "demo_plugin")
    env = demo_env(PYTHONPATH=os.pathsep.join([str(site), str(TESTS)]),
                   CRM_CONNECT_LOAD_PLUGINS="tinycrm")
    folder = tmp_path / "demo"
    result = subprocess.run([CLI, "demo", "--dir", str(folder)], capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Started the tinycrm sandbox: a Tiny CRM with seven accounts" in result.stderr
    assert records_by_source(folder / "crm.duckdb") == {"tiny_demo": 7, "exports_demo": 964}
    config = tomllib.loads((folder / "crm-connect.toml").read_text())
    assert config["connections"]["tiny_demo"]["connector"] == "tinycrm"
    assert "tiny-throwaway-token" not in (folder / "crm-connect.toml").read_text()
    assert "crm-connect auth set tiny_demo api_token" in result.stdout


class NotASandbox:
    @hookimpl
    def register_demo_sandboxes(self, register: Any) -> None:
        register({"connection": "tiny_demo"})


class SameName:
    @hookimpl
    def register_demo_sandboxes(self, register: Any) -> None:
        from demo_plugin import start_tiny

        register(DemoSandbox(connection="tiny_demo", connector="tinycrm", start=start_tiny))


def test_the_hook_refuses_what_is_not_a_sandbox_and_names_the_plugin(
        crm_plugin: Callable[[Any, str], None]) -> None:
    crm_plugin(NotASandbox(), "wrong")
    with pytest.raises(PluginError, match=r'Plugin "wrong" registered .* not a '
                       r"crm_connect\.sandboxes\.DemoSandbox"):
        get_demo_sandboxes()


def test_two_plugins_registering_one_connection_name_are_both_named(
        crm_plugin: Callable[[Any, str], None]) -> None:
    crm_plugin(SameName(), "first")
    crm_plugin(SameName(), "second")
    with pytest.raises(PluginError, match='both plugin "first" and plugin "second"'):
        get_demo_sandboxes()


class BrokenStart:
    @hookimpl
    def register_demo_sandboxes(self, register: Any) -> None:
        from contextlib import contextmanager

        @contextmanager
        def start() -> Any:
            raise OSError("no free port")
            yield

        register(DemoSandbox(connection="broken_demo", connector="files", start=start))


def test_a_sandbox_that_cannot_start_is_an_error_naming_its_plugin(
        crm_plugin: Callable[[Any, str], None], tmp_path: Path) -> None:
    from crm_connect.demo import demo_sandboxes, running_sandboxes

    crm_plugin(BrokenStart(), "broken")
    broken = [entry for entry in demo_sandboxes() if entry[1] == "broken"]
    with pytest.raises(PluginError, match='Plugin "broken" could not start its demo sandbox '
                       "'broken_demo': OSError: no free port"), running_sandboxes(broken):
        pass


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_mid_demo_exits_130_and_leaves_nothing_running(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    folder = tmp_path / "demo"
    process = subprocess.Popen([CLI, "demo", "--dir", str(folder)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=demo_env())
    try:
        assert process.stderr is not None
        for line in process.stderr:  # the sync has begun: both sandboxes are serving
            if line.startswith("Syncing"):
                break
        config = tomllib.loads((folder / "crm-connect.toml").read_text())
        urls = [config["connections"]["salesforce_demo"]["login_url"],
                config["connections"]["hubspot_demo"]["base_url"]]
        ports = [int(url.rsplit(":", 1)[1]) for url in urls]
        assert all(listening(port) for port in ports)
        children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, rest
    assert "Interrupted: every sandbox is stopped" in rest
    assert "Traceback" not in rest
    assert not any(listening(port) for port in ports)
    deadline = time.monotonic() + 10
    while any(child.is_running() for child in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(child.is_running() for child in children)
