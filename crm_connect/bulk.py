"""A page of raw records checked and converted column by column with Arrow.

:func:`check_page` turns a page of canonical dictionaries into the Arrow table the store
takes (the same columns and values :func:`crm_connect.columns.records_to_arrow` makes from
validated models), with vectorised checks of what the pydantic models enforce: required
fields, types, enum members, patterns, the store's ranges, ISO-8601 timestamps normalised to
UTC.  The checks accept only spellings whose meaning is certain; any other value (a number
where text is expected, an epoch timestamp, ``"Upsell "``, an unknown key, ...) marks its row
for pydantic, which then gives it the same treatment, and its reason when it fails, as a
sync without the bulk path.  What a row turns into is therefore the same either way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from crm_connect.bulk_fields import EntityRules, FieldRule, entity_rules
from crm_connect.schema import MONEY_PRECISION, MONEY_SCALE

__all__ = ["BulkPage", "check_page", "utc_timestamps"]

Mask = npt.NDArray[np.bool_]

_YEAR = r"(?:1\d|[2-8]\d|9[0-8])\d{2}"  # 1000-9899: no overflow when shifted to UTC
_DAY = rf"{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_DATETIME = (rf"^{_DAY}[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{{1,6}})?"
             r"(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?$")
_HAS_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"
_PATTERNS = {
    "date": rf"^{_DAY}$",
    "money": rf"^-?\d{{1,{MONEY_PRECISION - MONEY_SCALE}}}(?:\.\d{{1,{MONEY_SCALE}}})?$",
    "count": r"^-?\d{1,18}$",
    "number": r"^-?\d{1,20}(?:\.\d{1,20})?(?:[eE][+-]?\d{1,2})?$",
}
_TRUE = ["true", "1", "yes", "on", "t", "y"]
_FALSE = ["false", "0", "no", "off", "f", "n"]
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_TARGET: dict[str, pa.DataType] = {
    "text": pa.string(), "enum": pa.string(), "pattern": pa.string(), "json": pa.string(),
    "opaque": pa.string(), "datetime": pa.timestamp("us"), "date": pa.date32(),
    "money": pa.decimal128(MONEY_PRECISION, MONEY_SCALE), "count": pa.int64(),
    "number": pa.float64(), "flag": pa.bool_(),
}


@dataclass
class BulkPage:
    """The rows of a page that passed every check, as the store's table, and the others.

    ``table`` holds the passing rows in page order; ``passed`` marks them in the page;
    the rows not marked go to pydantic."""

    table: pa.Table
    passed: Mask


def _native_text(kind: str, value: Any) -> str | None:
    """A non-text value as the text that means the same to pydantic for ``kind``, or
    ``None`` when only pydantic can say what it means."""
    cls = value.__class__
    if cls is int and kind in ("text", "count", "money", "number"):
        return str(value)
    if cls is float and kind == "number":
        return repr(value)
    if cls is bool and kind == "flag":
        return "true" if value else "false"
    return None


def _encodable(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _as_text(kind: str, values: list[Any], bad: Mask) -> pa.Array:
    """The column as Arrow text (blank as null); values that are not text, nor a plain
    number or flag where one is expected, are marked ``bad`` (they go to pydantic)."""
    try:
        array = pa.array(values, type=pa.string())
    except (pa.ArrowException, ValueError, TypeError, UnicodeError):
        texts: list[str | None] = []
        for index, value in enumerate(values):
            if value is None or (value.__class__ is str and _encodable(value)):
                texts.append(value)
                continue
            text = None if value.__class__ is str else _native_text(kind, value)
            if text is None:
                bad[index] = True
            texts.append(text)
        array = pa.array(texts, type=pa.string())
    return _blank_as_null(array)


def _blank_as_null(array: pa.Array) -> pa.Array:
    blank = pc.equal(array, "")
    if pc.any(blank).as_py():
        return pc.if_else(blank, pa.scalar(None, pa.string()), array)
    return array


def _mark(bad: Mask, failed: pa.Array) -> None:
    """Mark the rows where ``failed`` (a boolean array, nulls meaning fine) is true."""
    bad |= pc.fill_null(failed, False).to_numpy(zero_copy_only=False)


def _cast_each(array: pa.Array, target: pa.DataType, bad: Mask) -> pa.Array:
    """Cast ``array``; when the column as a whole fails (Feb 30), cast value by value and
    mark the ones that fail."""
    try:
        return pc.cast(array, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    out: list[Any] = []
    for index, value in enumerate(array.to_pylist()):
        try:
            out.append(pc.cast(pa.array([value], pa.string()), target)[0].as_py())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad[index] = True
            out.append(None)
    return pa.array(out, type=target)


def _matching(array: pa.Array, pattern: str, bad: Mask) -> pa.Array:
    """The values matching ``pattern``; the others are marked and set to null."""
    ok = pc.match_substring_regex(array, pattern)
    if ok.null_count == len(ok) or pc.all(ok).as_py():  # the usual case: every value fits
        return array
    _mark(bad, pc.invert(ok))
    return pc.if_else(pc.fill_null(ok, False), array, pa.scalar(None, pa.string()))


def _timestamps(array: pa.Array, bad: Mask) -> pa.Array:
    """ISO-8601 text as UTC timestamps; naive text is UTC (as the models read it)."""
    array = _matching(array, _DATETIME, bad)
    if pc.any(pc.ends_with(array, "Z")).as_py():
        array = pc.replace_substring_regex(array, "Z$", "+00:00")
    naive = pc.invert(pc.match_substring_regex(array, _HAS_OFFSET))
    if pc.any(naive).as_py():
        array = pc.if_else(pc.fill_null(naive, False), pc.binary_join_element_wise(
            array, pa.scalar("+00:00"), ""), array)
    return pc.cast(_cast_each(array, _TIMESTAMP, bad), pa.timestamp("us"))


def _flags(array: pa.Array, bad: Mask) -> pa.Array:
    lower = pc.ascii_lower(array)
    is_true = pc.is_in(lower, pa.array(_TRUE))
    known = pc.or_(is_true, pc.is_in(lower, pa.array(_FALSE)))
    _mark(bad, pc.and_(pc.is_valid(array), pc.invert(known)))
    return pc.if_else(pc.is_null(array), pa.scalar(None, pa.bool_()), is_true)


def _json_column(values: list[Any], bad: Mask) -> pa.Array:
    """``extra``: a dictionary (or JSON text of one) as compact JSON text, as stored."""
    texts: list[str] = []
    for index, value in enumerate(values):
        if value is None or value == "":
            texts.append("{}")
            continue
        if value.__class__ is str:
            if not _encodable(value):
                bad[index] = True
                texts.append("{}")
                continue
            try:
                value = json.loads(value)
            except ValueError:
                value = None
        if value.__class__ is not dict or not all(key.__class__ is str for key in value):
            bad[index] = True
            texts.append("{}")
            continue
        texts.append(json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)
                     if value else "{}")
    try:
        return pa.array(texts, type=pa.string())
    except (pa.ArrowException, UnicodeError):
        for index, text in enumerate(texts):
            if not _encodable(text):
                bad[index] = True
                texts[index] = "{}"
        return pa.array(texts, type=pa.string())


def _convert(rule: FieldRule, array: pa.Array, bad: Mask) -> pa.Array:
    kind = rule.kind
    if kind == "enum":
        members = pa.array(rule.choices, pa.string())
        _mark(bad, pc.and_(pc.is_valid(array), pc.invert(pc.is_in(array, members))))
    elif kind == "pattern" and rule.pattern is not None:
        _mark(bad, pc.invert(pc.match_substring_regex(array, rule.pattern)))
    elif kind == "datetime":
        return _timestamps(array, bad)
    elif kind == "flag":
        return _flags(array, bad)
    elif kind in _PATTERNS:
        array = _matching(array, _PATTERNS[kind], bad)
        return _cast_each(array, _TARGET[kind], bad)
    elif kind == "opaque":
        _mark(bad, pc.is_valid(array))
    return array


def _column(rule: FieldRule, values: list[Any] | pa.Array, bad: Mask) -> pa.Array:
    if rule.kind == "json":
        if isinstance(values, list):
            return _json_column(values, bad)
        if not pc.any(pc.not_equal(values, "")).as_py():  # all blank or null: no extras
            return pa.repeat(pa.scalar("{}", pa.string()), len(values))
        return _json_column(values.to_pylist(), bad)
    text = (_as_text(rule.kind, values, bad) if isinstance(values, list)
            else _blank_as_null(values))
    array = _convert(rule, text, bad)
    if rule.required:
        _mark(bad, pc.is_null(array))
    elif rule.default is not None:
        array = pc.fill_null(array, pa.scalar(rule.default, _TARGET[rule.kind]))
    return array


def _all_text(rows: list[dict[str, Any]], rules: EntityRules) -> dict[str, pa.Array] | None:
    """Every field but ``extra`` as a text column in one pass of Arrow's converter, when all
    their values are text (a CSV export's are); ``None`` otherwise."""
    names = [rule.name for rule in rules.fields if rule.kind != "json"]
    try:
        struct = pa.array(rows, type=pa.struct([(name, pa.string()) for name in names]))
    except (pa.ArrowException, ValueError, TypeError, UnicodeError):
        return None
    return {name: struct.field(index) for index, name in enumerate(names)}


def _scale_is_a_range(columns: dict[str, pa.Array], bad: Mask) -> None:
    _mark(bad, pc.less_equal(columns["scale_max"], columns["scale_min"]))


_ROW_CHECKS: dict[str, Callable[[dict[str, pa.Array], Mask], None]] = {
    "_scale_is_a_range": _scale_is_a_range,
}


def _shape(records: Sequence[Any], rules: EntityRules) -> tuple[list[dict[str, Any]], Mask]:
    """Rows as plain dictionaries, and which cannot be checked in bulk (not a dictionary,
    or a key that is no field: pydantic says what it makes of those)."""
    bad = np.zeros(len(records), dtype=np.bool_)
    names = rules.names
    rows: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        if record.__class__ is dict and record.keys() <= names:
            rows.append(record)
        else:
            bad[index] = True
            rows.append({})
    return rows, bad


def _table_columns(table: pa.Table, rules: EntityRules) -> tuple[dict[str, pa.Array], Mask]:
    """The text columns of a page given as an Arrow table (see ``Page.table``), a null column
    for each field it lacks, and the rows with a value in a column that is no field (pydantic
    says what it makes of those)."""
    rows = table.num_rows
    bad = np.zeros(rows, dtype=np.bool_)
    columns: dict[str, pa.Array] = {}
    for name in table.column_names:
        array = table.column(name).combine_chunks()
        if not pa.types.is_string(array.type):
            array = pc.cast(array, pa.string())
        if name not in rules.names:
            _mark(bad, pc.and_(pc.is_valid(array), pc.not_equal(array, "")))
        columns[name] = array
    for rule in rules.fields:
        if rule.name not in columns:
            columns[rule.name] = pa.nulls(rows, pa.string())
    return columns, bad


def utc_timestamps(array: pa.Array) -> tuple[pa.Array, Mask]:
    """ISO-8601 text as naive UTC timestamps (``timestamp[us]``), read as the models read it;
    the mask marks the values only pydantic (or ``parse_datetime``) can read (null there)."""
    bad = np.zeros(len(array), dtype=np.bool_)
    return _timestamps(_blank_as_null(array), bad), bad


def check_page(entity: str, records: Sequence[Any] | pa.Table) -> BulkPage:
    """Check and convert a page of raw canonical records in bulk (see the module's text).

    ``records`` is a list of dictionaries, or an Arrow table of text columns (a page's
    ``table``: a null or ``""`` cell is an absent field)."""
    rules = entity_rules(entity)
    texts: dict[str, pa.Array] | None
    rows: list[dict[str, Any]] = []
    if isinstance(records, pa.Table):
        texts, bad = _table_columns(records, rules)
    else:
        rows, bad = _shape(records, rules)
        texts = _all_text(rows, rules)
    if rules.opaque:
        bad[:] = True
    columns: dict[str, pa.Array] = {}
    for rule in rules.fields:
        values = texts[rule.name] if texts is not None and rule.name in texts else [
            row.get(rule.name) for row in rows]
        columns[rule.name] = _column(rule, values, bad)
    for check in rules.row_checks:
        _ROW_CHECKS[check](columns, bad)
    table = pa.Table.from_arrays(list(columns.values()), names=list(columns))
    passed = ~bad
    if not passed.all():
        table = table.filter(pa.array(passed))
    return BulkPage(table, passed)
