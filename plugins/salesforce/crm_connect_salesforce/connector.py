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

State: the core's cursor state (:mod:`crm_connect.incremental`: ``{"cursor_field", "cursor",
"last_id", "complete"}``, resumed strictly after (cursor, last_id) or, once complete, from
``cursor`` minus ``overlap_seconds``) plus ``"bulk"`` while a Bulk job is being read.  The plan
is :mod:`crm_connect_salesforce.plan`; Bulk reads and the id sweep for hard deletes are
:mod:`crm_connect_salesforce.reading`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from crm_connect.connector import (
    CheckResult,
    ConnectionContext,
    Connector,
    IdSweep,
    Page,
    Stream,
)
from crm_connect.errors import ConfigError, ConnectorError, CrmConnectError
from crm_connect.incremental import (
    CursorProgress,
    Window,
    WindowTimeout,
    checkpoint_state,
    final_state,
    parse_cursor,
    read_in_windows,
    resume_window,
    sweep_due,
)
from crm_connect.mapping import MissingField, merge_fieldmap
from crm_connect_salesforce.config import SalesforceConfig
from crm_connect_salesforce.mapping import (
    DEFAULT_DEAL_TYPES,
    DEFAULT_LEAD_ORIGINS,
    MappingContext,
    canonical_records,
    flatten,
    normalise,
)
from crm_connect_salesforce.objects import OBJECT_SPECS, ObjectSpec
from crm_connect_salesforce.plan import ReadPlan, plan_fields
from crm_connect_salesforce.profile import SALESFORCE_PROFILE
from crm_connect_salesforce.soql import (
    count_query,
    id_in_query,
    select_query,
    soql_string,
    split_fields,
    url_length,
)

if TYPE_CHECKING:
    from crm_connect_salesforce.client import SalesforceClient

__all__ = ["SalesforceConnector"]

