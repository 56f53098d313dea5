"""Currency codes and exchange rates as a person gives them (``[reporting]`` in the
configuration, the Python API): each code an ISO 4217 code, each rate a positive number.

Checked where they enter, so that a wrong one is a :class:`~crm_connect.errors.ConfigError`
naming the place, never a failure deep in the metric engine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from crm_connect.errors import ConfigError

__all__ = ["CURRENCY_PATTERN", "check_currency", "check_rates", "is_currency"]

CURRENCY_PATTERN = r"^[A-Z]{3}$"
_CURRENCY = re.compile(CURRENCY_PATTERN)


def is_currency(code: object) -> bool:
    """Whether ``code`` has the ISO 4217 shape: three upper-case letters."""
    return isinstance(code, str) and _CURRENCY.fullmatch(code) is not None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_currency(code: object, what: str) -> str:
    """``code`` when it is an ISO 4217 code; otherwise a :class:`ConfigError` naming ``what``."""
    if not is_currency(code):
        raise ConfigError(f"{what} {_shown(code)} is not a currency code: use its ISO 4217 "
                          "code, three upper-case letters such as USD or EUR")
    return str(code)


def check_rates(rates: Mapping[Any, Any], where: str | None = None) -> dict[str, float]:
    """The rates as floats, each key an ISO 4217 code and each rate a positive number;
    a :class:`ConfigError` (its text starting with ``where: `` when given) otherwise."""
    prefix = f"{where}: " if where else ""
    checked: dict[str, float] = {}
    for code, rate in rates.items():
        check_currency(code, f"{prefix}key")
        try:
            number = float(Decimal(str(rate)))
        except (InvalidOperation, ValueError):
            number = math.nan
        if isinstance(rate, bool) or not math.isfinite(number) or number <= 0:
            shown = str(rate) if isinstance(rate, Decimal | float | int) else _shown(rate)
            raise ConfigError(f"{prefix}the rate of {code} is {shown}; give how many units "
                              f"of the reporting currency one {code} is worth, a positive "
                              "number such as 1.08")
        checked[str(code)] = number
    return checked
