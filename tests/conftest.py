from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from crm_connect.sample import write_sample_export

BIN = Path(sys.executable).parent
CLI = str(BIN / "crm-connect")
FIXTURES = Path(__file__).parent / "fixtures"


def run_cli(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed ``crm-connect`` command as a user would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([CLI, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          input=input, timeout=timeout)


def register_entry_point(site: Path, distribution: str, version: str, plugin: str,
                         module: str) -> Path:
    """Make ``site`` hold the metadata of an installed distribution with one ``crm_connect``
    entry point, as pip would leave it; put ``site`` on PYTHONPATH to "install" it."""
    dist = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (dist / "entry_points.txt").write_text(f"[crm_connect]\n{plugin} = {module}\n")
    return site


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with a files export and a crm-connect.toml pointing at it."""
    write_sample_export(tmp_path / "exports", scale=0.1, seed=3)
    (tmp_path / "crm-connect.toml").write_text(
        '[connections.finance]\nconnector = "files"\npath = "exports/"\n'
    )
    return tmp_path
