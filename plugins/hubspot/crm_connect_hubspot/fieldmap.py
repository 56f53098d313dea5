"""The field-map language of a connection's ``mapping`` table, for HubSpot properties.

``canonical = "source"`` where ``source`` is a property name (``churn_date``), fallbacks
(``hs_v2_date_entered_customer|hs_lifecyclestage_customer_date``: the first that is set wins), a
scaled number (``handle_time_minutes*60``), a constant (``=nps``), or ``""`` to unmap a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm_connect_hubspot.values import is_blank

__all__ = ["Source", "parse_source", "source_properties"]


@dataclass(frozen=True)
class Source:
    """One alternative of a field's source: a property, maybe scaled."""

    prop: str
    factor: float | None = None


def parse_source(text: str) -> list[Source]:
    """``a|b*60`` -> ``[Source("a"), Source("b", 60.0)]``; a constant or ``""`` -> ``[]``."""
    if not text.strip() or text.startswith("="):
        return []
    parts: list[Source] = []
    for alternative in text.split("|"):
        name, _, factor = alternative.strip().partition("*")
        if not name.strip():
            raise ValueError(f"{text!r}: an empty property name")
        try:
            scale = float(factor) if factor.strip() else None
        except ValueError:
            raise ValueError(f"{text!r}: {factor!r} is not a number to scale by") from None
        parts.append(Source(name.strip(), scale))
    return parts


def source_properties(text: str) -> list[str]:
    """The property names ``text`` reads."""
    return [source.prop for source in parse_source(text)]


def pick(properties: Mapping[str, Any], text: str) -> tuple[str | None, Any, float | None]:
    """The first set value ``text`` names: ``(property, value, factor)``; a constant comes back
    as ``(None, constant, None)``, nothing set as ``(None, None, None)``."""
    if text.startswith("="):
        return None, text[1:], None
    for source in parse_source(text):
        value = properties.get(source.prop)
        if not is_blank(value):
            return source.prop, value, source.factor
    return None, None, None
