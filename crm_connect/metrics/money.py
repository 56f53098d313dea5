"""Money in the reporting currency: currency codes checked, rates bound as query parameters.

Currency codes come from the configuration (``[reporting] currency`` and the keys of
``[reporting] rates``), from the Python API and from records.  The first two are checked
against the ISO 4217 shape (three upper-case letters) where they enter; none of them is ever
written into SQL text: the reporting currency and the rates travel as numbered query
parameters (``$1``, ``$2``, ...), and the codes found in records are only read back.

An amount in a currency with no rate cannot be converted: the KPIs that read it are null with
a note naming the currency (:func:`missing_rates`, :func:`missing_rate_note`), and every other
KPI is computed as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlglot import exp

# The code and rate checks live in the core (the configuration uses them too); the metric
# engine's money names keep offering them.
from crm_connect.currency import CURRENCY_PATTERN, check_currency, check_rates, is_currency
from crm_connect.metrics.sqltree import cast, parse, render

__all__ = ["CURRENCY_PATTERN", "MoneySql", "check_currency", "check_rates", "is_currency",
           "missing_rate_note", "missing_rates", "named_currencies", "query_parameters",
           "rate_example"]

Execute = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


class MoneySql:
    """``money(amount, currency)``: the amount (a tree) in the reporting currency, as DOUBLE.

    The codes and rates are parameters: ``$1`` is the reporting currency, then a code and its
    rate for each other currency (``$2``, ``$3``, ...); :func:`query_parameters` gives their
    values for a query.  A record without a currency is taken to be in the reporting currency;
    one in a currency without a rate converts to NULL (and its KPIs are null, see
    :func:`missing_rates`)."""

    def __init__(self, currency: str, rates: Mapping[str, Decimal | float]) -> None:
        self.currency = check_currency(currency, "the reporting currency")
        self.rates = {code: rate for code, rate in sorted(check_rates(rates, "rates").items())
                      if code != self.currency}

    @property
    def parameters(self) -> list[Any]:
        values: list[Any] = [self.currency]
        for code, rate in self.rates.items():
            values += [code, rate]
        return values

    def __call__(self, amount: exp.Expression, currency_column: exp.Expression
                 ) -> exp.Expression:
        double = cast(amount, "DOUBLE")
        if not self.rates:
            return double
        cases = " ".join(f"WHEN ${2 * n + 2} THEN CAST(${2 * n + 3} AS DOUBLE)"
                         for n in range(len(self.rates)))
        factor = parse(f"CASE COALESCE(currency_, $1) WHEN $1 THEN 1.0 {cases} END")
        factor.find(exp.Column).replace(currency_column)  # type: ignore[union-attr]
        return exp.Mul(this=double, expression=factor)


def query_parameters(query: exp.Expression | str, money: MoneySql) -> list[Any]:
    """The parameter values ``query`` (a tree, or DuckDB text) needs: as many of
    ``money``'s as it references, found from its tree (a ``$5`` inside a string literal, a
    note say, is a value, not a parameter)."""
    tree = parse(query) if isinstance(query, str) else query
    used = max((int(node.name) for node in tree.find_all(exp.Placeholder)
                if node.name.isdigit()), default=0)
    return money.parameters[:used]


def missing_rates(execute: Execute, columns: Iterable[tuple[str, str, str]],
                  money: MoneySql, dialect: str = "duckdb"
                  ) -> dict[tuple[str, str, str], set[str]]:
    """For each (table, amount column, currency column) read, the currencies of its amounts
    that have no rate into the reporting currency (deleted records and null amounts aside).
    The codes are read back from the store, never written into the SQL."""
    known = {money.currency, *money.rates}
    wanted = sorted(set(columns))
    if not wanted:
        return {}
    sql = " UNION ALL ".join(
        f"SELECT DISTINCT {n} AS n, {currency} AS code FROM {table} "
        f"WHERE NOT is_deleted AND {amount} IS NOT NULL AND {currency} IS NOT NULL"
        for n, (table, amount, currency) in enumerate(wanted))
    found: dict[tuple[str, str, str], set[str]] = {}
    for n, code in execute(render(parse(sql), dialect), []):
        if code not in known:
            found.setdefault(wanted[int(n)], set()).add(str(code))
    return found


def named_currencies(codes: Iterable[str]) -> str:
    """The codes for a message; a code that is not ISO 4217 (only a record written around
    the schema can hold one) is not repeated."""
    unique = set(codes)
    valid = sorted(code for code in unique if is_currency(code))
    if len(valid) < len(unique):
        valid.append("a code that is not ISO 4217")
    return ", ".join(valid)


def rate_example(codes: Iterable[str], currency: str) -> str:
    """How to add a rate, for the first of ``codes``."""
    code = next(iter(sorted(c for c in codes if is_currency(c))), "EUR")
    return (f"add it to the [reporting] rates table, e.g. rates = {{ {code} = 1.1 }} "
            f"if one {code} is worth 1.1 {currency}")


def missing_rate_note(codes: Iterable[str], tables: Iterable[str], currency: str) -> str:
    """Why a KPI is null: the currencies (and where they are) that have no rate."""
    codes = list(codes)
    return (f"no exchange rate into {currency} for {named_currencies(codes)} (amounts in "
            f"{', '.join(sorted(set(tables)))}): {rate_example(codes, currency)}")
