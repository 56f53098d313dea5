"""Helpers shared by the Salesforce plugin's tests (imported by name: the tests folder is on
``sys.path`` under pytest's default import mode)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REFERENCE = Path("/work/shared/reference-payloads/salesforce")
HERE = Path(__file__).parent
REPO = HERE.parents[2]
CASSETTES = REPO / "cassettes" / "salesforce"


def reference(name: str) -> Any:
    """A real Salesforce payload from the shared reference folder (skips when absent)."""
    path = REFERENCE / name
    if not path.is_file():
        pytest.skip(f"reference payload {name} not available on this machine")
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    return path.read_text(encoding="utf-8")
