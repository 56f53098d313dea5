"""The README's recipe: start the sandbox from the command line, paste what it prints, sync.

The sandbox prints a ``[connections.sandbox]`` table and the secrets as ``export`` lines; a user
copies them as they are.  This test does exactly that with the installed commands.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sf_support import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def printed_recipe() -> Iterator[list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "crm_connect_salesforce.sandbox", "--records", "300"],
        stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("# its data ends at"):
                break
        yield lines
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_printed_configuration_syncs_as_pasted(printed_recipe: list[str], tmp_path: Path
                                               ) -> None:
    start = printed_recipe.index("# crm-connect.toml")
    toml = []
    env = dict(os.environ, CRM_CONNECT_LOAD_PLUGINS="salesforce")
    for line in printed_recipe[start + 1:]:
        exported = re.fullmatch(r"export (\w+)='(.*)'", line)
        if exported:
            env[exported.group(1)] = exported.group(2)
        elif not line.startswith("#"):
            toml.append(line)
    (tmp_path / "crm-connect.toml").write_text("\n".join(toml) + "\n", encoding="utf-8")
    as_of = printed_recipe[-1].rsplit(" ", 1)[-1]
    assert as_of == "2026-05-01T00:00:00Z"

    checked = run_cli("connections", "test", "sandbox", cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    synced = run_cli("sync", cwd=tmp_path, env=env, timeout=300)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    kpis = run_cli("kpis", "--metric", "win_rate", "--grain", "year", "--as-of", as_of,
                   "--format", "json", cwd=tmp_path, env=env)
    assert kpis.returncode == 0, kpis.stderr
    rows = json.loads(kpis.stdout)
    assert any(row["value"] is not None for row in rows)
