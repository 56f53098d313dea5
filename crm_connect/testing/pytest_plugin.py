"""The pytest fixtures of ``crm_connect.testing`` (loaded by ``pytest_plugins =
["crm_connect.testing"]``; kept apart so that the command line never needs pytest)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import keyring
import pytest

from crm_connect.testing.memory_keyring import MemoryKeyring

__all__ = ["crm_plugin", "memory_keyring"]


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Replace the system keyring with an in-memory one for the duration of a test."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def crm_plugin() -> Iterator[Callable[[Any, str], None]]:
    """Register plugins for one test; they are unregistered afterwards, whatever happens."""
    from crm_connect.plugins import register_plugin, unregister_plugin

    names: list[str] = []

    def register(plugin: Any, name: str) -> None:
        register_plugin(plugin, name)
        names.append(name)

    try:
        yield register
    finally:
        for name in reversed(names):
            unregister_plugin(name)
