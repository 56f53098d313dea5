"""Mapping vendor records to canonical fields: the field-map mini-language and the vocabularies.

**The field map.**  A connector names, per stream, which vendor field fills each canonical
field (its defaults); a connection's ``mapping`` table overrides them per stream::

    [connections.crm.mapping.tickets]
    first_response_at = "First_Reply__c|FirstResponse"   # fallbacks: the first that is set
    handle_time_seconds = "Handle_Minutes__c*60"          # a number, scaled
    channel = "=phone"                                    # a constant
    priority = ""                                         # unmapped: stays empty

:func:`check_mapping_table` validates a connection's table when its configuration loads,
:func:`merge_fieldmap` applies the overrides, :func:`resolve_fieldmap` keeps the vendor fields
the source really has and lists the others as :class:`MissingField`: one the connection's file
names (``explicit``) is an error at ``connections test``, a default one a warning (the
canonical field stays empty).  :meth:`MissingField.message` words both the same way for every
vendor.  :class:`FieldMap` then reads canonical values out of flat vendor rows.

**Vocabularies.**  Canonical fields with a closed set of values (a lead's ``origin``, a
deal's ``deal_type``, a survey's ``survey_type`` and its score scale) are filled from whatever
words a vendor uses: :func:`lead_origin`, :func:`deal_type`, :func:`survey_type` with the
default word lists :data:`DEFAULT_LEAD_ORIGINS`, :data:`DEFAULT_DEAL_TYPES`, to which a
connection adds its own, and :data:`SURVEY_SCALES`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_connect.schema import ENTITIES, DealType, LeadOrigin, SurveyType

__all__ = [
    "DEFAULT_DEAL_TYPES",
    "DEFAULT_LEAD_ORIGINS",
    "SURVEY_SCALES",
    "UNMAPPABLE_FIELDS",
    "FieldMap",
    "FieldMapResolution",
    "MissingField",
    "check_mapping_table",
    "deal_type",
    "lead_origin",
    "lower_keys",
    "merge_fieldmap",
    "parse_source",
    "resolve_fieldmap",
    "survey_type",
    "truthy",
]


# -- the mini-language ---------------------------------------------------------------------------


def parse_source(source: str) -> list[tuple[str, float | None]]:
    """The vendor fields of a source, in order: ``A|B*60`` -> ``[("A", None), ("B", 60.0)]``.

    ``|`` separates fallbacks (the first one set wins); ``*N`` scales a number.  A constant
    (``=text``) has no fields: check it with ``source.startswith("=")`` first."""
    parts: list[tuple[str, float | None]] = []
    for alternative in source.split("|"):
        name, _, factor = alternative.strip().partition("*")
        parts.append((name.strip(), float(factor) if factor.strip() else None))
    return parts


UNMAPPABLE_FIELDS = frozenset({"source", "extra", "id", "is_deleted"})
"""Canonical fields the sync fills itself, never from a vendor field."""


def check_mapping_table(mapping: Mapping[str, Mapping[str, str]],
                        stream_entities: Mapping[str, str]) -> None:
    """Check a connection's ``mapping`` table (a pydantic validator calls this, so a mistake
    is reported with the configuration's line): every stream is one of ``stream_entities``
    (stream name -> canonical entity), every key a canonical field of its entity that a
    vendor field can fill, every source well formed.

    :raises ValueError: naming ``mapping.<stream>.<field>`` and what is wrong with it.
    """
    for stream, fields in mapping.items():
        if stream not in stream_entities:
            raise ValueError(f"mapping.{stream}: unknown stream (known: "
                             f"{', '.join(stream_entities)})")
        entity = stream_entities[stream]
        model = ENTITIES[entity]
        for canonical, source in fields.items():
            if canonical not in model.model_fields or canonical in UNMAPPABLE_FIELDS:
                raise ValueError(f"mapping.{stream}.{canonical}: {entity} has no field "
                                 f"{canonical!r} that can be mapped")
            if source.strip() and not source.startswith("="):
                try:
                    parse_source(source)
                except ValueError:
                    raise ValueError(f"mapping.{stream}.{canonical} = {source!r}: a factor "
                                     "after * must be a number") from None


def _spell(parts: Iterable[tuple[str, float | None]]) -> str:
    return "|".join(name if factor is None else f"{name}*{factor:g}" for name, factor in parts)


def merge_fieldmap(defaults: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """A stream's field map: the connector's ``defaults`` with the connection's ``overrides``
    on top; an empty source (``field = ""``) unmaps the field."""
    merged = {**defaults, **overrides}
    return {key: value.strip() for key, value in merged.items() if value.strip()}


@dataclass(frozen=True)
class MissingField:
    """A mapped vendor field the source does not have.

    ``explicit``: the connection's ``mapping`` table names it (an error); otherwise it is one of
    the connector's defaults (a warning: the canonical field stays empty)."""

    canonical: str
    source: str
    explicit: bool

    @property
    def fields(self) -> str:
        """The vendor field names of ``source`` (``A|B*60`` -> ``A or B``)."""
        return " or ".join(name for name, _ in parse_source(self.source))

    def message(self, *, stream: str, entity: str, container: str, table: str,
                kpis: Sequence[str], example: str = "field_name") -> str:
        """What to tell the user: ``container`` is where the vendor keeps the field (an
        object or record type), ``table`` the connection's mapping table
        (``[connections.x.mapping.tickets]``), ``kpis`` the KPIs left without data
        (:func:`crm_connect.metrics.kpis_reading`), ``example`` a field name in the vendor's
        spelling for the suggested fix."""
        without = ", ".join(kpis) or "none"
        name = self.canonical
        if self.explicit:
            return (f"{stream}: {container}.{self.fields} (mapped to {entity}.{name}) does not "
                    f"exist; KPIs without data: {without}. Map another field with "
                    f"{name} = \"{example}\" in {table}, or unmap it with {name} = \"\"")
        return (f"{stream}: {container} has no {self.fields} (the default source of "
                f"{entity}.{name}), so {name} stays empty; KPIs without data: {without}. "
                f"If the source keeps it in another field, map it with {name} = \"{example}\" "
                f"in {table} (or {name} = \"\" to silence this)")


