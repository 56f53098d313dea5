"""What the conformance checks run against: a configured connection, its secrets and its reads.

A :class:`ConformanceSession` loads the configuration through :mod:`crm_connect.config`, builds
the connection's real connector from the plugin registry, and reads each stream with
``Connector.read()`` the way the sync runner does (records validated against the canonical
schema page by page), caching each read so the checks share them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import keyring

from crm_connect.config import Config, load_config
from crm_connect.connector import ConnectionContext, Connector, Stream
from crm_connect.errors import ConfigError, CrmConnectError
from crm_connect.pages import validate_page
from crm_connect.schema import CanonicalRecord
from crm_connect.secret_names import env_var_name, keyring_key
from crm_connect.secrets import KEYRING_SERVICE, get_secret
from crm_connect.testing.conformance.outcomes import CheckOutcome
from crm_connect.testing.memory_keyring import MemoryKeyring

__all__ = ["ConformanceSession", "ConformanceTarget", "StreamRead", "state_cursor"]


@dataclass(frozen=True)
class ConformanceTarget:
    """The connection the conformance suite checks.

    :param config_file: the ``crm-connect.toml`` that configures it (``None``: the usual
        search, ``$CRM_CONNECT_CONFIG`` then ``./crm-connect.toml``).
    :param connection: the connection's name in that file.
    :param secrets: the connection's secrets (field to value), kept in an in-memory keyring
        for the session; ``None`` uses the environment and the system keyring as a sync would.
    :param cassettes: a folder of recorded HTTP exchanges to scan for secrets.
    :param streams: the streams to check (default: every stream the connector offers).
    :param deleted_ids: per stream, ids the vendor holds as deleted: each must be read with
        ``is_deleted`` true.
    :param cursor_overlap: how far before the state's cursor an incremental read may start
        again (default: the connection's ``overlap_seconds`` option when it has one, else 0).
    :param plugins: plugins to register for the session (name to module), e.g. in tests that
        do not load installed plugins.
    :param max_resume_points: at most this many committed states are resumed from, spread over
        the read (each resume reads the rest of the stream again).
    """

    config_file: Path | None
    connection: str
    secrets: Mapping[str, str] | None = None
    cassettes: Path | None = None
    streams: Sequence[str] = ()
    deleted_ids: Mapping[str, Collection[str]] = field(default_factory=dict)
    cursor_overlap: dt.timedelta | None = None
    plugins: Mapping[str, object] = field(default_factory=dict)
    max_resume_points: int = 25


@dataclass
class StreamRead:
    """One read of a stream: its records page by page, the state after each page, and how it
    ended (``error`` set when ``read()`` raised)."""

    stream: Stream
    pages: list[list[CanonicalRecord]] = field(default_factory=list)
    committed: list[dict[str, Any] | None] = field(default_factory=list)
    """The stream's state once each page is stored (a page without a state keeps the last)."""
    schema_failures: list[tuple[str | None, str]] = field(default_factory=list)
    """(record id, reason) of records the canonical schema refused."""
    rejected: int = 0
    id_sweeps: int = 0
    error: str | None = None

    @property
    def records(self) -> list[CanonicalRecord]:
        return [record for page in self.pages for record in page]

    @property
    def final_state(self) -> dict[str, Any] | None:
        return self.committed[-1] if self.committed else None

    def by_id(self) -> dict[str, CanonicalRecord]:
        return {record.id: record for record in self.records}


def _as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str) and value:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def state_cursor(state: Mapping[str, Any] | None) -> dt.datetime | None:
    """The cursor a state records (its ``"cursor"`` entry), as an aware datetime."""
    return _as_datetime(state.get("cursor")) if state else None


def record_cursor(record: CanonicalRecord, stream: Stream) -> dt.datetime | None:
    """The record's value of the stream's cursor field."""
    if stream.cursor_field is None:
        return None
    return _as_datetime(getattr(record, stream.cursor_field, None))


