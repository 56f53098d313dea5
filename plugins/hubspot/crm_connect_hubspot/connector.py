"""The HubSpot connector: CRM objects, owners and marketing campaigns as canonical streams.

Reading a CRM object stream (companies, contacts, deals, engagements, tickets, feedback):

1. **First sync and ``--full-refresh``**: the list endpoint, ``paging.next.after``, 100 a page
   (:meth:`HubSpotConnector._read_list`).  A property list too long for the URL is read in a
   POST batch read by the page's ids instead.
2. **Incremental runs**: the search API from the saved cursor, past its 10,000-result cap
   (:class:`~crm_connect_hubspot.incremental.SearchReader`).
3. **Archived records** (``archived=true``) after the live ones, every run: those archived
   since the last run are stored with ``is_deleted``.  ``contacts`` and ``leads`` share one
   read of the contacts object per run (:mod:`~crm_connect_hubspot.shared`).
4. **Associations** of each page (``batch_size`` records) through the v4 batch API, one
   request per page and object type, never one per record; the next records are read ahead
   meanwhile (:mod:`~crm_connect_hubspot.prefetch`), so the search and general budgets are
   spent at once.
5. **Id sweeps**: a full list read's pages (and, with ``id_sweep_every``, an id-only listing
   after every N-th incremental run) list every id HubSpot holds, so rows of records purged
   for good are marked deleted (:mod:`~crm_connect_hubspot.listing`).

Every page carries the state that resumes right after it.  Owners and campaigns have no search:
they are listed whole each run (they are few) and only those that changed are stored.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm_connect.connector import (
    CheckResult,
    ConnectionContext,
    Connector,
    IdSweep,
    Page,
    Stream,
)
from crm_connect.errors import ConfigError, CrmConnectError
from crm_connect.incremental import sweep_due
from crm_connect.mapping import MissingField, merge_fieldmap, resolve_fieldmap
from crm_connect.resilience import ResiliencePolicy
from crm_connect_hubspot.auth import TokenManager
from crm_connect_hubspot.config import HubSpotConfig
from crm_connect_hubspot.incremental import (
    SEEN_LIMIT,
    SearchReader,
    cursor_ms,
    iso_ms,
    search_below,
    to_ms,
)
from crm_connect_hubspot.kpis import stream_kpis, unfed_kpis
from crm_connect_hubspot.listing import (
    Chunk,
    campaign_pages,
    id_sweep,
    later,
    list_objects,
    newest_seen,
    owner_pages,
    read_archived,
    read_whole,
    updated_ms,
)
from crm_connect_hubspot.mapping import (
    DEFAULT_DEAL_TYPES,
    DEFAULT_LEAD_ORIGINS,
    DEFAULT_SURVEY_SCALES,
    MappingContext,
    map_objects,
)
from crm_connect_hubspot.objects import ENGAGEMENT_STREAMS, OBJECT_SPECS, ObjectSpec, spec_for
from crm_connect_hubspot.prefetch import read_ahead
from crm_connect_hubspot.profile import HUBSPOT_PROFILE
from crm_connect_hubspot.records import HubSpotObject, Pipelines
from crm_connect_hubspot.shared import PARTNERS, SharedReads, view
from crm_connect_hubspot.split import split_read
from crm_connect_hubspot.values import read_datetime

if TYPE_CHECKING:
    from crm_connect_hubspot.client import HubSpotClient

__all__ = ["HubSpotConnector"]

log = logging.getLogger("crm_connect_hubspot")

_PIPELINE_OBJECTS = {"deals": "deals", "tickets": "tickets"}


class HubSpotConnector(Connector[HubSpotConfig]):
    """HubSpot through hubspot-api-client: list, search, batch read, v4 associations."""

    name = "hubspot"
    config_model = HubSpotConfig
    profile = HUBSPOT_PROFILE
    description = "HubSpot CRM (objects, search, v4 associations; hubspot-api-client)"

    def __init__(self, context: ConnectionContext, config: HubSpotConfig) -> None:
        super().__init__(context, config)
        self._client: HubSpotClient | None = None
        self._pipelines: dict[str, Pipelines] = {}
        self._currency: str | None = config.currency
        self._currency_known = config.currency is not None
        self._all_properties: dict[str, set[str]] = {}
        self._shared = SharedReads()  # the leads' pages of this run's contacts read

    @property
    def client(self) -> HubSpotClient:
        if self._client is None:
            # hubspot-api-client loads here, when a connection is used, not with the plugin
            from crm_connect_hubspot.client import HubSpotClient

            tokens = TokenManager(self.config, self.context)
            policy = ResiliencePolicy.for_connector(self, refresh=lambda: tokens.refresh())
            self._client = HubSpotClient(self.config, self.connection, policy, tokens,
                                         ca_bundle=self._ca_bundle())
        return self._client

    def _ca_bundle(self) -> str | None:
        """``ca_bundle`` as a path (relative to the configuration file's folder)."""
        if not self.config.ca_bundle:
            return None
        path = Path(self.config.ca_bundle).expanduser()
        if not path.is_absolute():
            path = self.context.base_dir / path
        if not path.is_file():
            raise ConfigError(f"connection {self.connection!r}: ca_bundle {path} is not a "
                              "file; give the path of a PEM certificate bundle")
        return str(path)

    def close(self) -> None:
        self._shared.close()
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- streams ----------------------------------------------------------------------------

    def _specs(self) -> list[ObjectSpec]:
        if self.config.streams is None:
            return list(OBJECT_SPECS)
        return [spec_for(name) for name in self.config.streams]

    def streams(self) -> Sequence[Stream]:
        return [Stream(spec.stream, spec.entity, "updated_at",
                       f"{spec.object_type}: {spec.description}") for spec in self._specs()]

    def fieldmap(self, spec: ObjectSpec) -> dict[str, str]:
        """The stream's field map: the defaults with the connection's ``mapping`` on top."""
        return merge_fieldmap(spec.fields, self.config.mapping.get(spec.stream, {}))

    def _portal_currency(self) -> str | None:
        if not self._currency_known:
            try:
                self._currency = self.client.account_currency()
            except CrmConnectError as exc:
                log.warning("%s: the portal's currency is unknown (%s); amounts without "
                            "deal_currency_code get none: set currency = \"USD\" (or "
                            "yours) in the connection", self.connection, exc)
            self._currency_known = True
        return self._currency

    def context_for(self, spec: ObjectSpec) -> MappingContext:
        pipelines = Pipelines()
        object_type = _PIPELINE_OBJECTS.get(spec.stream)
        if object_type is not None:
            if object_type not in self._pipelines:
                self._pipelines[object_type] = self.client.pipelines(object_type)
            pipelines = self._pipelines[object_type]
        needs_currency = spec.entity in ("deals", "campaigns", "spend")
        return MappingContext(
            spec, self.fieldmap(spec), pipelines,
            currency=self._portal_currency() if needs_currency else None,
            deal_types={**DEFAULT_DEAL_TYPES, **self.config.deal_types},
            lead_origins={**DEFAULT_LEAD_ORIGINS, **self.config.lead_origins},
            survey_scales={**DEFAULT_SURVEY_SCALES, **self.config.survey_scales},
            spend_category=self.config.spend_category.value,
            keep_extra=True)

    def _partner(self, spec: ObjectSpec) -> ObjectSpec | None:
        """The stream a read of ``spec`` serves too (see :mod:`~crm_connect_hubspot.shared`)."""
        partner = PARTNERS.get(spec.stream)
        if partner is None or (self.config.streams is not None
                               and partner not in self.config.streams):
            return None
        return spec_for(partner)

    def _properties(self, spec: ObjectSpec) -> list[str]:
        """What a read of ``spec`` asks for: its own properties and its partner's."""
        partner = self._partner(spec)
        own = self._own_properties(spec)
        return own if partner is None else list(dict.fromkeys(
            own + self._own_properties(partner)))

    def _own_properties(self, spec: ObjectSpec) -> list[str]:
        wanted = spec.properties(self.fieldmap(spec))
        if self.config.extra_fields == "all" and spec.searchable:
            if spec.object_type not in self._all_properties:
                self._all_properties[spec.object_type] = self.client.property_names(
                    spec.object_type)
            wanted += sorted(self._all_properties[spec.object_type] - set(wanted))
        return wanted

    # -- check ------------------------------------------------------------------------------

    def _missing_property(self, spec: ObjectSpec, item: MissingField) -> str:
        from crm_connect.metrics import kpis_reading  # the engine loads only for this message

        return item.message(stream=spec.stream, entity=spec.entity,
                            container=f"the portal's {spec.object_type}",
                            table=f"[connections.{self.connection}.mapping.{spec.stream}]",
                            kpis=kpis_reading(spec.entity, item.canonical),
                            example="your_property")

    def check(self) -> CheckResult:
        """Sign in, then compare each stream's mapped properties with the portal's.

        A property the connection's ``mapping`` names that the portal lacks is a problem; a
        default one is a warning (that canonical field stays empty).  The details name the
        KPIs HubSpot data cannot feed, and why.
        """
        problems: list[str] = []
        warnings: list[str] = []
        readable: list[str] = []
        try:
            for spec in self._specs():
                if not spec.searchable:
                    readable.append(spec.stream)
                    continue
                try:
                    names = self.client.property_names(spec.object_type)
                except CrmConnectError as exc:
                    if getattr(exc, "status", None) in (403, 404):
                        warnings.append(f"{spec.stream}: cannot read {spec.object_type} "
                                        f"({exc}); KPIs without data: "
                                        f"{', '.join(stream_kpis(spec.entity)) or 'none'}")
                        continue
                    raise
                readable.append(spec.stream)
                resolved = resolve_fieldmap(self.fieldmap(spec), names,
                                            self.config.mapping.get(spec.stream, {}))
                for item in resolved.missing:
                    text = self._missing_property(spec, item)
                    (problems if item.explicit else warnings).append(text)
        except CrmConnectError as exc:
            return CheckResult(False, str(exc))
        unfed = unfed_kpis(self.config.mapping)
        warnings += [f"{kpi} is not fed by HubSpot: {why}" for kpi, why in unfed.items()]
        details = {"streams": readable, "kpis_not_fed": unfed}
        if problems:
            return CheckResult(False, f"{len(problems)} mapping problem(s)", problems,
                               details, warnings)
        return CheckResult(True, f"signed in; {len(readable)} streams readable", [], details,
                           warnings)

    # -- read -------------------------------------------------------------------------------

    def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
        spec = spec_for(stream.name)
        if spec not in self._specs():
            raise ConfigError(f"connection {self.connection!r} has no stream {stream.name!r}")
        replay = self._shared.replay(spec.stream, state)
        partner = self._partner(spec)
        if replay is not None:
            yield from replay
        elif partner is None:
            yield from self._read_stream(spec, state)
        else:
            yield from self._shared.share(self._read_stream(spec, state), partner, state)

    def _read_stream(self, spec: ObjectSpec, state: dict[str, Any] | None) -> Iterator[Page]:
        from crm_connect_hubspot.client import HubSpotApiError

        started = False
        try:
            for page in self._read(spec, state):
                started = True
                yield page
        except HubSpotApiError as exc:
            if started or not spec.optional or exc.status not in (403, 404):
                raise
            # a portal without this hub (feedback surveys, marketing campaigns): no records
            log.warning("%s/%s: the portal offers no %s (%s); KPIs without data: %s",
                        self.connection, spec.stream, spec.object_type, exc,
                        ", ".join(stream_kpis(spec.entity)) or "none")

    def _read(self, spec: ObjectSpec, state: dict[str, Any] | None) -> Iterator[Page]:
        ctx = self.context_for(spec)
        if spec.object_type == "owners":
            yield from read_whole(ctx, state, owner_pages(self.client))
        elif spec.object_type == "campaigns":
            properties = spec.properties(self.fieldmap(spec))[2:]
            yield from read_whole(ctx, state, campaign_pages(self.client, properties))
        else:
            sweep, first = self._sweeping(spec, state)
            chunks = read_ahead(self._read_object(spec, state),
                                depth=max(2, self.config.batch_size // 100 + 1),
                                name=f"hubspot-{self.connection}-{spec.stream}")
            pages = self._grouped(spec, ctx, chunks, sweep=sweep, first=first)
            if sweep or spec.stream in ENGAGEMENT_STREAMS or not self.config.id_sweep_every:
                yield from pages
                return
            decision = sweep_due(state, self.config.id_sweep_every)
            final: dict[str, Any] | None = None
            for page in pages:
                if page.state is not None:
                    page.state = {**page.state, "runs_since_id_check": decision.runs_after
                                  if not decision.due else int(
                                      (state or {}).get("runs_since_id_check", 0)) + 1}
                    final = page.state
                yield page
            if decision.due and final is not None:
                log.info("%s/%s: comparing HubSpot's %s ids with the stored ones (purged "
                         "records)", self.connection, spec.stream, spec.object_type)
                yield from id_sweep(self.client, spec, {**final, "runs_since_id_check": 0},
                                    self.config.batch_size)

    def _sweeping(self, spec: ObjectSpec, state: dict[str, Any] | None) -> tuple[bool, bool]:
        """Whether this read's pages double as an id sweep (and whether it starts one).

        A full list read (first sync, ``--full-refresh``) sees every id HubSpot still holds,
        live and archived; a record purged for good (a GDPR deletion, an archived record past
        its 90 days) is in neither list, so the store marks its row deleted.  Engagement
        streams share the ``activities`` entity, so they do not sweep it."""
        if spec.stream in ENGAGEMENT_STREAMS:
            return False, False
        if state is None:
            return self.config.start_date is None, True
        return bool(state.get("sweep")), False

    def _grouped(self, spec: ObjectSpec, ctx: MappingContext, chunks: Iterator[Chunk], *,
                 sweep: bool = False, first: bool = False) -> Iterator[Page]:
        """Pages of ``batch_size`` records (1,000 by default), so that one v4 associations
        request per object type serves them all.  A page's state is the last one its
        chunks carry (a resume reads again what came after it: upserts change nothing).
        With ``sweep`` each page lists the ids it read as part of an id sweep, the last one
        ending it."""
        objects: list[HubSpotObject] = []
        state: dict[str, Any] | None = None

        def page(objects: list[HubSpotObject], state: dict[str, Any] | None, last: bool
                 ) -> Page:
            nonlocal first
            built = self._page(spec, ctx, objects, covered(state))
            if sweep:
                built.id_sweep = IdSweep([obj.id for obj in objects], first=first, last=last)
                first = False
            return built

        newest: int | None = None  # the newest updatedAt read: a state's cursor covers it

        def covered(state: dict[str, Any] | None) -> dict[str, Any] | None:
            if state is None or "cursor" not in state or newest is None:
                return state
            return {**state, "cursor": later(state["cursor"], iso_ms(newest))}

        for found, chunk_state in chunks:
            if objects and len(objects) + len(found) > self.config.batch_size:
                # a page never holds more than one associations request's worth
                yield page(objects, state, False)
                objects, state = [], None
            objects += found
            for obj in found:
                changed = updated_ms(obj)
                if changed is not None and (newest is None or changed > newest):
                    newest = changed
            state = chunk_state if chunk_state is not None else state
            if len(objects) >= self.config.batch_size:
                yield page(objects, state, False)
                objects, state = [], None
        if objects or state is not None or sweep:
            yield page(objects, state, True)

    def _page(self, spec: ObjectSpec, ctx: MappingContext, objects: list[HubSpotObject],
              state: dict[str, Any] | None) -> Page:
        live = [obj for obj in objects if not obj.archived]  # deleted: their links do not count
        partner = self._partner(spec)
        wanted = spec.associations + (partner.associations if partner is not None else ())
        for to_type in dict.fromkeys(wanted):
            if not live:
                break
            links = self.client.associations(spec.object_type, to_type,
                                             [obj.id for obj in live])
            for obj in live:
                obj.links[to_type] = links.get(obj.id, [])
        if partner is None:
            records, raws, rejected = map_objects(objects, ctx)
            return Page(records, state, raw=raws, rejected=rejected)
        own = set(self._own_properties(spec))
        records, raws, rejected = map_objects(
            [view(obj, own, spec.associations) for obj in objects], ctx)
        built = Page(records, state, raw=raws, rejected=rejected)
        theirs = set(self._own_properties(partner))
        records, raws, rejected = map_objects(
            [view(obj, theirs, partner.associations) for obj in objects],
            self.context_for(partner))
        self._shared.keep(built, Page(records, raw=raws, rejected=rejected))
        return built

    def _read_object(self, spec: ObjectSpec, state: dict[str, Any] | None
                     ) -> Iterator[Chunk]:
        mode = (state or {}).get("mode")
        search_state: dict[str, Any] | None = None
        listed = False
        archived_since = (state or {}).get("archived_cursor")
        if mode == "archived":
            assert state is not None
            yield from self._read_archived(spec, dict(state["search"]), state)
            return
        if mode in ("list", "split") or (state is None and self.config.start_date is None):
            search_state = yield from self._read_list(spec, state)
            archived_since = None
            listed = True
        else:
            reader = SearchReader(self.client.search(spec.object_type), spec.cursor,
                                  self._properties(spec),
                                  page_size=self.config.search_page_size,
                                  lookback_seconds=self.config.search_lookback_seconds)
            reported = (state or {}).get("cursor")
            resume = None
            if mode == "search" and state is not None:
                resume = {**state, "cursor": state.get("search_from") or reported}
            for found in reader.read(resume, since=self.config.start_date):
                search_state = {**found.state, "search_from": found.state.get("cursor"),
                                "cursor": later(found.state.get("cursor"), reported),
                                "archived_cursor": archived_since}
                yield found.objects, search_state
        assert search_state is not None
        if not spec.archivable:
            yield [], search_state
            return
        yield from self._read_archived(spec, search_state,
                                       {"archived_cursor": archived_since, "sweep": listed})

    def _full_read(self, spec: ObjectSpec, state: dict[str, Any] | None
                   ) -> Iterator[tuple[list[HubSpotObject], dict[str, Any] | None]]:
        """Every live record, each page with where the read stands (``None`` at the end):
        listed and searched at once (:mod:`~crm_connect_hubspot.split`), or listed."""
        properties = self._properties(spec)
        split = (state or {}).get("mode") == "split" or (
            state is None and self.config.first_sync_search and spec.searchable)
        if split:
            search = search_below(self.client.search(spec.object_type), properties,
                                  self.config.search_page_size)
            for objects, position in split_read(
                    lambda after: self._list_objects(spec, properties, after, False), search,
                    self.config.search_page_size, state,
                    name=f"hubspot-{self.connection}-{spec.stream}"):
                done = position.list_done and position.search_done
                yield objects, None if done else position.state()
            return
        after = (state or {}).get("after")
        while True:
            objects, after = self._list_objects(spec, properties, after, archived=False)
            yield objects, {"mode": "list", "after": after} if after else None
            if not after:
                return

    def _read_list(self, spec: ObjectSpec, state: dict[str, Any] | None
                   ) -> Generator[Chunk, None, dict[str, Any]]:
        """Every live record by the list endpoint; returns the search state to go on from.

        The next run searches from the newest modification read (HubSpot's clock, not
        ours), but never from later than this read began: a record changed while the list
        was being read is read again.  The records read near that cursor are remembered so
        the next run does not read them again unchanged."""
        started = (state or {}).get("started_at") or iso_ms(to_ms(dt.datetime.now(dt.UTC)))
        seen: dict[str, int] = {str(k): int(v) for k, v in ((state or {}).get("seen") or {})
                                .items()}
        high: int | None = (state or {}).get("high")
        lookback = self.config.search_lookback_seconds * 1000
        for objects, position in self._full_read(spec, state):
            for obj in objects:
                value = cursor_ms(obj, spec.cursor)
                if value is None:
                    continue
                high = value if high is None else max(high, value)
                if value >= high - lookback:
                    seen[obj.id] = value
            if len(seen) > 2 * SEEN_LIMIT and high is not None:
                seen = newest_seen(seen, high - lookback)
            page_state = {**position, "started_at": started, "seen": seen, "high": high,
                          "sweep": True} if position is not None else None
            yield objects, page_state
        begin = read_datetime("started_at", started)
        assert begin is not None
        cursor = min(high, to_ms(begin)) if high is not None else None
        kept = newest_seen(seen, cursor - lookback) if cursor is not None else {}
        text = iso_ms(cursor) if cursor is not None else None
        return {"mode": "search", "cursor": text, "search_from": text, "complete": True,
                "seen": kept}

    def _list_objects(self, spec: ObjectSpec, properties: list[str], after: str | None,
                      archived: bool) -> tuple[list[HubSpotObject], str | None]:
        return list_objects(self.client, spec, properties, after, archived=archived,
                            max_url_length=self.config.max_url_length)

    def _read_archived(self, spec: ObjectSpec, search_state: dict[str, Any],
                       state: dict[str, Any]) -> Iterator[Chunk]:
        """Records archived since the last run, marked deleted (see
        :func:`~crm_connect_hubspot.listing.read_archived`)."""
        return read_archived(self.client, spec, self._properties(spec), search_state, state,
                             max_url_length=self.config.max_url_length)
