"""HubSpot property values, which always arrive as text, read into canonical types.

Every CRM property of an object comes back as a string or ``null``: ``"amount": "5000.00"``,
``"closedate": "2026-12-31T00:00:00Z"``, ``"hs_deal_stage_probability":
"0.90000000000000002220446049250313080847263336181640625"``, ``"isClosed": "true"``, epoch
milliseconds in some date properties.  A value that is present but cannot be read raises
:class:`UnreadableValue`, which the mapping turns into a quarantined record with its reason:
never a wrong number, never a silent null.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_connect.schema import parse_datetime

__all__ = [
    "UnreadableValue",
    "is_blank",
    "read_bool",
    "read_datetime",
    "read_decimal",
    "read_float",
    "read_int",
    "read_text",
]


class UnreadableValue(ValueError):
    """A property value that does not parse as the type its canonical field needs."""

    def __init__(self, prop: str, value: Any, expected: str) -> None:
        super().__init__(f"{prop} = {value!r} is not {expected}")
        self.prop = prop
        self.value = value
        self.expected = expected


def is_blank(value: Any) -> bool:
    """``None`` and empty or all-space text: HubSpot's way of saying "no value"."""
    return value is None or (isinstance(value, str) and not value.strip())


def read_text(value: Any) -> str | None:
    if is_blank(value):
        return None
    return str(value).strip()


def read_datetime(prop: str, value: Any) -> dt.datetime | None:
    """ISO-8601 (``2026-02-25T16:26:25.880Z``, ``2026-12-31``) or epoch milliseconds
    (``"1710000000000"``) as an aware UTC datetime, read by the core's
    :func:`~crm_connect.schema.parse_datetime`."""
    if is_blank(value):
        return None
    try:
        parsed = parse_datetime(value.strip() if isinstance(value, str) else value)
    except (OverflowError, OSError, ValueError):
        parsed = None
    if not isinstance(parsed, dt.datetime):
        raise UnreadableValue(prop, value, "a date and time (ISO-8601 or epoch ms)")
    return parsed


def read_decimal(prop: str, value: Any) -> Decimal | None:
    """``"5000.00"``, ``"1e3"`` as a :class:`Decimal`; infinities and NaN are refused."""
    if is_blank(value):
        return None
    text = str(value).strip().replace(",", "") if isinstance(value, str) else str(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise UnreadableValue(prop, value, "a number") from None
    if not number.is_finite():
        raise UnreadableValue(prop, value, "a finite number")
    return number


def read_float(prop: str, value: Any) -> float | None:
    number = read_decimal(prop, value)
    return float(number) if number is not None else None


def read_int(prop: str, value: Any) -> int | None:
    """A whole number; ``"12.0"`` is 12, ``"12.5"`` is refused (a count is whole)."""
    number = read_decimal(prop, value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise UnreadableValue(prop, value, "a whole number")
    return int(number)


_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def read_bool(prop: str, value: Any) -> bool | None:
    """``"true"``/``"false"`` (any case), ``"1"``/``"0"``, ``"yes"``/``"no"``."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UnreadableValue(prop, value, "true or false")
