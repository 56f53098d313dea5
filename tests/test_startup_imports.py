"""Start-up cost: every command loads every installed plugin, so a plugin's entry point and
the core's command line must stay light.  The vendor client libraries load when a connector of
that vendor is built, the metric engine (sqlglot) when KPIs are computed, plotly when a report
is written: a sync of a files connection pays for none of them, with both vendor plugins
installed and loaded.

The installed ``crm-connect`` runs in its own process; a ``sitecustomize`` module put on its
``PYTHONPATH`` writes, as each process (the sync's validation workers too) exits, the names
in its ``sys.modules``."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli_process

HEAVY = ("simple_salesforce", "zeep", "lxml", "hubspot", "sqlglot", "plotly", "splink",
         "pyspark")
"""Libraries a files sync does not need (tens of MB of resident memory between them)."""

SITECUSTOMIZE = """
import atexit, os, sys

def _write_modules():
    with open(os.path.join(os.environ["MODULES_OUT"], str(os.getpid())), "w") as out:
        out.write("\\n".join(sorted(sys.modules)))

atexit.register(_write_modules)
"""


def command(*args: str, cwd: Path, tmp_path: Path) -> set[str]:
    """The modules the processes of ``crm-connect ARGS`` imported, all plugins loaded (the
    tests' allow-list lifted), as for a user."""
    site, out = tmp_path / "site", tmp_path / f"modules-{args[0]}"
    site.mkdir(exist_ok=True)
    out.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    result = run_cli_process(*args, cwd=cwd, env={
        "PYTHONPATH": str(site), "MODULES_OUT": str(out),
        "CRM_CONNECT_LOAD_PLUGINS": "salesforce,hubspot"})
    assert result.returncode == 0, result.stderr[-3000:]
    written = list(out.iterdir())
    assert written, "no process wrote its modules"
    return {name for path in written for name in path.read_text().splitlines()}


def heavy(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in HEAVY)


@pytest.fixture
def files_project(tmp_path: Path) -> Path:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "accounts.csv").write_text(
        "id,name,updated_at\nA1,Acme,2026-05-01T00:00:00Z\nA2,Globex,2026-05-02T00:00:00Z\n")
    (tmp_path / "crm-connect.toml").write_text(
        '[connections.finance]\nconnector = "files"\npath = "exports/"\n')
    return tmp_path


def test_a_files_sync_loads_no_vendor_client_no_metric_engine_and_no_plotly(
        files_project: Path) -> None:
    modules = command("sync", cwd=files_project, tmp_path=files_project)
    # the vendor plugins did load (their entry points), only their client libraries did not
    assert {"crm_connect_salesforce.plugin", "crm_connect_hubspot.plugin",
            "crm_connect.metrics.catalogue", "crm_connect.connectors.files"} <= modules
    assert heavy(modules) == []
    assert (files_project / "crm.duckdb").exists()


def test_the_help_loads_none_of_them_either(files_project: Path) -> None:
    modules = command("--help", cwd=files_project, tmp_path=files_project)
    assert "crm_connect.cli" in modules and heavy(modules) == []


def test_the_engine_still_loads_when_kpis_are_computed(files_project: Path) -> None:
    """The other side of laziness (and proof that the check sees a heavy library)."""
    command("sync", cwd=files_project, tmp_path=files_project)
    modules = command("kpis", "--format", "json", cwd=files_project, tmp_path=files_project)
    assert "sqlglot" in heavy(modules) and "crm_connect.metrics.engine" in modules
