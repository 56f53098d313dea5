"""The store's columns for each canonical entity, and validated records as one Arrow table.

A page of records becomes one Arrow table (one bulk insert).  The canonical models already
refuse what the columns cannot hold (see the limits in :mod:`crm_connect.schema`); should a
record still fail to convert (a record built without validation, a plugin's own model), the
page is converted record by record once, the records that cannot be stored are returned with
the reason, and the rest of the page goes on.  Clean pages never pay for that.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

import pyarrow as pa

from crm_connect.schema import ENTITIES, MONEY_PRECISION, MONEY_SCALE, CanonicalRecord

__all__ = ["Unstorable", "entity_columns", "last_per_key", "records_to_arrow",
           "split_storable"]

_MONEY_SQL = f"DECIMAL({MONEY_PRECISION}, {MONEY_SCALE})"
_SQL_TYPES: dict[Any, str] = {
    str: "VARCHAR",
    int: "BIGINT",
    float: "DOUBLE",
    bool: "BOOLEAN",
    Decimal: _MONEY_SQL,
    dt.datetime: "TIMESTAMP",
    dt.date: "DATE",
}
_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    _MONEY_SQL: pa.decimal128(MONEY_PRECISION, MONEY_SCALE),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "DATE": pa.date32(),
    "JSON": pa.string(),
}
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
# Rounding to 9 decimals needs room for every digit the column keeps (the default context
# keeps 28, which fails on the largest amounts the column holds).
_MONEY_CONTEXT = decimal.Context(prec=MONEY_PRECISION)
_CONVERSION_ERRORS = (pa.ArrowException, ValueError, OverflowError, TypeError,
                      ArithmeticError)


@dataclass
class Unstorable:
    """A validated record that the store's columns cannot hold, and why."""

    record: CanonicalRecord
    reason: str


def _base_type(annotation: Any) -> Any:
    """Strip ``Annotated``, ``Optional`` and enums down to a plain Python type."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _base_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _base_type(args[0])
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return str
    if origin is dict:
        return dict
    return annotation


def entity_columns(entity: str) -> list[tuple[str, str]]:
    """(column, SQL type) of an entity's table, in the model's field order."""
    model = ENTITIES[entity]
    columns = []
    for name, info in model.model_fields.items():
        base = _base_type(info.annotation)
        sql_type = "JSON" if base is dict else _SQL_TYPES[base]
        columns.append((name, sql_type))
    return columns


def _column(sql_type: str, values: list[Any]) -> pa.Array:
    """One column of a page as an Arrow array of the store's type (raises when it cannot)."""
    if sql_type == "JSON":
        # Real characters rather than \\u escapes: a lone surrogate then fails here, with the
        # record named, instead of in the database's JSON parser with the whole page.
        values = [json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)
                  if value else "{}" for value in values]
    elif sql_type == _MONEY_SQL:
        values = [
            value.quantize(_MONEY_QUANTUM, context=_MONEY_CONTEXT)
            if value is not None and value.as_tuple().exponent < -MONEY_SCALE  # type: ignore[operator,unused-ignore]
            else value
            for value in values
        ]
    array = pa.array(values, type=_ARROW_TYPES[sql_type])
    if sql_type == "TIMESTAMP":
        array = array.cast(pa.timestamp("us"))
    return array


def last_per_key(records: Sequence[CanonicalRecord]) -> Sequence[CanonicalRecord]:
    """Keep the last version of each id in a page (a page may carry one record twice)."""
    seen: dict[str, CanonicalRecord] = {}
    for record in records:
        seen[record.id] = record
    if len(seen) == len(records):
        return records
    return list(seen.values())


def records_to_arrow(entity: str, records: Sequence[CanonicalRecord]) -> pa.Table:
    """A page of validated records as an Arrow table ready for one bulk insert.

    Raises when a value does not fit its column; :func:`split_storable` says which."""
    columns = entity_columns(entity)
    rows = [record.__dict__ for record in records]
    arrays = [_column(sql_type, [row[name] for row in rows]) for name, sql_type in columns]
    return pa.Table.from_arrays(arrays, names=[name for name, _ in columns])


def split_storable(entity: str, records: Sequence[CanonicalRecord]
                   ) -> tuple[pa.Table | None, list[Unstorable]]:
    """The records that fit the store as one Arrow table, and those that do not, with why.

    The whole page is converted at once; only when that fails is each record tried alone."""
    if not records:
        return None, []
    try:
        return records_to_arrow(entity, records), []
    except _CONVERSION_ERRORS:
        pass
    columns = entity_columns(entity)
    good: list[CanonicalRecord] = []
    bad: list[Unstorable] = []
    for record in records:
        reasons = [_why_unstorable(entity, name, sql_type, record.__dict__.get(name))
                   for name, sql_type in columns]
        found = [reason for reason in reasons if reason]
        if found:
            bad.append(Unstorable(record, "cannot be stored: " + "; ".join(found)))
        else:
            good.append(record)
    # A page that fails as a whole though each record converts alone fails here, loudly.
    return (records_to_arrow(entity, good) if good else None), bad


def _why_unstorable(entity: str, name: str, sql_type: str, value: Any) -> str | None:
    try:
        _column(sql_type, [value])
    except _CONVERSION_ERRORS as exc:
        return f"{_describe(value, exc)} of {entity}.{name} ({sql_type})"
    return None


def _describe(value: Any, exc: BaseException) -> str:
    if isinstance(exc, UnicodeError) or (isinstance(value, str) and "surrogate" in str(exc)):
        return "text that is not valid UTF-8 (a lone surrogate) in the value"
    if isinstance(value, bool):
        return f"value {value!r} does not fit"
    if isinstance(value, int):
        shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:37]}..."
        return f"integer {shown} is beyond the 64-bit range"
    if isinstance(value, Decimal):
        return (f"amount {value} is beyond DECIMAL({MONEY_PRECISION}, {MONEY_SCALE}) (at most "
                f"{MONEY_PRECISION - MONEY_SCALE} digits before the point)")
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"value {shown} ({type(exc).__name__}: {exc})"