@dataclass(frozen=True)
class FieldMapResolution:
    """A field map checked against the fields a source has (:func:`resolve_fieldmap`)."""

    sources: dict[str, str]
    """canonical field -> source, keeping only the fallbacks the source has (and constants)."""
    fields: list[str]
    """The vendor fields to read for it, in map order, each once."""
    missing: list[MissingField] = field(default_factory=list)

    @property
    def errors(self) -> list[MissingField]:
        """The missing fields the connection's file names."""
        return [item for item in self.missing if item.explicit]


def resolve_fieldmap(fieldmap: Mapping[str, str], available: Collection[str],
                     explicit: Collection[str] = ()) -> FieldMapResolution:
    """Check ``fieldmap`` (canonical -> source) against the ``available`` vendor fields.

    Fallbacks the source lacks are dropped; a field none of whose fallbacks exists is a
    :class:`MissingField`, ``explicit`` when its canonical name is in ``explicit`` (the
    connection's overrides for the stream)."""
    sources: dict[str, str] = {}
    fields: list[str] = []
    missing: list[MissingField] = []
    for canonical, source in fieldmap.items():
        if source.startswith("="):
            sources[canonical] = source
            continue
        present = [(name, factor) for name, factor in parse_source(source)
                   if name in available]
        if not present:
            missing.append(MissingField(canonical, source, canonical in explicit))
            continue
        sources[canonical] = _spell(present)
        fields += [name for name, _ in present if name not in fields]
    return FieldMapResolution(sources, fields, missing)


class FieldMap:
    """Reads canonical values out of flat vendor rows (``{"Field": value}``)."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = dict(sources)
        self._parsed = {canonical: (source[1:] if source.startswith("=")
                                    else parse_source(source))
                        for canonical, source in self.sources.items() if source}

    def __iter__(self) -> Iterator[str]:
        """The canonical fields the map fills."""
        return iter(self.sources)

    def __contains__(self, canonical: object) -> bool:
        return canonical in self.sources

    def __getitem__(self, canonical: str) -> str:
        """The source of ``canonical``."""
        return self.sources[canonical]

    def get(self, canonical: str, default: str | None = None) -> str | None:
        """The source of ``canonical``, or ``default`` when it is unmapped."""
        return self.sources.get(canonical, default)

    @property
    def vendor_fields(self) -> frozenset[str]:
        """Every vendor field the map reads (what need not be kept again in ``extra``)."""
        return frozenset(name for parts in self._parsed.values() if isinstance(parts, list)
                         for name, _ in parts)

    def value(self, row: Mapping[str, Any], canonical: str) -> Any:
        """The value of ``canonical`` in ``row``: the constant, or the first fallback that is
        set (``None`` and ``""`` are not), scaled when the source says so (a value that is not
        a number is returned as it is, for the schema to judge); ``None`` when unmapped."""
        parts = self._parsed.get(canonical)
        if parts is None:
            return None
        if isinstance(parts, str):
            return parts
        for name, factor in parts:
            value = row.get(name)
            if value is None or value == "":
                continue
            if factor is None:
                return value
            try:
                return float(value) * factor
            except (TypeError, ValueError):
                return value
        return None


# -- vocabularies -------------------------------------------------------------------------------

_TRUE = frozenset({"true", "1", "yes"})


def truthy(value: Any) -> bool:
    """A vendor flag as a bool: ``"true"``, ``"1"``, ``"yes"`` (any case) or a truthy value."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


