"""The connector contract a vendor plugin implements.

A connector is a class with a pydantic configuration model, the streams it offers, ``check()``
and ``read(stream, state)``.  ``read`` yields :class:`Page` objects: a batch of records already
mapped to canonical field names, plus the state that covers them.  The sync runner validates
each page, stores it and commits its state in one transaction, so a sync killed at any moment
resumes from the last page it stored.  See ``docs/writing-a-plugin.md``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from crm_connect import secrets
from crm_connect.resilience.settings import ResilienceSettings
from crm_connect.schema import ENTITIES
from crm_connect.vendor import NEUTRAL_PROFILE, VendorProfile

__all__ = [
    "CheckResult",
    "ConnectionContext",
    "Connector",
    "ConnectorConfig",
    "IdSweep",
    "Page",
    "Rejected",
    "Stream",
    "table_records",
]


class ConnectorConfig(BaseModel):
    """Base of every connector's configuration model (the connection's table in the TOML file).

    Subclasses add their fields.  Unknown keys are an error.  Fields listed in
    ``secret_fields`` must not appear in the file: they are read from the keyring or the
    environment with :meth:`Connector.secret`.  ``resilience`` (the
    ``[connections.NAME.resilience]`` table) tunes retries, rate limits and the quota guard;
    see ``docs/resilience.md``.
    """

    model_config = ConfigDict(extra="forbid")

    secret_fields: ClassVar[tuple[str, ...]] = ()

    resilience: ResilienceSettings = Field(
        default_factory=ResilienceSettings,
        description="Retries, rate limits and the daily quota guard of this connection.")


ConfigT = TypeVar("ConfigT", bound=ConnectorConfig)


@dataclass(frozen=True)
class Stream:
    """A stream a connector offers: one vendor object feeding one canonical entity."""

    name: str
    entity: str
    cursor_field: str | None = "updated_at"
    description: str = ""

    def __post_init__(self) -> None:
        if self.entity not in ENTITIES:
            known = ", ".join(ENTITIES)
            raise ValueError(f"stream {self.name!r}: unknown entity {self.entity!r} ({known})")


@dataclass
class Rejected:
    """A record the connector could not map; it goes to the quarantine table, never lost."""

    reason: str
    raw: Any
    location: str | None = None


@dataclass
class IdSweep:
    """Part of the complete list of ids a vendor holds for a stream now: how hard deletes (which
    leave no tombstone) are found.

    A sweep spans one or more pages: the first part has ``first`` (ids staged by an earlier,
    unfinished sweep of the stream are dropped), the last has ``last``.  When the last part is
    stored, every stored row of the stream's entity for this source whose id starts with
    ``prefix`` and that no part listed is marked ``is_deleted`` (rows are never removed), in the
    same transaction.  ``prefix`` tells streams that share an entity apart (when a vendor's ids
    start with a per-object prefix and two objects land in ``activities``, say); ``""`` covers
    every row of the source.  The ids must include those of records already marked deleted that
    the vendor still returns, or those rows are simply marked again.  How often a stream sends
    a sweep: :func:`crm_connect.incremental.sweep_due`.
    """

    ids: list[str]
    first: bool = False
    last: bool = False
    prefix: str = ""


@dataclass
class Page:
    """One batch of records and the state that covers them.

    :param records: canonical dictionaries (``source`` is filled in by the runner).
    :param state: the stream's state once this page is stored; ``None`` keeps the last one.
    :param raw: optional vendor payloads, parallel to ``records``, kept when a record fails
        validation.
    :param locations: optional places (``file:line``, a URL), parallel to ``records`` (any
        sequence: a connector may compute them when asked, as the ``files`` connector does).
    :param rejected: records the connector could not map at all.
    :param id_sweep: part of a sweep of the ids the vendor holds (see :class:`IdSweep`);
        usually on pages without records, after the stream's records were read.
    :param total: how many records the vendor says this read returns in all (e.g. a query's
        ``totalSize``), when it says; the command line shows a progress bar with an ETA.
    :param table: the page's records as one Arrow table instead of ``records`` (which is then
        empty): text columns named by canonical fields, a null or ``""`` cell meaning the
        field is absent, rows parallel to ``locations``.  Such a page goes to bulk validation
        without a dictionary per record; pydantic sees only the rows a bulk check refuses, as
        the dictionaries :meth:`materialize` makes.  A connector that reads columnar data
        (the ``files`` connector's CSV reader) yields these; states work as for any page.
    """

    records: list[dict[str, Any]]
    state: dict[str, Any] | None = None
    raw: list[Any] | None = None
    locations: Sequence[str] | None = None
    rejected: list[Rejected] = field(default_factory=list)
    id_sweep: IdSweep | None = None
    total: int | None = None
    table: Any = None
    """A ``pyarrow.Table`` or ``None`` (typed loosely: the contract imports no Arrow)."""

    def materialize(self) -> None:
        """Turn a :attr:`table` page into an ordinary one: ``records`` as dictionaries (each
        with its non-blank cells, in column order) and no table."""
        if self.table is not None:
            self.records = table_records(self.table)
            self.table = None


def table_records(table: Any) -> list[dict[str, Any]]:
    """The rows of an Arrow table as the dictionaries a connector would have yielded: the
    null and ``""`` cells left out."""
    return [{key: value for key, value in row.items() if value is not None and value != ""}
            for row in table.to_pylist()]


@dataclass
class CheckResult:
    """What ``crm-connect connections test`` shows: a verdict, a message, the problems that make
    it fail and the warnings that do not (e.g. an optional field the vendor account lacks, which
    leaves some KPIs without data).
    """

    ok: bool
    message: str
    problems: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ConnectionContext:
    """What a connector knows of the connection it serves.

    :param tokens_file: where refreshed or rotated tokens are saved on a machine without a
        keyring (default: ``crm-connect.tokens.json`` in ``base_dir``); see
        :mod:`crm_connect.secrets`.
    """

    name: str
    base_dir: Path = field(default_factory=Path.cwd)
    tokens_file: Path | None = None

    @property
    def tokens_path(self) -> Path:
        return self.tokens_file or self.base_dir / secrets.DEFAULT_TOKENS_FILE

    def secret(self, field_name: str, *, required: bool = True) -> str | None:
        if required:
            return secrets.require_secret(self.name, field_name, self.tokens_path)
        return secrets.get_secret(self.name, field_name, self.tokens_path)

    def save_secret(self, field_name: str, value: str) -> None:
        """Save one refreshed or rotated secret (see :meth:`save_secrets`)."""
        self.save_secrets({field_name: value})

    def save_secrets(self, values: Mapping[str, str]) -> None:
        """Save a refreshed or rotated token set, all fields at once, before using it.

        It goes to the keyring, else to the tokens file beside the store, and wins next run over
        the environment or keyring values it replaces.

        :raises ConfigError: when it can be saved nowhere (the message says what to do).
        """
        secrets.save_rotated_secrets(self.name, values, self.tokens_path)


class Connector(abc.ABC, Generic[ConfigT]):
    """Base class of a vendor connector.

    Subclasses set ``name`` (what ``connector = "..."`` names) and ``config_model``, and
    implement :meth:`streams`, :meth:`check` and :meth:`read`.  A connector of an HTTP API
    declares its vendor's ``profile`` (:class:`~crm_connect.vendor.VendorProfile`: rate limits,
    error markers, usage headers), which
    :meth:`ResiliencePolicy.for_connector <crm_connect.resilience.ResiliencePolicy.for_connector>`
    reads; the default is the neutral profile (no limit, the core's HTTP rules only).
    """

    name: ClassVar[str]
    config_model: ClassVar[type[ConnectorConfig]] = ConnectorConfig
    description: ClassVar[str] = ""
    profile: ClassVar[VendorProfile] = NEUTRAL_PROFILE

    def __init__(self, context: ConnectionContext, config: ConfigT) -> None:
        self.context = context
        self.config = config
        self.table_pages = False
        """Whoever reads this connector takes :attr:`Page.table` pages (the sync runner sets
        it).  A connector that can read columnar data yields them only when it is true, and
        ordinary pages of dictionaries otherwise (tests, the connector kit)."""

    @property
    def connection(self) -> str:
        return self.context.name

    def secret(self, field_name: str, *, required: bool = True) -> str | None:
        """A secret of this connection, from the environment or the keyring."""
        return self.context.secret(field_name, required=required)

    @abc.abstractmethod
    def streams(self) -> Sequence[Stream]:
        """The streams this connection offers."""

    @abc.abstractmethod
    def check(self) -> CheckResult:
        """Verify credentials and configuration against the vendor without reading records."""

    @abc.abstractmethod
    def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
        """Yield pages of ``stream`` starting from ``state`` (``None``: from the beginning)."""

    def close(self) -> None:
        """Release clients and sessions.  Called once the sync of this connection ends."""
