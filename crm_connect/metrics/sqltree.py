"""KPI definitions as sqlglot expression trees, rendered for the engine that runs them.

KPI definitions write their SQL fragments (measure expressions, filters, period conditions,
value formulas) in DuckDB's dialect, the language of the embedded default store.  Each text is
parsed once (:func:`parse` caches the tree; callers get a copy to graft into a query), the
engine assembles the whole query as one tree, and :func:`render` writes it for the target
dialect: ``duckdb`` (the default), ``postgres``, ``spark``, and any other dialect sqlglot
knows (``trino``, ``snowflake``, ``bigquery`` ...).

Time arithmetic is written with dialect-aware nodes rather than one engine's functions:
:func:`seconds_between` (epoch arithmetic, :class:`sqlglot.exp.TimeToUnix`),
:func:`days_between` (:class:`~sqlglot.exp.DateDiff`), :func:`truncate`
(:class:`~sqlglot.exp.TimestampTrunc`) and intervals (:class:`~sqlglot.exp.Interval`, parsed
from ``INTERVAL '7 days'``).  Which columns a fragment reads is found from its tree
(:func:`columns_read`, :func:`tables_read`), never by pattern matching on the text.
"""

from __future__ import annotations

import datetime as dt
import typing
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError

from crm_connect.errors import MetricError

__all__ = [
    "DEFINITION_DIALECT",
    "DIALECTS",
    "NUMBERED_PARAMETERS",
    "alias",
    "cast",
    "coalesce",
    "columns_read", "contains",
    "date_literal",
    "days_between",
    "inline_parameters",
    "parse",
    "render",
    "seconds_between",
    "tables_read",
    "text",
    "timestamp_literal",
    "truncate",
    "when",
]

DEFINITION_DIALECT = "duckdb"
"""The dialect KPI definitions are written in."""

DIALECTS: tuple[str, ...] = ("duckdb", "postgres", "spark")
"""Dialects the engine runs its queries on (every sqlglot dialect can be rendered)."""


@lru_cache(maxsize=8192)
def _parsed(sql: str) -> exp.Expression:
    try:
        tree = sqlglot.parse_one(sql, read=DEFINITION_DIALECT)
    except ParseError as exc:
        raise MetricError(f"cannot read the SQL {sql!r}: {exc}") from None
    if tree is None:  # pragma: no cover - sqlglot raises on empty text
        raise MetricError(f"cannot read the SQL {sql!r}")
    return typing.cast(exp.Expression, tree)


def parse(sql: str | exp.Expression) -> exp.Expression:
    """The tree of ``sql`` (parsed once per text), as a copy the caller may graft anywhere."""
    if isinstance(sql, exp.Expression):
        return sql.copy()
    return _parsed(sql).copy()


def text(tree: exp.Expression) -> str:
    """A tree as definition text (DuckDB's dialect), e.g. to embed in a definition string."""
    return tree.sql(dialect=DEFINITION_DIALECT)


def render(tree: exp.Expression, dialect: str = "duckdb", *, copy: bool = True) -> str:
    """The SQL of ``tree`` for ``dialect``; with ``copy=False`` the dialect's rewrites may
    change ``tree`` in place (for a tree rendered once, it saves copying it)."""
    try:
        writer = Dialect.get_or_raise(dialect)
    except ValueError as exc:  # an unknown dialect name
        raise MetricError(f"cannot write the KPI query for {dialect!r}: {exc}") from None
    if dialect in SERVER_BOUND_PARAMETERS:
        tree = tree.transform(_server_parameter, copy=copy)
        copy = False
    return writer.generate(tree, copy=copy)


SERVER_BOUND_PARAMETERS: frozenset[str] = frozenset({"postgres"})
"""Dialects whose store binds ``$n`` on the server (the Postgres store's raw cursor), where
sqlglot would otherwise write a client driver's ``%(n)s``."""


def _server_parameter(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Placeholder) and node.name.isdigit():
        return exp.Parameter(this=exp.Literal.number(node.name))
    return node


