#!/usr/bin/env python3
"""Set up a development environment and run the project's main jobs, with nothing but Python.

    python3 dev.py quickstart   # set up, then crm-connect demo: two CRM sandboxes and a
                                # folder of exports synced into one store, with their KPIs
    python3 dev.py test         # set up, then ruff, mypy and the whole test suite

The virtual environment lives in .venv/ (override with $CRM_CONNECT_VENV); it is created on
first use and refreshed whenever a pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("CRM_CONNECT_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
DEMO_DIR = "crm-connect-demo"


def _projects() -> list[Path]:
    """The core distribution, then each vendor plugin distribution under plugins/."""
    plugins = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    return [ROOT, *plugins]


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for project in _projects():
        digest.update((project / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def run(*command: str | Path, cwd: Path = ROOT, check: bool = True) -> int:
    print("+", " ".join(str(part) for part in command), flush=True)
    code = subprocess.call([str(part) for part in command], cwd=cwd)
    if check and code != 0:
        sys.exit(code)
    return code


def setup(*, with_test_tools: bool = True) -> None:
    """Install crm-connect and its plugins into the virtual environment (editable), with the
    test and benchmark tools unless only the quickstart needs running."""
    stamp = VENV / ".crm-connect-installed"
    wanted = _fingerprint() + (":full" if with_test_tools else ":run")
    if stamp.exists() and stamp.read_text() in {wanted, _fingerprint() + ":full"}:
        return
    if not (BIN / "python").exists():
        print(f"creating a virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    what = "crm-connect, its plugins" + (" and the test tools" if with_test_tools else "")
    print(f"installing {what} into {VENV} (a minute or two the first time)", flush=True)
    pip = [BIN / "python", "-m", "pip", "install", "--disable-pip-version-check",
           "--progress-bar", "on"]
    editable = []
    for project in _projects():
        extras = ""
        if with_test_tools:
            # postgres: the Postgres store's tests run against a real server; spark: the KPI
            # catalogue on a local Spark session; resolve: splink; dagster, airflow: adapters.
            extras = "[test,bench,postgres,spark,resolve,dagster,airflow]" if project == ROOT else (
                "[test]" if _has_test_extra(project) else "")
        editable += ["-e", f"{project}{extras}"]
    run(*pip, *editable)
    stamp.write_text(wanted)


def _has_test_extra(project: Path) -> bool:
    import tomllib

    data = tomllib.loads((project / "pyproject.toml").read_text())
    return "test" in data.get("project", {}).get("optional-dependencies", {})


def quickstart() -> int:
    """Install crm-connect and its plugins (no test tools), then run ``crm-connect demo``: it
    starts each plugin's loopback sandbox, syncs them and the shipped exports into
    crm-connect-demo/, and prints the KPIs."""
    setup(with_test_tools=False)
    return run(BIN / "crm-connect", "demo", "--dir", DEMO_DIR, check=False)


def test(extra: list[str]) -> int:
    setup()
    python = BIN / "python"
    run(python, "-m", "ruff", "check", "crm_connect", "tests", *[p for p in _projects()[1:]])
    run(python, "-m", "mypy", "crm_connect")
    for plugin in _projects()[1:]:
        packages = [p for p in plugin.glob("crm_connect_*") if (p / "__init__.py").exists()]
        if packages:
            run(python, "-m", "mypy", *packages)
    code = run(python, "-m", "pytest", "-p", "no:cacheprovider", *extra, check=False)
    if code == 5:
        print("dev.py: pytest collected no tests, which is a failure here", flush=True)
        return 1
    return code


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"quickstart", "test", "setup"}:
        print(__doc__)
        return 2
    command, extra = sys.argv[1], sys.argv[2:]
    if command == "setup":
        setup()
        return 0
    if command == "quickstart":
        return quickstart()
    return test(extra)


if __name__ == "__main__":
    sys.exit(main())
