"""The Salesforce connector: streams of Salesforce objects mapped to the canonical entities.

Reading a stream:

1. *Plan* from the object's describe: the cursor (``SystemModstamp``, else
   ``LastModifiedDate``, else ``CreatedDate``), whether deleted rows can be read (``IsDeleted``:
   then ``queryAll``), the mapped fields the org has, and every other field for ``extra``.
2. *Choose the API*: ``SELECT COUNT()`` of what is left to read; at or above
   ``bulk_threshold`` a Bulk API 2.0 job (CSV pages by locator), otherwise REST pages through
   ``nextRecordsUrl``.
3. *Read in windows* of the cursor, ordered by (cursor, Id).  Each page is a
   :class:`~crm_connect.connector.Page` whose state lets a killed sync resume right after the
   last record it stored.  ``QUERY_TIMEOUT`` splits the window in two (after
   ``query_timeout_retries`` retries); a window that cannot be split further fails the stream.

State: ``{"cursor_field", "cursor", "last_id", "complete"}`` plus ``"bulk"`` while a Bulk job
is being read.  ``complete`` false means "resume strictly after (cursor, last_id)"; true means
the stream was read to its end and the next run starts at ``cursor`` inclusive (minus
``overlap_seconds``): rows read twice are upserted again, which changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from simple_salesforce.exceptions import SalesforceError

from crm_connect.connector import (
    CheckResult,
    ConnectionContext,
    Connector,
    IdSweep,
    Page,
    Stream,
)
from crm_connect.errors import ConfigError, ConnectorError, CrmConnectError
from crm_connect_salesforce.bulk import BulkJobFailed, job_fingerprint
from crm_connect_salesforce.client import (
    QueryTally,
    SalesforceApiError,
    SalesforceClient,
    error_code,
)
from crm_connect_salesforce.config import SalesforceConfig
from crm_connect_salesforce.mapping import (
    DEFAULT_DEAL_TYPES,
    DEFAULT_LEAD_ORIGINS,
    MappingContext,
    canonical_records,
    flatten,
    iso,
    normalise,
    parse_sf_datetime,
    parse_source,
)
from crm_connect_salesforce.objects import KPI_INPUTS, OBJECT_SPECS, STREAM_KPIS, ObjectSpec
from crm_connect_salesforce.profile import SALESFORCE_PROFILE
from crm_connect_salesforce.soql import (
    Window,
    count_query,
    id_in_query,
    select_query,
    soql_string,
    split_fields,
    url_length,
)

__all__ = ["SalesforceConnector"]

log = logging.getLogger("crm_connect_salesforce")

CURSOR_FIELDS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")
UNREADABLE_TYPES = frozenset({"address", "location", "base64", "complexvalue"})
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class MissingField:
    """A mapped Salesforce field the org does not have.

    ``explicit``: the connection's ``mapping`` table names it (an error); otherwise it is one of
    the connector's default custom fields (a warning: the canonical field stays null).
    """

    canonical: str
    source: str
    explicit: bool

    @property
    def fields(self) -> str:
        """The Salesforce field names of ``source`` (``A__c|B*60`` -> ``A__c or B``)."""
        return " or ".join(name for name, _ in parse_source(self.source))


@dataclass
class ReadPlan:
    """How one stream is read, worked out from its object's describe."""

    spec: ObjectSpec
    sobject: str
    cursor: str
    include_deleted: bool
    fields: list[str]
    types: dict[str, str]
    context: MappingContext
    missing: list[MissingField] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    key_prefix: str = ""
    """The object's id prefix (``00T``): which stored rows an id sweep of this stream judges."""
    sweep_pages: bool = False
    """The read covers every record of the object: its pages double as an id sweep."""
    sweep_started: bool = False
    total: int | None = None
    """How many records the read returns, from the ``COUNT()`` query's ``totalSize``."""
    short_read: str | None = None
    """Set when a query ended before the records its ``totalSize`` announced: its ids are no
    proof that the missing rows were deleted."""


class _QueryTimeout(Exception):
    pass


