"""Helpers shared by the Salesforce plugin's tests (imported by name: the tests folder is on
``sys.path`` under pytest's default import mode)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[2]
# The project's shared folder sits beside the checkout (in CI too); override with
# $CRM_CONNECT_REFERENCE_PAYLOADS.
REFERENCE = Path(os.environ.get("CRM_CONNECT_REFERENCE_PAYLOADS",
                                REPO.parent / "shared" / "reference-payloads")) / "salesforce"
CASSETTES = REPO / "cassettes" / "salesforce"


def reference(name: str) -> Any:
    """A real Salesforce payload from the shared reference folder (skips when absent)."""
    path = REFERENCE / name
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"reference payload {path} is missing: CI must have shared/ beside "
                        "the checkout")
        pytest.skip(f"reference payload {name} not available on this machine")
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    return path.read_text(encoding="utf-8")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    return json.dumps(str(value))


FAST_RESILIENCE = {"backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.05,
                   "max_total_seconds": 20.0}


def sandbox_options(sandbox: Any, **options: Any) -> dict[str, Any]:
    """Connection options that point a connection at a running sandbox."""
    base: dict[str, Any] = {
        "username": sandbox.credentials.username,
        "login_url": sandbox.instance_url,
        "ca_bundle": str(sandbox.cert_path),
        "bulk_poll_seconds": 0.05,
        "resilience": dict(FAST_RESILIENCE),
    }
    base.update(options)
    return base


def sandbox_env(sandbox: Any, connection: str = "sf") -> dict[str, str]:
    """Secrets as ``CRM_CONNECT_<CONN>_<FIELD>`` and the plugin allow-list for a subprocess."""
    prefix = f"CRM_CONNECT_{connection.upper()}_"
    credentials = sandbox.credentials
    return {
        f"{prefix}PASSWORD": credentials.password,
        f"{prefix}SECURITY_TOKEN": credentials.security_token,
        f"{prefix}CONSUMER_SECRET": credentials.client_secret,
        "CRM_CONNECT_LOAD_PLUGINS": "salesforce",
    }


def write_project(folder: Path, connections: dict[str, dict[str, Any]]) -> Path:
    """A crm-connect.toml with a DuckDB store in ``folder`` and the given connections."""
    lines = ['[store]', 'url = "duckdb:///crm.duckdb"', ""]
    for name, options in connections.items():
        options = dict(options)
        lines.append(f"[connections.{name}]")
        lines.append('connector = "salesforce"')
        tables = {key: options.pop(key) for key in list(options)
                  if key in ("resilience", "mapping")}
        for key, value in options.items():
            lines.append(f"{key} = {toml_value(value)}")
        for key, value in tables.items():
            lines.append("")
            lines.append(f"[connections.{name}.{key}]")
            for sub, item in value.items():
                lines.append(f"{sub} = {toml_value(item)}")
        lines.append("")
    path = folder / "crm-connect.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


CLI = str(Path(sys.executable).parent / "crm-connect")


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed ``crm-connect`` command as a user would."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([CLI, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