def lower_keys(words: Mapping[str, Any]) -> dict[str, Any]:
    """A vocabulary with its words in lower case, as the look-ups below expect."""
    return {key.lower(): value for key, value in words.items()}


DEFAULT_LEAD_ORIGINS: dict[str, LeadOrigin] = {
    **{name: LeadOrigin.MARKETING for name in (
        "web", "website", "advertisement", "purchased list", "email", "social media", "webinar",
        "trade show", "seminar", "seminar - internal", "seminar - partner", "content",
        "paid search", "organic search", "marketing", "event", "campaign", "inbound")},
    **{name: LeadOrigin.PARTNER for name in (
        "partner", "partner referral", "reseller", "channel partner")},
    **{name: LeadOrigin.SALES for name in (
        "cold call", "phone inquiry", "employee referral", "external referral", "outbound",
        "sales", "prospecting", "word of mouth")},
    "other": LeadOrigin.OTHER,
}
"""Lead source words (lower case) to a lead's ``origin``; unknown words are ``other``."""

DEFAULT_DEAL_TYPES: dict[str, DealType] = {
    "new customer": DealType.NEW_BUSINESS,
    "new business": DealType.NEW_BUSINESS,
    "new": DealType.NEW_BUSINESS,
    "upsell": DealType.UPSELL,
    "upgrade": DealType.UPSELL,
    "cross-sell": DealType.UPSELL,
    "expansion": DealType.UPSELL,
    "renewal": DealType.RENEWAL,
}
"""Deal type words (lower case) to a deal's ``deal_type``; unknown words are ``other``."""

SURVEY_SCALES: dict[SurveyType, tuple[float, float]] = {
    SurveyType.NPS: (0.0, 10.0), SurveyType.CSAT: (1.0, 5.0), SurveyType.CES: (1.0, 7.0)}
"""The usual score scale (min, max) of each survey type, for responses that do not say."""

_SURVEY_WORDS = (("nps", SurveyType.NPS), ("promoter", SurveyType.NPS),
                 ("csat", SurveyType.CSAT), ("satisf", SurveyType.CSAT),
                 ("ces", SurveyType.CES), ("effort", SurveyType.CES))


def lead_origin(value: Any, lead_source: Any,
                words: Mapping[str, LeadOrigin] = DEFAULT_LEAD_ORIGINS) -> str | None:
    """A lead's canonical ``origin``: from its own origin value when it has one (a canonical
    value, or a word of ``words``), else from its lead source; ``other`` for a word ``words``
    does not know, ``None`` when neither is set.  ``words`` keys are lower case."""
    if isinstance(value, str) and value.strip():
        word = value.strip().lower()
        if word in LeadOrigin._value2member_map_:
            return word
    elif isinstance(lead_source, str) and lead_source.strip():
        word = lead_source.strip().lower()
    else:
        return None
    return (words.get(word) or LeadOrigin.OTHER).value


def deal_type(value: Any, words: Mapping[str, DealType] = DEFAULT_DEAL_TYPES) -> str | None:
    """A deal's canonical ``deal_type`` from the vendor's word (``other`` when ``words``, lower
    case keys, does not know it); ``None`` when the deal has none."""
    if isinstance(value, str) and value.strip():
        return (words.get(value.strip().lower()) or DealType.OTHER).value
    return None


def survey_type(value: Any) -> str | None:
    """A survey's canonical ``survey_type`` from the vendor's name for it (``NPS``, ``Net
    Promoter``, ``Customer Satisfaction``, ``Effort score`` ...); an unknown name comes back in
    lower case for the schema to judge, ``None`` when there is none."""
    text = str(value or "").strip().lower()
    for needle, kind in _SURVEY_WORDS:
        if needle in text:
            return kind.value
    return text or None
