"""Stands in for pytest where it is not installed, so the loopback kit still imports.

The kit's servers run without pytest (a sandbox started by hand, ``python -m ...``); only the
fixtures of :mod:`crm_connect.testing` need it, and they are plain functions here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def fixture(function: Callable[..., Any]) -> Callable[..., Any]:
    """Leave the function as it is: without pytest nothing collects fixtures."""
    return function