log = logging.getLogger("crm_connect_salesforce")

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


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
            # simple-salesforce (and zeep, lxml) load here, when a connection is used
            from crm_connect_salesforce.client import SalesforceClient

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
        return merge_fieldmap(spec.default_mapping(), self.config.mapping.get(spec.stream, {}))

    # -- planning ---------------------------------------------------------------------------

    def _org_currency(self) -> str | None:
        if not self._currency_known:
            self._currency = self.client.org_currency()
            self._currency_known = True
        return self._currency

    def plan(self, spec: ObjectSpec, describe: dict[str, Any]) -> ReadPlan:
        """What to read of ``spec``'s object, given its describe."""
        sobject = self._sobject(spec)
        found = plan_fields(spec, sobject, describe, self._fieldmap(spec),
                            self.config.mapping.get(spec.stream, {}),
                            all_fields=self.config.extra_fields == "all",
                            connection=self.connection)
        needs_currency = spec.entity in ("deals", "campaigns", "spend", "contracts") and \
            "CurrencyIsoCode" not in found.types
        context = MappingContext(
            spec, found.fieldmap,
            currency=self._org_currency() if needs_currency else None,
            deal_types={**DEFAULT_DEAL_TYPES, **self.config.deal_types},
            lead_origins={**DEFAULT_LEAD_ORIGINS, **self.config.lead_origins},
            spend_category=self.config.spend_category.value,
            keep_extra=self.config.extra_fields == "all",
        )
        return ReadPlan(spec, sobject, found.cursor, "IsDeleted" in found.types, found.fields,
                        found.types, context, found.missing, found.keep,
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
        from crm_connect.metrics import kpis_fed_by  # the engine loads only for this message

        kpis = ", ".join(kpis_fed_by(spec.entity)) or "none"
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
        from crm_connect.metrics import kpis_reading  # the engine loads only for this message

        spec = plan.spec
        return item.message(stream=spec.stream, entity=spec.entity, container=plan.sobject,
                            table=f"[connections.{self.connection}.mapping.{spec.stream}]",
                            kpis=kpis_reading(spec.entity, item.canonical),
                            example="Api_Name__c")

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
        from crm_connect_salesforce.reading import id_sweep, read_bulk, warn_short_read

        plan = self._plan_stream(stream)
        if plan is None:
            return
        state = dict(state or {})
        if state and state.get("cursor_field") not in (None, plan.cursor):
            log.warning("%s/%s: the cursor field changed from %s to %s; reading everything",
                        self.connection, stream.name, state.get("cursor_field"), plan.cursor)
            state = {}
        sweep = sweep_due(state, self.config.hard_delete_check_every)
        # A read from the very beginning (queryAll, no start_date) sees every id the org has:
        # its own pages are the sweep, at no extra API call; otherwise a SELECT Id pass follows.
        plan.sweep_pages = not state and self.config.start_date is None
        window = self._first_window(state)
        progress = CursorProgress(parse_cursor(state.get("cursor")), state.get("last_id"))

        use_bulk = isinstance(state.get("bulk"), dict) or self._wants_bulk(plan, window)
        if use_bulk:
            try:
                yield from read_bulk(self, plan, window, state, progress)
            except WindowTimeout as exc:
                log.warning("%s/%s: %s; reading through REST in time windows instead",
                            self.connection, stream.name, exc)
                use_bulk = False
        if not use_bulk:
            yield from self._read_windows(plan, window, progress)
        final = final_state(plan.cursor, progress, state, sweep)
        if plan.sweep_pages and plan.short_read is not None:
            warn_short_read(self, plan)
            yield Page([], final)
        elif plan.sweep_pages:
            yield Page([], final, id_sweep=IdSweep([], first=not plan.sweep_started, last=True,
                                                   prefix=plan.key_prefix))
        elif sweep.due:
            yield from id_sweep(self, plan, final)
        else:
            yield Page([], final)

    def _first_window(self, state: dict[str, Any]) -> Window:
        return resume_window(state, start=self.config.start_date,
                             overlap=dt.timedelta(seconds=self.config.overlap_seconds))

    def _wants_bulk(self, plan: ReadPlan, window: Window) -> bool:
        if self.config.bulk != "auto":
            return self.config.bulk == "always"
        from crm_connect_salesforce.client import SalesforceApiError

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

    # REST ---------------------------------------------------------------------------------

    def _read_windows(self, plan: ReadPlan, first: Window, progress: CursorProgress
                      ) -> Iterator[Page]:
        def too_short(window: Window, timeout: WindowTimeout) -> ConnectorError:
            return ConnectorError(
                f"{plan.sobject}: QUERY_TIMEOUT even on the window "
                f"{window.describe()} of {plan.cursor}, which is too short to split "
                f"further (min_window_seconds = {self.config.min_window_seconds}). "
                "The stream stops here; its records up to the last saved page are "
                "stored and the next run resumes from there. Consider a selective "
                "index on the cursor or fewer fields (extra_fields = \"mapped\").",
                connection=self.connection)

        yield from read_in_windows(
            first, lambda window: self._read_window(plan, window, progress), progress,
            now=dt.datetime.now(dt.UTC), floor=self.config.start_date or EPOCH,
            retries=self.config.query_timeout_retries,
            min_seconds=self.config.min_window_seconds, too_short=too_short,
            label=f"{self.connection}/{plan.spec.stream}")

    def _groups(self, plan: ReadPlan, window: Window) -> list[list[str]]:
        """Field lists that keep each GET URL under ``max_url_length``."""
        base = self.client.sf.base_url
        overhead = url_length(base, select_query(plan.sobject, ["X"], plan.cursor, window)) - 1
        budget = self.config.max_url_length - overhead
        whole = select_query(plan.sobject, plan.fields, plan.cursor, window)
        if url_length(base, whole) <= self.config.max_url_length:
            return [plan.fields]
        return split_fields(plan.fields, plan.keep, max(200, budget // 2))

    def _read_window(self, plan: ReadPlan, window: Window, progress: CursorProgress
                     ) -> Iterator[Page]:
        from crm_connect_salesforce.client import QueryTally, SalesforceApiError
        from crm_connect_salesforce.reading import tally

        groups = self._groups(plan, window)
        soql = select_query(plan.sobject, groups[0], plan.cursor, window)
        counted = QueryTally()
        try:
            for records in self.client.query_pages(soql, include_deleted=plan.include_deleted,
                                                   page_size=self.config.page_size,
                                                   tally=counted):
                if not records:
                    continue
                rows = [normalise(flatten(record), plan.types) for record in records]
                if len(groups) > 1:
                    self._join(plan, rows, groups[1:])
                for row in rows:
                    progress.advance(parse_cursor(row.get(plan.cursor)), row.get("Id"))
                yield self._page(plan, rows, checkpoint_state(plan.cursor, progress))
            tally(plan, counted.received, counted.total)
        except SalesforceApiError as exc:
            if exc.code == "QUERY_TIMEOUT":
                raise WindowTimeout("QUERY_TIMEOUT") from None
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
