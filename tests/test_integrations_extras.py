"""The orchestrator integrations are optional extras: without one, importing its module says
which pip command installs it (no traceback of a missing module deep inside), and the core and
its CLI never import either orchestrator."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCKED = "import sys\nfor name in {names!r}:\n    sys.modules[name] = None\n"


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize(("extra", "modules"), [
    ("dagster", ["dagster"]),
    ("airflow", ["airflow", "airflow.sdk", "airflow.providers"]),
])
def test_importing_without_the_extra_names_the_pip_command(extra: str,
                                                           modules: list[str]) -> None:
    done = python(BLOCKED.format(names=modules) + f"""
try:
    import crm_connect.integrations.{extra}
except ImportError as error:
    print("ERROR", error)
""")
    assert done.returncode == 0, done.stderr
    assert f"ERROR crm_connect.integrations.{extra} needs" in done.stdout
    assert f"pip install 'crm-connect[{extra}]'" in done.stdout


def test_the_core_and_its_cli_import_no_orchestrator() -> None:
    done = python("import sys, crm_connect.cli, crm_connect.runner\n"
                  "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                  "('dagster', 'airflow')))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
