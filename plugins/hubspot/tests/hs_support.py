"""Helpers shared by the HubSpot plugin's tests (imported by name: the tests folder is on
``sys.path`` under pytest's default import mode)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[2]
# The project's shared folder sits beside the checkout (in CI too); override with
# $CRM_CONNECT_REFERENCE_PAYLOADS.
REFERENCE = Path(os.environ.get("CRM_CONNECT_REFERENCE_PAYLOADS",
                                REPO.parent / "shared" / "reference-payloads")) / "hubspot"


def reference(name: str) -> Any:
    """A real HubSpot payload from the shared reference folder (skips when absent)."""
    path = REFERENCE / name
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"reference payload {path} is missing: CI must have shared/ beside "
                        "the checkout")
        pytest.skip(f"reference payload {name} not available on this machine")
    return json.loads(path.read_text(encoding="utf-8"))
