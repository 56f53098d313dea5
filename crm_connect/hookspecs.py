"""The hooks a crm-connect plugin may implement.

A plugin is a module (or any object) whose functions are marked with
:data:`crm_connect.hookimpl` and named like the specs below.  Plugins are found through the
``crm_connect`` entry-point group; the built-in ``files`` connector, the DuckDB store and the
KPI catalogue arrive the same way.

Implementations may accept any subset of a spec's arguments, so adding an argument to a spec is
safe.  Never give an implementation's parameters default values: pluggy does not pass them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from crm_connect.connector import Connector
    from crm_connect.events import StreamResult, SyncRun
    from crm_connect.sandboxes import DemoSandbox
    from crm_connect.store_contract import Store

hookspec = pluggy.HookspecMarker("crm_connect")
hookimpl = pluggy.HookimplMarker("crm_connect")


@hookspec
def register_connectors(register: Callable[[type[Connector[Any]]], None]) -> None:
    """Contribute connector classes.

    :param register: call it once per :class:`~crm_connect.connector.Connector` subclass.  The
        class's ``name`` is what a connection's ``connector = "..."`` refers to; registering a
        name another plugin already registered is an error that names both plugins.

    .. versionadded:: 0.1
    """


@hookspec
def register_kpis(register: Callable[[Any], None]) -> None:
    """Contribute KPI definitions.

    :param register: call it once per KPI definition (a
        :class:`crm_connect.metrics.KpiDefinition`).  The built-in catalogue of ``KPIS.md``
        arrives through this hook too; a key registered twice is an error naming both plugins.

    .. versionadded:: 0.1
    """


@hookspec
def register_relations(register: Callable[[Any], None]) -> None:
    """Contribute prepared relations that KPI measures may read (``Measure(relation=...)``).

    :param register: call it once per relation (a
        :class:`crm_connect.metrics.Relation`: a canonical table with deleted records
        removed, its columns, the joins they need and the dimensions it carries).  The
        built-in relations (``deals``, ``accounts``, ...) arrive through this hook too; a
        name registered twice is an error naming both plugins.

    .. versionadded:: 0.2
    """


@hookspec
def register_dimensions(register: Callable[[Any], None]) -> None:
    """Contribute dimensions KPIs may be broken down by (``crm-connect kpis --by NAME``).

    :param register: call it once per dimension (a :class:`crm_connect.metrics.Dimension`,
        or a mapping with its ``name`` and ``description``).  A relation says which of its
        columns holds the dimension; a KPI lists the dimensions it offers.  The built-in
        ones (``source``, ``owner``, ...) arrive through this hook too.

    .. versionadded:: 0.2
    """


@hookspec
def register_stores(register: Callable[[str, type[Store]], None]) -> None:
    """Contribute store backends.

    :param register: call it as ``register(scheme, store_class)``; ``[store] url`` values that
        start with ``scheme://`` are opened with ``store_class.open(url, base_dir=...)``.

    ``store_class`` implements :class:`~crm_connect.store_contract.Store`, the only way the
    core reaches a database: its SQL dialect, queries into Arrow, tables appended from Arrow,
    a page upserted with its state in one transaction, and the writer lock.  The built-in
    stores are ``duckdb`` and ``postgresql`` (also ``postgres``).

    .. versionadded:: 0.1
    """


@hookspec
def register_demo_sandboxes(register: Callable[[DemoSandbox], None]) -> None:
    """Contribute a loopback sandbox to ``crm-connect demo``.

    :param register: call it once per :class:`~crm_connect.sandboxes.DemoSandbox`: the
        connection name and connector the demo configures, and ``start``, a context manager
        that starts the sandbox on a free loopback port, yields the connection's settings,
        its throwaway secrets (given to the connector through the environment, never
        written to a file) and the date its data ends at, and stops the sandbox on leaving.
        A connection name registered twice is an error naming both plugins.

    .. versionadded:: 0.3
    """


@hookspec
def transform_records(
    connection: str, stream: str, entity: str, records: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """Change a page of records before it is validated and stored.

    Called once per page, in plugin registration order, with the canonical field names already
    filled in by the connector (vendor fields sit in ``extra``).  Typical use: move a custom
    field from ``extra`` into its canonical home.

    :param connection: the connection name (the records' ``source``).
    :param stream: the stream being read.
    :param entity: the canonical entity of the stream (``deals``, ``tickets``, ...).
    :param records: the page, as dictionaries; change them in place and return ``None``, or
        return a new list to use instead.

    .. versionadded:: 0.1
    """


@hookspec
def sync_started(run: SyncRun) -> None:
    """A sync run began.  ``run`` says which connections it covers and its id.

    .. versionadded:: 0.1
    """


@hookspec
def stream_finished(run: SyncRun, result: StreamResult) -> None:
    """One stream of one connection finished, well or not (``result.status``, ``result.error``).

    .. versionadded:: 0.1
    """


@hookspec
def sync_finished(run: SyncRun, results: list[StreamResult]) -> None:
    """A sync run ended; ``run.status`` is ``succeeded``, ``failed`` or ``stopped``.

    Use it to notify on failure.  An exception raised here is logged, never hides the sync's
    own outcome.

    .. versionadded:: 0.1
    """
