"""``crm-connect demo``: every installed plugin's sandbox and a folder of exports, in one store.

The pieces, in the order the command uses them:

- :func:`demo_sandboxes`: what the plugins contributed through ``register_demo_sandboxes``;
- :func:`running_sandboxes`: start them all (each on a free loopback port) and stop them all
  when the block ends, whatever ends it (an error, Ctrl-C);
- :func:`write_demo_folder`: the shipped spend and survey exports and a ``crm-connect.toml``
  naming every sandbox's connection and a ``files`` connection for the exports;
- :func:`sandbox_secrets`: the sandboxes' throwaway secrets in this process's environment
  (``CRM_CONNECT_<CONNECTION>_<FIELD>``) for the block, never in a file.

The folder is rewritten on each run (the sandboxes' ports change) and the store is kept: a
second run re-syncs into it, and upserts by ``(source, id)`` leave the same records.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from crm_connect.config import CONFIG_FILENAME
from crm_connect.errors import CrmConnectError, PluginError
from crm_connect.plugins import get_demo_sandboxes
from crm_connect.sandboxes import DemoConnection, DemoSandbox
from crm_connect.secret_names import env_var_name

__all__ = [
    "DEFAULT_DIR",
    "EXPORTS",
    "FILES_CONNECTION",
    "STORE_FILE",
    "DemoFolder",
    "RunningSandbox",
    "demo_sandboxes",
    "running_sandboxes",
    "sandbox_secrets",
    "validation_in_process",
    "write_demo_folder",
]

DEFAULT_DIR = "crm-connect-demo"
FILES_CONNECTION = "exports_demo"
EXPORTS = "exports"
STORE_FILE = "crm.duckdb"
REPORTING_CURRENCY = "USD"
_SHIPPED_EXPORTS = ("spend.csv", "survey_responses.csv")


@dataclass(frozen=True)
class RunningSandbox:
    """A started sandbox: what its plugin registered and what it yielded."""

    sandbox: DemoSandbox
    plugin: str
    connection: DemoConnection


@dataclass(frozen=True)
class DemoFolder:
    """Where the demo put things."""

    directory: Path
    config: Path
    store: Path
    exports: Path


def demo_sandboxes() -> list[tuple[DemoSandbox, str]]:
    """Each contributed sandbox with the plugin that contributed it."""
    return list(get_demo_sandboxes().values())


@contextlib.contextmanager
def running_sandboxes(sandboxes: Sequence[tuple[DemoSandbox, str]],
                      started: Any = None) -> Iterator[list[RunningSandbox]]:
    """Start every sandbox; stop every one started when the block ends, however it ends.

    :param started: called with each :class:`RunningSandbox` as soon as it runs (progress).
    """
    with contextlib.ExitStack() as stack:
        running = []
        for sandbox, plugin in sandboxes:
            try:
                connection = stack.enter_context(sandbox.start())
            except (CrmConnectError, KeyboardInterrupt):
                raise
            except Exception as exc:
                raise PluginError(
                    f'Plugin "{plugin}" could not start its demo sandbox '
                    f"{sandbox.connection!r}: {type(exc).__name__}: {exc}") from exc
            entry = RunningSandbox(sandbox, plugin, connection)
            running.append(entry)
            if started is not None:
                started(entry)
        yield running


def data_ends(running: Sequence[RunningSandbox]) -> dt.datetime:
    """The moment the demo's figures are true for: when the latest sandbox's data ends."""
    ends = [entry.connection.data_ends.astimezone(dt.UTC) for entry in running]
    return max(ends) if ends else dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


@contextlib.contextmanager
def sandbox_secrets(running: Sequence[RunningSandbox]) -> Iterator[None]:
    """The sandboxes' throwaway secrets as ``CRM_CONNECT_<CONNECTION>_<FIELD>`` in this
    process's environment for the block; whatever was there before comes back after."""
    saved: dict[str, str | None] = {}
    try:
        for entry in running:
            for field, value in entry.connection.secrets.items():
                name = env_var_name(entry.sandbox.connection, field)
                saved.setdefault(name, os.environ.get(name))
                os.environ[name] = value
        yield
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


@contextlib.contextmanager
def validation_in_process() -> Iterator[None]:
    """Validate pages in this process for the block (``CRM_CONNECT_WORKERS=0``) unless the
    user set ``CRM_CONNECT_WORKERS``: the demo's few thousand records validate faster than
    worker processes start (measured in BENCHMARKS.md)."""
    if "CRM_CONNECT_WORKERS" in os.environ:
        yield
        return
    os.environ["CRM_CONNECT_WORKERS"] = "0"
    try:
        yield
    finally:
        os.environ.pop("CRM_CONNECT_WORKERS", None)


def _config_document(running: Sequence[RunningSandbox]) -> dict[str, Any]:
    rates: dict[str, float] = {}
    for entry in running:
        rates.update(entry.connection.rates)
    connections: dict[str, Any] = {
        entry.sandbox.connection: {"connector": entry.sandbox.connector,
                                   **dict(entry.connection.settings)}
        for entry in running}
    connections[FILES_CONNECTION] = {"connector": "files", "path": f"{EXPORTS}/"}
    reporting: dict[str, Any] = {"currency": REPORTING_CURRENCY}
    if rates:
        reporting["rates"] = dict(sorted(rates.items()))
    return {"store": {"url": f"duckdb:///{STORE_FILE}"}, "reporting": reporting,
            "connections": connections}


def _config_header(running: Sequence[RunningSandbox]) -> str:
    lines = ["# Written by `crm-connect demo` (and rewritten by each run of it).",
             "# The sandbox connections point at loopback servers that only run while the",
             "# demo does; their throwaway secrets were given through the environment.",
             "# To use this file with your real CRMs, see what the demo printed at its end."]
    for entry in running:
        if entry.sandbox.description:
            lines.append(f"# {entry.sandbox.connection}: {entry.sandbox.description}")
    lines.append(f"# {FILES_CONNECTION}: the spend and survey exports in {EXPORTS}/")
    return "\n".join(lines) + "\n\n"


def write_demo_folder(directory: Path, running: Sequence[RunningSandbox]) -> DemoFolder:
    """Write the exports and the configuration into ``directory`` (created when missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    exports = directory / EXPORTS
    exports.mkdir(exist_ok=True)
    shipped = resources.files("crm_connect") / "demo_data"
    for name in _SHIPPED_EXPORTS:
        with resources.as_file(shipped / name) as source:
            shutil.copyfile(source, exports / name)
    config = directory / CONFIG_FILENAME
    text = _config_header(running) + tomli_w.dumps(_config_document(running))
    config.write_text(text, encoding="utf-8")
    return DemoFolder(directory, config, directory / STORE_FILE, exports)


def secret_fields(running: Sequence[RunningSandbox]) -> Mapping[str, list[str]]:
    """Connection name to the secret fields a real account sets with ``crm-connect auth set``."""
    return {entry.sandbox.connection: list(entry.connection.secrets) for entry in running}


def stored_records(config: Any) -> dict[str, int]:
    """Connection name to how many records the store holds from it (deleted ones included:
    a sync marks them, never removes them)."""
    from crm_connect.config import open_store
    from crm_connect.schema import ENTITIES

    counts: dict[str, int] = {}
    with open_store(config.store.url, base_dir=config.base_dir, read_only=True) as store:
        for entity in ENTITIES:
            if not store.has_table(entity):
                continue
            for source, count in store.execute(
                    f"SELECT source, count(*) FROM {entity} GROUP BY source"):
                counts[str(source)] = counts.get(str(source), 0) + int(count)
    return counts
