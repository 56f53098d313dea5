"""Why a KPI has no value in the latest period, in the words of the report's "why" panel.

The engine already says why in each null row's ``note``; this module sorts those reasons
into what a reader can act on (no data at all, a zero denominator, a missing input, a missing
exchange rate) and, when the store holds no record of an entity the KPI reads, names the
configured connections that could feed it.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_connect.report.data import ReportData

__all__ = ["NullReason", "null_reasons"]

NO_DATA = "no data"
ZERO_DENOMINATOR = "zero denominator"
MISSING_INPUT = "missing input"
MISSING_RATE = "missing exchange rate"


@dataclass(frozen=True)
class NullReason:
    """One KPI without a value: what kind of reason, the engine's note, and what to do."""

    metric: str
    name: str
    kind: str
    note: str
    remedy: str


def _remedy(data: ReportData, empty: list[str], named: list[str]) -> str:
    parts = []
    for entity in named:
        feeders = data.feeders.get(entity, [])
        if feeders:
            parts.append(f"{entity} comes from {', '.join(feeders)}")
    for entity in empty:
        feeders = data.feeders.get(entity, [])
        if feeders:
            parts.append(f"no {entity} records yet: {', '.join(feeders)} can feed them "
                         "(run `crm-connect sync`)")
        else:
            parts.append(f"no {entity} records and no configured connection offers them: "
                         f"add one whose connector has a {entity} stream (a files "
                         f"connection reads {entity}.csv)")
    return "; ".join(parts)


def null_reasons(data: ReportData) -> list[NullReason]:
    """One reason per KPI whose latest total is null, in catalogue order."""
    reasons = []
    for key, definition in data.definitions.items():
        row = data.latest_row(key)
        if row is not None and row.value is not None:
            continue
        note = (row.note if row is not None else None) or definition.null_note
        empty = sorted(entity for entity in data.entities_of(key)
                       if data.entity_records.get(entity, 0) == 0)
        missing_notes = {case.note for case in definition.missing}
        if row is not None and row.missing_rates:
            kind = MISSING_RATE
        elif empty:
            kind = MISSING_INPUT
        elif row is not None and row.denominator == 0:
            kind = ZERO_DENOMINATOR
        elif note in missing_notes:
            kind = MISSING_INPUT
        elif note == definition.null_note and definition.denominator:
            kind = ZERO_DENOMINATOR
        else:
            kind = NO_DATA
        named = sorted(entity for entity in data.entities_of(key)
                       if entity not in empty and kind == MISSING_INPUT and entity in note)
        reasons.append(NullReason(key, definition.name, kind, note,
                                  _remedy(data, empty, named)))
    return reasons
