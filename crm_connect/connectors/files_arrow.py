"""A UTF-8 CSV export read by Arrow's CSV parser, a block of lines at a time.

The line-by-line reader (:mod:`crm_connect.connectors.files_rows`) builds a dictionary per row
in Python; this one parses a block of lines into text columns in one call, which the sync hands
to bulk validation as it is (``Page.table``).  It reads only what it can read exactly as the
line-by-line reader would: each block must decode as UTF-8, hold one record per line (no
quoted line break, no blank line, no lone carriage return), have as many cells per line as
the header, no field over Python's CSV size limit, and no quote where only Python's reader
knows what it means (``ab"c``, ``"ab"c``).  At the first block that is not so, it says where
that block starts (a :class:`Fallback`) and the line-by-line reader reads the rest of the file
from there: a bad byte, a short row or an unclosed quote is quarantined or reported exactly as
before, with the same line numbers.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import overload

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

from crm_connect.bulk import utc_timestamps
from crm_connect.errors import ConnectorError
from crm_connect.schema import parse_datetime

__all__ = ["NONE", "Block", "Fallback", "LineLocations", "arrow_start", "csv_blocks",
           "from_micros", "micros", "updated_micros"]

NONE = int(np.iinfo(np.int64).min)
"""The microseconds of a row without a readable ``updated_at``."""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass
class Block:
    """Rows parsed by Arrow: text columns named by the header, one row per line."""

    table: pa.Table
    first_line: int

    @property
    def last_line(self) -> int:
        rows: int = self.table.num_rows
        return self.first_line + rows - 1


@dataclass
class Fallback:
    """Arrow stops here: the line-by-line reader goes on from byte ``offset``, the start of
    line ``line + 1``."""

    offset: int
    line: int


class LineLocations(Sequence[str]):
    """``file:line`` of each row of a page, made when asked: only the quarantine asks, so a
    page of 10,000 clean rows makes no text for them."""

    def __init__(self, name: str, lines: npt.NDArray[np.int64]) -> None:
        self.name = name
        self.lines = lines

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [f"{self.name}:{line}" for line in self.lines[index].tolist()]
        return f"{self.name}:{int(self.lines[index])}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LineLocations({self.name!r}, {len(self)} rows)"


def _lone_return(data: bytes) -> bool:
    """A carriage return not followed by a line feed: Python's reader breaks lines there."""
    return b"\r" in data and data.count(b"\r") != data.count(b"\r\n")


def arrow_start(path: Path, header: list[str], delimiter: str) -> int | None:
    """Where the records start (the byte after the header line) when the header is one plain
    UTF-8 line the line-by-line reader reads as ``header``; ``None`` otherwise."""
    if delimiter in '"\r\n' or len(set(header)) != len(header) or not header:
        return None
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except OSError:
        return None
    if not first.endswith(b"\n") or _lone_return(first):
        return None
    text = first[len(codecs.BOM_UTF8):] if first.startswith(codecs.BOM_UTF8) else first
    try:
        cells = next(csv.reader([text.decode("utf-8")], delimiter=delimiter), [])
    except (UnicodeDecodeError, csv.Error):
        return None
    return len(first) if cells == header else None


def _options(header: list[str], delimiter: str, size: int
             ) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    return (pacsv.ReadOptions(column_names=header, use_threads=False,
                              block_size=max(size + 1, 1 << 16)),
            pacsv.ParseOptions(delimiter=delimiter),
            pacsv.ConvertOptions(column_types={name: pa.string() for name in header},
                                 strings_can_be_null=False, quoted_strings_can_be_null=False))


def _parse(data: bytes, lines: list[bytes], header: list[str], delimiter: str,
           odd_quote: re.Pattern[bytes]) -> pa.Table | None:
    """The block as text columns, or ``None`` when only Python's reader reads it right."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if (_lone_return(data) or max(map(len, lines)) > csv.field_size_limit()
            or (b'"' in data and odd_quote.search(data))):
        return None
    read, parse, convert = _options(header, delimiter, len(data))
    try:
        table = pacsv.read_csv(io.BytesIO(data), read_options=read, parse_options=parse,
                               convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # e.g. a row with another number of cells: quarantined line by line
    return table if table.num_rows == len(lines) else None


def csv_blocks(path: Path, header: list[str], delimiter: str, start: int,
               lines_per_block: int, skip_to: int = 0) -> Iterator[Block | Fallback]:
    """The records after byte ``start`` (line 2 on) in blocks; lines up to ``skip_to`` (a
    record's last line, from a resumed state) are passed over unparsed.  Ends with a
    :class:`Fallback` when a block cannot be read by Arrow."""
    sep = re.escape(delimiter.encode("utf-8"))
    odd_quote = re.compile(rb'[^' + sep + rb'\n"]"[^' + sep + rb'\r\n"]')
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ConnectorError(f"{path.name} cannot be opened ({exc.strerror}); check that it "
                             "is a readable file") from None
    with handle:
        handle.seek(start)
        offset, line = start, 1
        if skip_to > 1:
            skipped = list(islice(handle, skip_to - 1))
            data = b"".join(skipped)
            if _lone_return(data):
                yield Fallback(start, 1)
                return
            offset, line = offset + len(data), line + len(skipped)
        while True:
            lines = list(islice(handle, lines_per_block))
            if not lines:
                return
            data = b"".join(lines)
            table = _parse(data, lines, header, delimiter, odd_quote)
            if table is None:
                yield Fallback(offset, line)
                return
            yield Block(table, line + 1)
            offset, line = offset + len(data), line + len(lines)


def micros(value: dt.datetime) -> int:
    """An aware datetime as microseconds since the epoch (UTC)."""
    return (value - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


def updated_micros(table: pa.Table) -> npt.NDArray[np.int64]:
    """Each row's ``updated_at`` in microseconds (UTC), :data:`NONE` where it has none or it
    does not parse, as the line-by-line reader reads it (``parse_datetime``)."""
    if "updated_at" not in table.column_names:
        return np.full(table.num_rows, NONE, dtype=np.int64)
    column = table.column("updated_at").combine_chunks()
    stamps, odd = utc_timestamps(column)
    values = np.array(stamps.cast(pa.int64()).fill_null(NONE).to_numpy(zero_copy_only=False),
                      dtype=np.int64)
    for index in np.flatnonzero(odd).tolist():
        parsed = parse_datetime(column[index].as_py())
        values[index] = micros(parsed) if isinstance(parsed, dt.datetime) else NONE
    return values