def columns_read(sql: str | exp.Expression, alias: str = "f") -> set[str]:
    """Names of the columns ``sql`` reads from the relation aliased ``alias``: every
    ``alias.name`` and every unqualified column (string literals are values, not columns)."""
    tree = _parsed(sql) if isinstance(sql, str) else sql
    return {column.name for column in tree.find_all(exp.Column)
            if column.table in ("", alias) and column.name}


def contains(sql: str, kind: type[exp.Expression]) -> bool:
    """Whether the tree of ``sql`` has a node of ``kind`` (read from the parse cache)."""
    return _parsed(sql).find(kind) is not None


def tables_read(tree: exp.Expression) -> dict[str, str]:
    """Alias (or name) to table name of every table ``tree`` reads."""
    return {table.alias_or_name: table.name for table in tree.find_all(exp.Table)}


def _tree(value: str | exp.Expression) -> exp.Expression:
    return parse(value)


def seconds_between(start: str | exp.Expression, end: str | exp.Expression) -> str:
    """Exact seconds from ``start`` to ``end`` (two timestamps), as definition text: epoch
    arithmetic that each dialect renders its own way (``EPOCH`` on DuckDB, ``DATE_PART`` on
    Postgres, ``UNIX_TIMESTAMP`` on Spark)."""
    tree = exp.Paren(this=exp.Sub(this=exp.TimeToUnix(this=_tree(end)),
                                  expression=exp.TimeToUnix(this=_tree(start))))
    return text(tree)


def days_between(start: str | exp.Expression, end: str | exp.Expression) -> str:
    """Whole days from the date ``start`` to the date ``end``, as definition text."""
    return text(exp.DateDiff(this=_tree(end), expression=_tree(start), unit=exp.var("DAY")))


def truncate(value: exp.Expression, grain: str) -> exp.Expression:
    """The start of the ``grain`` period (week, month, quarter, year) holding ``value``."""
    return exp.TimestampTrunc(this=value, unit=exp.var(grain.upper()))


_TYPES: dict[str, exp.DataType] = {}


def cast(value: exp.Expression, kind: str) -> exp.Expression:
    """``CAST(value AS kind)`` (``kind``: a type name such as DOUBLE, VARCHAR, DATE), with
    no copy of ``value``."""
    if kind not in _TYPES:
        _TYPES[kind] = exp.DataType.build(kind)
    return exp.Cast(this=value, to=_TYPES[kind].copy())


def alias(value: exp.Expression, name: str) -> exp.Expression:
    """``value AS name``, with no copy of ``value``."""
    return exp.Alias(this=value, alias=exp.to_identifier(name))


def when(condition: exp.Expression, then: exp.Expression,
         otherwise: exp.Expression | None = None) -> exp.Expression:
    """``CASE WHEN condition THEN then [ELSE otherwise] END``."""
    return exp.Case(ifs=[exp.If(this=condition, true=then)], default=otherwise)


def coalesce(value: exp.Expression, *others: exp.Expression) -> exp.Expression:
    return exp.Coalesce(this=value, expressions=list(others))


def timestamp_literal(value: dt.datetime) -> exp.Expression:
    return cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")


def date_literal(value: dt.datetime | dt.date) -> exp.Expression:
    day = value.date() if isinstance(value, dt.datetime) else value
    return cast(exp.Literal.string(day.isoformat()), "DATE")


NUMBERED_PARAMETERS: frozenset[str] = frozenset({"duckdb", "postgres"})
"""Dialects whose stores bind numbered parameters (``$1``)."""


def inline_parameters(tree: exp.Expression, values: list[Any]) -> exp.Expression:
    """``tree`` with each numbered parameter ``$n`` replaced by the literal ``values[n-1]``,
    for engines that bind no numbered parameters (Spark, Trino).  Only the engine's own
    values go here: checked currency codes and numeric rates."""
    def literal(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name.isdigit():
            value = values[int(node.name) - 1]
            if isinstance(value, str):
                return exp.Literal.string(value)
            return exp.Literal.number(str(value))
        return node

    return tree.transform(literal)