class ConformanceSession:
    """The connection under test, its reads (cached), and the secrets it runs with.

    Use it as a context manager: secrets and plugins the target brings are installed on
    entry and removed on exit, and the connector is closed.

    :attr:`outcomes` keeps the outcome of each check run in the session (by check name); the
    pytest suite reports a kept outcome instead of running the check again, so a session
    replayed from a cassette can run every check inside it, in the recorded order, before
    its test items report.
    """

    def __init__(self, target: ConformanceTarget) -> None:
        self.target = target
        self._config: Config | None = None
        self._connector: Connector[Any] | None = None
        self._streams: list[Stream] | None = None
        self._reads: dict[tuple[str, str], StreamRead] = {}
        self.outcomes: dict[str, CheckOutcome] = {}
        self._exit = contextlib.ExitStack()

    # -- set-up ---------------------------------------------------------------------------

    def __enter__(self) -> ConformanceSession:
        try:
            self._register_plugins()
            if self.target.secrets is not None:
                self._exit.enter_context(self.secrets_installed(dict(self.target.secrets)))
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if self._connector is not None:
                self._connector.close()
        finally:
            self._exit.close()

    def _register_plugins(self) -> None:
        from crm_connect.plugins import get_plugin_manager, register_plugin, unregister_plugin

        manager = get_plugin_manager()
        for name, module in self.target.plugins.items():
            if manager.get_plugin(name) is None:
                register_plugin(module, name)
                self._exit.callback(unregister_plugin, name)

    @contextlib.contextmanager
    def secrets_installed(self, values: Mapping[str, str]) -> Iterator[None]:
        """Only ``values`` are the connection's secrets inside: an in-memory keyring holds
        them, and the environment variables of its secret fields are unset."""
        names = {env_var_name(self.connection, name)
                 for name in (*self.secret_fields, *values)}
        saved = {name: os.environ.pop(name) for name in names if name in os.environ}
        previous = keyring.get_keyring()
        backend = MemoryKeyring()
        for name, value in values.items():
            backend.set_password(KEYRING_SERVICE, keyring_key(self.connection, name), value)
        keyring.set_keyring(backend)
        try:
            yield
        finally:
            keyring.set_keyring(previous)
            os.environ.update(saved)

    # -- what is under test ---------------------------------------------------------------

    @property
    def connection(self) -> str:
        return self.target.connection

    @property
    def config(self) -> Config:
        """The configuration (a :class:`ConfigError` when it cannot be read)."""
        if self._config is None:
            config = load_config(self.target.config_file)
            config.connection(self.connection)  # an unknown connection is an error now
            self._config = config
        return self._config

    @property
    def secret_fields(self) -> tuple[str, ...]:
        settings = self.config.connection(self.connection)
        return tuple(type(settings.options).secret_fields)

    @property
    def connector(self) -> Connector[Any]:
        """The connector every read of the session goes through."""
        if self._connector is None:
            self._connector = self.config.build_connector(self.connection)
        return self._connector

    def new_connector(self, *, tokens_file: Path | None = None) -> Connector[Any]:
        """A connector of its own (its own clients and resilience policy)."""
        if tokens_file is None:
            return self.config.build_connector(self.connection)
        settings = self.config.connection(self.connection)
        from crm_connect.plugins import get_connectors

        context = ConnectionContext(self.connection, self.config.base_dir, tokens_file)
        return get_connectors()[settings.connector](context, settings.options)  # type: ignore[no-any-return]

    def present_secrets(self) -> dict[str, str]:
        """The secret fields that have a value now, with it."""
        tokens = self.config.tokens_file
        values = {name: get_secret(self.connection, name, tokens) for name in self.secret_fields}
        return {name: value for name, value in values.items() if value}

    @contextlib.contextmanager
    def secret_missing(self, missing: str) -> Iterator[Path]:
        """Every present secret but ``missing``; yields a tokens file that holds nothing."""
        values = {name: value for name, value in self.present_secrets().items()
                  if name != missing}
        with tempfile.TemporaryDirectory(prefix="crm-conformance-") as folder, \
                self.secrets_installed(values):
            yield Path(folder) / "no-tokens.json"

    def streams(self) -> list[Stream]:
        """The streams under test; a stream the target names that the connector does not
        offer is a :class:`ConfigError`."""
        if self._streams is None:
            offered = list(self.connector.streams())
            wanted = list(self.target.streams)
            names = [stream.name for stream in offered]
            unknown = [name for name in wanted if name not in names]
            if unknown:
                raise ConfigError(
                    f"connection {self.connection!r} has no stream "
                    f"{', '.join(repr(name) for name in unknown)} (it offers: "
                    f"{', '.join(names) or 'none'})")
            self._streams = [stream for stream in offered if not wanted or stream.name in wanted]
        return self._streams

    def cursor_overlap(self) -> dt.timedelta:
        if self.target.cursor_overlap is not None:
            return self.target.cursor_overlap
        options = self.config.connection(self.connection).options
        seconds = getattr(options, "overlap_seconds", 0)
        return dt.timedelta(seconds=seconds if isinstance(seconds, (int, float)) else 0)

    # -- reads ----------------------------------------------------------------------------

    def full_read(self, stream: Stream) -> StreamRead:
        """The stream read from the beginning (state ``None``), once per session."""
        return self._cached("full", stream, None)

    def incremental_read(self, stream: Stream) -> StreamRead:
        """The stream read again from the state the full read committed last."""
        return self._cached("incremental", stream, self.full_read(stream).final_state)

    def refresh_read(self, stream: Stream) -> StreamRead:
        """A second read from the beginning, after the incremental one."""
        self.incremental_read(stream)
        return self._cached("refresh", stream, None)

    def _cached(self, kind: str, stream: Stream, state: dict[str, Any] | None) -> StreamRead:
        key = (kind, stream.name)
        if key not in self._reads:
            self._reads[key] = read_stream(self.connector, stream, state)
        return self._reads[key]

    def read(self, stream: Stream, state: dict[str, Any] | None,
             connector: Connector[Any] | None = None) -> StreamRead:
        """One more read of ``stream`` from ``state`` (not cached)."""
        return read_stream(connector or self.connector, stream, state)


def read_stream(connector: Connector[Any], stream: Stream,
                state: dict[str, Any] | None) -> StreamRead:
    """Read ``stream`` from ``state`` to its end, validating each page like the sync runner."""
    result = StreamRead(stream)
    committed = dict(state) if state is not None else None
    try:
        for page in connector.read(stream, dict(state) if state is not None else None):
            page.materialize()
            for record in page.records:
                if isinstance(record, dict):
                    record["source"] = connector.connection
            valid, quarantined = validate_page(stream.entity, connector.connection,
                                               stream.name, page)
            result.rejected += len(page.rejected)
            result.schema_failures += [(item.record_id, item.reason)
                                       for item in quarantined[len(page.rejected):]]
            if page.id_sweep is not None:
                result.id_sweeps += 1
            if page.state is not None:
                committed = dict(page.state)
            result.pages.append(valid)
            result.committed.append(committed)
    except CrmConnectError as exc:
        result.error = str(exc)
    except Exception as exc:  # a bug in the connector: named, never a traceback
        result.error = f"read() raised {type(exc).__name__}: {exc}"
    return result