@dataclass
class _Progress:
    """The last (cursor, Id) stored, in read order."""

    cursor: dt.datetime | None = None
    last_id: str | None = None

    def advance(self, cursor: dt.datetime | None, record_id: str | None) -> None:
        if cursor is None or record_id is None:
            return
        if self.cursor is None or (cursor, record_id) > (self.cursor, self.last_id or ""):
            self.cursor, self.last_id = cursor, record_id


class SalesforceConnector(Connector[SalesforceConfig]):
    """Salesforce through simple-salesforce: REST queries, Bulk API 2.0 for large pulls."""

    name = "salesforce"
    config_model = SalesforceConfig
    description = "Salesforce (REST queryAll + Bulk API 2.0, through simple-salesforce)"
    profile = SALESFORCE_PROFILE

    def __init__(self, context: ConnectionContext, config: SalesforceConfig) -> None:
        super().__init__(context, config)
        self._client: SalesforceClient | None = None
        self._currency: str | None = config.currency
        self._currency_known = config.currency is not None

    @property
    def client(self) -> SalesforceClient:
        if self._client is None:
            self._client = SalesforceClient(self, self.config, self.context)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- streams ----------------------------------------------------------------------------

    def _specs(self) -> list[ObjectSpec]:
        specs = [spec for spec in OBJECT_SPECS
                 if spec.stream != "survey_responses" or self.config.survey_object]
        if self.config.streams is None:
            return specs
        by_name = {spec.stream: spec for spec in specs}
        unknown = [name for name in self.config.streams if name not in by_name]
        if unknown:
            raise ConfigError(
                f"connection {self.connection!r}: unknown streams {', '.join(unknown)} in "
                f"`streams` (known: {', '.join(by_name)})")
        return [by_name[name] for name in self.config.streams]

    def streams(self) -> Sequence[Stream]:
        return [Stream(spec.stream, spec.entity, "updated_at",
                       f"{self._sobject(spec)}: {spec.description}")
                for spec in self._specs()]

    def _sobject(self, spec: ObjectSpec) -> str:
        return self.config.survey_object if spec.stream == "survey_responses" else spec.sobject

    def _fieldmap(self, spec: ObjectSpec) -> dict[str, str]:
        mapping = spec.default_mapping()
        mapping.update(self.config.mapping.get(spec.stream, {}))
        return {key: value.strip() for key, value in mapping.items() if value.strip()}

    # -- planning ---------------------------------------------------------------------------

    def _org_currency(self) -> str | None:
        if not self._currency_known:
            self._currency = self.client.org_currency()
            self._currency_known = True
        return self._currency

    def plan(self, spec: ObjectSpec, describe: dict[str, Any]) -> ReadPlan:
        """What to read of ``spec``'s object, given its describe."""
        sobject = self._sobject(spec)
        described = {str(item["name"]): item for item in describe.get("fields", [])}
        types = {name: str(item.get("type")) for name, item in described.items()}
        relationships = {str(item.get("relationshipName")) for item in described.values()
                         if item.get("relationshipName")}
        cursor = next((name for name in CURSOR_FIELDS if name in described), None)
        if cursor is None:
            raise ConnectorError(
                f"{sobject} has none of {', '.join(CURSOR_FIELDS)}: it cannot be read "
                "incrementally; remove the stream from `streams`", connection=self.connection)
        keep = ["Id", cursor]
        fields: list[str] = list(keep)

        def add(name: str) -> None:
            if name not in fields:
                fields.append(name)

        for name in ("IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp",
                     "CurrencyIsoCode"):
            if name in described:
                add(name)
        fieldmap: dict[str, str] = {}
        missing: list[MissingField] = []
        explicit = self.config.mapping.get(spec.stream, {})
        for canonical, source in self._fieldmap(spec).items():
            if source.startswith("="):
                fieldmap[canonical] = source
                continue
            present = [(name, factor) for name, factor in parse_source(source)
                       if name in described]
            if not present:
                missing.append(MissingField(canonical, source, canonical in explicit))
                continue
            fieldmap[canonical] = "|".join(
                name if factor is None else f"{name}*{factor:g}" for name, factor in present)
            for name, _ in present:
                add(name)
        for canonical, path in spec.relations.items():
            if canonical in fieldmap:
                continue
            if path.split(".", 1)[0] in relationships:
                fieldmap[canonical] = path
                add(path)
        for name in spec.inputs:
            if name in described:
                add(name)
        if self.config.extra_fields == "all":
            for name, sf_type in types.items():
                if sf_type not in UNREADABLE_TYPES:
                    add(name)
        needs_currency = spec.entity in ("deals", "campaigns", "spend", "contracts") and \
            "CurrencyIsoCode" not in described
        context = MappingContext(
            spec, fieldmap,
            currency=self._org_currency() if needs_currency else None,
            deal_types={**DEFAULT_DEAL_TYPES, **self.config.deal_types},
            lead_origins={**DEFAULT_LEAD_ORIGINS, **self.config.lead_origins},
            spend_category=self.config.spend_category.value,
            keep_extra=self.config.extra_fields == "all",
        )
        return ReadPlan(spec, sobject, cursor, "IsDeleted" in described, fields, types,
                        context, missing, keep + (["IsDeleted"] if "IsDeleted" in described
                                                  else []),
                        str(describe.get("keyPrefix") or ""))

    def _plan_stream(self, stream: Stream) -> ReadPlan | None:
        spec = next((s for s in self._specs() if s.stream == stream.name), None)
        if spec is None:
            raise ConfigError(f"connection {self.connection!r} has no stream {stream.name!r}")
        describe = self.client.describe(self._sobject(spec))
        if describe is None:
            if self._object_explicit(spec):
                raise ConfigError(self._missing_object(spec))
            log.info("%s/%s: %s; nothing to read", self.connection, stream.name,
                     self._missing_object(spec))
            return None
        plan = self.plan(spec, describe)
        errors = [self._missing_field(plan, item) for item in plan.missing if item.explicit]
        if errors:
            raise ConfigError(" ".join(errors))
        for item in plan.missing:
            log.info("%s/%s: %s", self.connection, stream.name, self._missing_field(plan, item))
        return plan

    # -- check ------------------------------------------------------------------------------

    def _object_explicit(self, spec: ObjectSpec) -> bool:
        """Whether the connection's file asks for this stream's object by name."""
        if self.config.streams is not None and spec.stream in self.config.streams:
            return True
        return spec.stream == "survey_responses" and \
            "survey_object" in self.config.model_fields_set

    def _missing_object(self, spec: ObjectSpec) -> str:
        sobject = self._sobject(spec)
        kpis = ", ".join(STREAM_KPIS.get(spec.stream, ())) or "none"
        text = (f"{spec.stream}: the org has no {sobject} object (or this user cannot read it); "
                f"KPIs without data: {kpis}.")
        table = f"[connections.{self.connection}]"
        if spec.stream == "survey_responses":
            return (f"{text} Name the object holding survey responses with "
                    f"survey_object = \"Your_Object__c\" in {table} (its fields in "
                    f"[connections.{self.connection}.mapping.survey_responses]), or turn the "
                    f"stream off with survey_object = \"\"")
        return (f"{text} Grant the user read access to {sobject}, or leave "
                f"{spec.stream} out of `streams` in {table}")

    def _missing_field(self, plan: ReadPlan, item: MissingField) -> str:
        spec = plan.spec
        kpis = ", ".join(KPI_INPUTS.get((spec.stream, item.canonical), ())) or "none"
        table = f"[connections.{self.connection}.mapping.{spec.stream}]"
        if item.explicit:
            return (f"{spec.stream}: {plan.sobject}.{item.fields} (mapped to "
                    f"{spec.entity}.{item.canonical}) does not exist; KPIs without data: "
                    f"{kpis}. Map another field with {item.canonical} = \"Field__c\" in "
                    f"{table}, or unmap it with {item.canonical} = \"\"")
        return (f"{spec.stream}: {plan.sobject} has no {item.fields} (the default source of "
                f"{spec.entity}.{item.canonical}), so {item.canonical} stays empty; KPIs "
                f"without data: {kpis}. If your org keeps it in another field, map it with "
                f"{item.canonical} = \"Api_Name__c\" in {table} (or {item.canonical} = \"\" "
                "to silence this)")

    def check(self) -> CheckResult:
        """Log in and describe every stream's object.

        A field or object the connection's file names that the org lacks is a problem (the
        check fails); a *default* mapping the org lacks is a warning: the sync leaves that
        canonical field empty.
        """
        try:
            objects = self.client.describe_global()
        except CrmConnectError as exc:
            return CheckResult(False, str(exc))
        problems: list[str] = []
        warnings: list[str] = []
        readable: list[str] = []
        for spec in self._specs():
            sobject = self._sobject(spec)
            describe = self.client.describe(sobject) if sobject in objects else None
            if describe is None:
                found = problems if self._object_explicit(spec) else warnings
                found.append(self._missing_object(spec))
                continue
            plan = self.plan(spec, describe)
            readable.append(spec.stream)
            for item in plan.missing:
                found = problems if item.explicit else warnings
                found.append(self._missing_field(plan, item))
        usage = ""
        daily = self.client.limits().get("DailyApiRequests")
        if isinstance(daily, dict) and "Max" in daily and "Remaining" in daily:
            used = int(daily["Max"]) - int(daily["Remaining"])
            usage = f"; {used:,} of {int(daily['Max']):,} daily API requests used"
        login = self.client._login
        where = login.instance_url if login else "?"
        message = (f"logged in to {where} ({self.config.auth.value}); "
                   f"{len(readable)} of {len(self._specs())} streams readable{usage}")
        return CheckResult(not problems, message, problems,
                           {"streams": readable, "instance_url": where}, warnings)

    # -- read -------------------------------------------------------------------------------

    def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
        plan = self._plan_stream(stream)
        if plan is None:
            return
        state = dict(state or {})
        if state and state.get("cursor_field") not in (None, plan.cursor):
            log.warning("%s/%s: the cursor field changed from %s to %s; reading everything",
                        self.connection, stream.name, state.get("cursor_field"), plan.cursor)
            state = {}
        runs = int(state.get("runs_since_id_check", 0)) + 1 if state else 0
        every = self.config.hard_delete_check_every
        check_ids = not state or bool(every and runs >= every)
        # A read from the very beginning (queryAll, no start_date) sees every id the org has:
        # its own pages are the sweep, at no extra API call; otherwise a SELECT Id pass follows.
        plan.sweep_pages = not state and self.config.start_date is None
        window = self._first_window(state)
        progress = _Progress(parse_sf_datetime(state.get("cursor")), state.get("last_id"))
        now = dt.datetime.now(dt.UTC)

        bulk_state = state.get("bulk")
        use_bulk = isinstance(bulk_state, dict) or self._wants_bulk(plan, window)
        if use_bulk:
            try:
                yield from self._read_bulk(plan, window, state, progress)
                use_bulk = True
            except _QueryTimeout as exc:
                log.warning("%s/%s: %s; reading through REST in time windows instead",
                            self.connection, stream.name, exc)
                use_bulk = False
        if not use_bulk:
            yield from self._read_windows(plan, window, progress, now)
        final = {"cursor_field": plan.cursor,
                 "cursor": iso(progress.cursor) if progress.cursor else state.get("cursor"),
                 "last_id": progress.last_id, "complete": True,
                 "runs_since_id_check": 0 if check_ids else runs}
        if plan.sweep_pages and plan.short_read is not None:
            self._warn_short_read(plan)
            yield Page([], final)
        elif plan.sweep_pages:
            yield Page([], final, id_sweep=IdSweep([], first=not plan.sweep_started, last=True,
                                                   prefix=plan.key_prefix))
        elif check_ids:
            yield from self._id_sweep(plan, final)
        else:
            yield Page([], final)

    # Hard deletes ---------------------------------------------------------------------------

    def _id_sweep(self, plan: ReadPlan, final: dict[str, Any]) -> Iterator[Page]:
        """Every Id the org holds for the object (soft-deleted ones too), in parts, for reads
        that did not see them all (``start_date``, incremental runs); the last part carries the
        stream's final state, so the store marks the stored rows it did not list deleted in the
        same transaction."""
        log.info("%s/%s: comparing the org's %s ids with the stored ones (hard deletes)",
                 self.connection, plan.spec.stream, plan.sobject)
        pending: list[str] | None = None
        first = True
        for ids in self._all_ids(plan):
            if pending is not None:
                yield Page([], id_sweep=IdSweep(pending, first=first, prefix=plan.key_prefix))
                first = False
            pending = ids
        if plan.short_read is not None:
            self._warn_short_read(plan)
            yield Page([], final)
            return
        yield Page([], final, id_sweep=IdSweep(pending or [], first=first, last=True,
                                               prefix=plan.key_prefix))

    def _tally(self, plan: ReadPlan, received: int, announced: int | None) -> None:
        """Remember a query that returned fewer records than it announced."""
        if announced is not None and received < announced and plan.short_read is None:
            plan.short_read = (f"Salesforce reported the {plan.sobject} query done after "
                               f"{received:,} of the {announced:,} records it announced")

    def _warn_short_read(self, plan: ReadPlan) -> None:
        log.warning(
            "%s/%s: %s; no rows are marked deleted from this read, so that the ones it did "
            "not return are kept. The records read are stored; the next full refresh "
            "(--full-refresh) checks for deletes again.", self.connection, plan.spec.stream,
            plan.short_read)

    def _all_ids(self, plan: ReadPlan) -> Iterator[list[str]]:
        """Pages of ``SELECT Id FROM X``: Bulk API 2.0 for large objects, else REST."""
        soql = f"SELECT Id FROM {plan.sobject}"
        if self._wants_bulk(plan, Window()):
            bulk = self.client.bulk()
            try:
                job_id = bulk.create(soql, include_deleted=plan.include_deleted)
                expected = bulk.wait(job_id).get("numberRecordsProcessed")
                locator: str | None = None
                received = 0
                while True:
                    page = bulk.results(job_id, locator, self.config.bulk_page_size)
                    received += len(page.rows)
                    yield [row["Id"] for row in page.rows if row.get("Id")]
                    locator = page.locator
                    if locator is None:
                        self._tally(plan, received,
                                    expected if isinstance(expected, int) else None)
                        return
            except BulkJobFailed as exc:
                raise ConnectorError(f"{plan.sobject} ids: {exc}",
                                     connection=self.connection) from None
            except SalesforceError as exc:
                code, message = error_code(exc)
                raise ConnectorError(
                    f"{plan.sobject} ids: Bulk API 2.0 answered HTTP {exc.status} "
                    f"({code}: {message})", connection=self.connection) from None
        tally = QueryTally()
        for records in self.client.query_pages(soql, include_deleted=plan.include_deleted,
                                               page_size=self.config.page_size, tally=tally):
            yield [str(record["Id"]) for record in records if record.get("Id")]
        self._tally(plan, tally.received, tally.total)

    def _first_window(self, state: dict[str, Any]) -> Window:
        cursor = parse_sf_datetime(state.get("cursor"))
        if cursor is None:
            return Window(self.config.start_date)
        if state.get("complete", True):
            return Window(cursor - dt.timedelta(seconds=self.config.overlap_seconds))
        return Window(cursor, after_id=state.get("last_id") or None)

    def _wants_bulk(self, plan: ReadPlan, window: Window) -> bool:
        if self.config.bulk != "auto":
            return self.config.bulk == "always"
        threshold = self.config.bulk_threshold
        try:
            count = self.client.count(count_query(plan.sobject, plan.cursor, window),
                                      include_deleted=plan.include_deleted)
        except SalesforceApiError as exc:
            if exc.code == "QUERY_TIMEOUT":
                log.info("%s/%s: COUNT() timed out; a large read: Bulk API 2.0",
                         self.connection, plan.spec.stream)
                return True
            raise
        log.info("%s/%s: %d records to read (%s)", self.connection, plan.spec.stream, count,
                 "Bulk API 2.0" if count >= threshold else "REST")
        plan.total = count
        return count >= threshold

    def _page(self, plan: ReadPlan, rows: list[dict[str, Any]], state: dict[str, Any] | None
              ) -> Page:
        records, raws = canonical_records(rows, plan.context)
        sweep = None
        if plan.sweep_pages:
            sweep = IdSweep([str(row["Id"]) for row in rows if row.get("Id")],
                            first=not plan.sweep_started, prefix=plan.key_prefix)
            plan.sweep_started = True
        return Page(records, state, raw=raws, id_sweep=sweep, total=plan.total)

    def _state(self, plan: ReadPlan, progress: _Progress) -> dict[str, Any]:
        return {"cursor_field": plan.cursor,
                "cursor": iso(progress.cursor) if progress.cursor else None,
                "last_id": progress.last_id, "complete": False}

    # REST ---------------------------------------------------------------------------------

    def _read_windows(self, plan: ReadPlan, first: Window, progress: _Progress,
                      now: dt.datetime) -> Iterator[Page]:
        floor = self.config.start_date or EPOCH
        pending = [first]
        timeouts: dict[Window, int] = {}
        while pending:
            window = pending.pop(0)
            before = (progress.cursor, progress.last_id)
            try:
                yield from self._read_window(plan, window, progress)
            except _QueryTimeout:
                if (progress.cursor, progress.last_id) != before:
                    # keep what this window already stored: go on right after it
                    window = Window(progress.cursor, window.end, progress.last_id)
                timeouts[window] = timeouts.get(window, 0) + 1
                if timeouts[window] <= self.config.query_timeout_retries:
                    log.warning("%s/%s: QUERY_TIMEOUT on %s; retrying it", self.connection,
                                plan.spec.stream, window.describe())
                    pending.insert(0, window)
                    continue
                halves = None
                if window.seconds(now, floor) >= 2 * self.config.min_window_seconds:
                    halves = window.split(now, floor)
                if halves is None:
                    raise ConnectorError(
                        f"{plan.sobject}: QUERY_TIMEOUT even on the window "
                        f"{window.describe()} of {plan.cursor}, which is too short to split "
                        f"further (min_window_seconds = {self.config.min_window_seconds}). "
                        "The stream stops here; its records up to the last saved page are "
                        "stored and the next run resumes from there. Consider a selective "
                        "index on the cursor or fewer fields (extra_fields = \"mapped\").",
                        connection=self.connection) from None
                log.warning("%s/%s: QUERY_TIMEOUT on %s; splitting it in two",
                            self.connection, plan.spec.stream, window.describe())
                pending[0:0] = list(halves)

    def _groups(self, plan: ReadPlan, window: Window) -> list[list[str]]:
        """Field lists that keep each GET URL under ``max_url_length``."""
        base = self.client.sf.base_url
        overhead = url_length(base, select_query(plan.sobject, ["X"], plan.cursor, window)) - 1
        budget = self.config.max_url_length - overhead
        whole = select_query(plan.sobject, plan.fields, plan.cursor, window)
        if url_length(base, whole) <= self.config.max_url_length:
            return [plan.fields]
        return split_fields(plan.fields, plan.keep, max(200, budget // 2))

    def _read_window(self, plan: ReadPlan, window: Window, progress: _Progress
                     ) -> Iterator[Page]:
        groups = self._groups(plan, window)
        soql = select_query(plan.sobject, groups[0], plan.cursor, window)
        tally = QueryTally()
        try:
            for records in self.client.query_pages(soql, include_deleted=plan.include_deleted,
                                                   page_size=self.config.page_size,
                                                   tally=tally):
                if not records:
                    continue
                rows = [normalise(flatten(record), plan.types) for record in records]
                if len(groups) > 1:
                    self._join(plan, rows, groups[1:])
                for row in rows:
                    progress.advance(parse_sf_datetime(row.get(plan.cursor)), row.get("Id"))
                yield self._page(plan, rows, self._state(plan, progress))
            self._tally(plan, tally.received, tally.total)
        except SalesforceApiError as exc:
            if exc.code == "QUERY_TIMEOUT":
                raise _QueryTimeout(str(exc)) from None
            raise

    def _join(self, plan: ReadPlan, rows: list[dict[str, Any]], groups: list[list[str]]
              ) -> None:
        """Read the other field groups of ``rows`` by Id and merge them in."""
        by_id = {row["Id"]: row for row in rows}
        ids = list(by_id)
        base = self.client.sf.base_url
        per_id = len(quote_plus(f"{soql_string(ids[0])}, ")) if ids else 1
        for group in groups:
            room = self.config.max_url_length - url_length(
                base, id_in_query(plan.sobject, group, []))
            batch = max(1, room // per_id)
            for start in range(0, len(ids), batch):
                soql = id_in_query(plan.sobject, group, ids[start:start + batch])
                for records in self.client.query_pages(
                        soql, include_deleted=plan.include_deleted,
                        page_size=self.config.page_size):
                    for record in records:
                        row = normalise(flatten(record), plan.types)
                        target = by_id.get(row.get("Id"))
                        if target is not None:
                            target.update(row)

    # Bulk API 2.0 -------------------------------------------------------------------------

    def _read_bulk(self, plan: ReadPlan, window: Window, state: dict[str, Any],
                   progress: _Progress) -> Iterator[Page]:
        """Read the window with a Bulk 2.0 job.  The job's id is saved in the stream's state
        before the first poll, so a sync killed at any moment finds it next run."""
        bulk = self.client.bulk()
        base: dict[str, Any] = {key: state.get(key) for key in (
            "cursor_field", "cursor", "last_id", "complete") if key in state}
        resume = state.get("bulk") if isinstance(state.get("bulk"), dict) else None
        soql = select_query(plan.sobject, plan.fields, plan.cursor, window)
        soql = soql.rsplit(" ORDER BY ", 1)[0]  # ORDER BY would disable PK chunking
        fingerprint = job_fingerprint(soql, include_deleted=plan.include_deleted)
        best = _Progress()

        def job_state(job_id: str, locator: str | None) -> dict[str, Any]:
            return {**base, "bulk": {
                "job_id": job_id, "query": fingerprint, "locator": locator,
                "max_cursor": iso(best.cursor) if best.cursor else None,
                "max_id": best.last_id}}

        try:
            job_id, reused = bulk.job_for(
                soql, include_deleted=plan.include_deleted, fingerprint=fingerprint,
                remembered=resume, label=f"{self.connection}/{plan.spec.stream}")
            locator: str | None = None
            if reused and resume is not None:
                locator = resume.get("locator")
                best = _Progress(parse_sf_datetime(resume.get("max_cursor")),
                                 resume.get("max_id"))
            else:
                yield Page([], job_state(job_id, None))
            info = bulk.wait(job_id)
            expected = info.get("numberRecordsProcessed")
            received = 0
            while True:
                page = bulk.results(job_id, locator, self.config.bulk_page_size)
                rows = [normalise(flatten(row), plan.types) for row in page.rows]
                received += len(rows)
                for row in rows:
                    best.advance(parse_sf_datetime(row.get(plan.cursor)), row.get("Id"))
                locator = page.locator
                yield self._page(plan, rows, job_state(job_id, locator)
                                 if locator is not None else None)
                if locator is None:
                    break
            if isinstance(expected, int) and locator is None and not reused:
                self._tally(plan, received, expected)
        except BulkJobFailed as exc:
            if exc.timed_out:
                raise _QueryTimeout(str(exc)) from None
            raise ConnectorError(f"{plan.sobject}: {exc}", connection=self.connection) from None
        except SalesforceError as exc:
            code, message = error_code(exc)
            raise ConnectorError(
                f"{plan.sobject}: Bulk API 2.0 answered HTTP {exc.status} ({code}: {message})",
                connection=self.connection) from None
        progress.advance(best.cursor, best.last_id)
