"""Rows of one export file (CSV or JSON Lines), each with the lines it came from.

Files are decoded line by line: a byte the declared encoding cannot decode spoils only the row
whose line holds it.  That row comes back with a ``problem`` (it is quarantined), with its true
line number, and the file goes on.  Nothing here ends a file early and quietly: a file that
cannot be read to its end raises :class:`~crm_connect.errors.ConnectorError`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from crm_connect.errors import ConnectorError

__all__ = ["Row", "check_encoding", "csv_header", "csv_rows", "csv_rows_from", "jsonl_rows",
           "undecodable_lines"]

# Bytes the codec could not decode, as the ``surrogateescape`` error handler leaves them.
_ESCAPED = re.compile("[\udc80-\udcff]")
_LINE_BREAK = re.compile("\r\n|\r|\n")


@dataclass(slots=True)
class Row:
    """One record of a file: its values (or the raw text) and the lines it spans.

    :param first_line: the line the record starts on (1 is the first line of the file).
    :param last_line: the line it ends on (past ``first_line`` when a quoted field spans lines).
    :param values: the record, column or key names to values; ``None`` when it has a problem.
    :param raw: what to keep in the quarantine when it has a problem.
    :param problem: why it cannot be read, or ``None``.
    """

    first_line: int
    last_line: int
    values: dict[str, Any] | None
    raw: Any = None
    problem: str | None = None

    @property
    def lines(self) -> str:
        """``"12"`` or ``"12-14"``: where the record is, for ``file:line`` locations."""
        if self.last_line > self.first_line:
            return f"{self.first_line}-{self.last_line}"
        return str(self.first_line)


def check_encoding(name: str) -> str:
    """``name`` when Python can decode text with it, else a ``ValueError`` that says so."""
    try:
        "x".encode(name)  # a LookupError for unknown codecs and for non-text ones (hex)
    except LookupError:
        raise ValueError(
            f"unknown text encoding {name!r}; use a Python codec name such as utf-8, "
            "cp1252, latin-1 or utf-16") from None
    return name


def _codec(encoding: str) -> str:
    # A UTF-8 file may start with a byte-order mark (spreadsheet exports do): drop it.
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def _readable(text: str) -> str:
    """``text`` with each undecodable byte written as ``\\xNN``, safe to store as JSON."""
    return _ESCAPED.sub(lambda match: f"\\x{ord(match.group()) - 0xDC00:02x}", text)


def _first_undecodable(text: str) -> tuple[str, int] | None:
    """The first undecodable byte of ``text`` (``"0xE9"``) and its character position."""
    if text.isascii():
        return None
    match = _ESCAPED.search(text)
    if match is None:
        return None
    return f"0x{ord(match.group()) - 0xDC00:02X}", match.start() + 1


def _at_line(text: str, number: int) -> str | None:
    """``"line 7: byte 0xE9 at character 12"`` when ``text`` holds an undecodable byte."""
    found = _first_undecodable(text)
    return None if found is None else f"line {number}: byte {found[0]} at character {found[1]}"


def _not_valid(encoding: str, where: list[str]) -> str:
    return (f"not valid {encoding} ({'; '.join(where)}); if the file was saved in another "
            'encoding, declare it in the connection, e.g. encoding = "cp1252"')


def _undecodable_cells(cells: list[str], header: list[str], first_line: int) -> list[str]:
    """Where the undecodable bytes of a CSV record are: its line and column."""
    found = []
    line = first_line
    for index, cell in enumerate(cells):
        parts = _LINE_BREAK.split(cell)  # a quoted cell may span lines
        for offset, part in enumerate(parts):
            bad = _first_undecodable(part)
            if bad is not None:
                column = header[index] if index < len(header) else f"#{index + 1}"
                found.append(f"line {line + offset}, column {column!r}: byte {bad[0]}")
        line += len(parts) - 1
    return found


def _cannot_decode(name: str, encoding: str, line: int, exc: UnicodeDecodeError
                   ) -> ConnectorError:
    # Only codecs where bytes below 0x80 can be invalid (UTF-16, UTF-32) get here.
    return ConnectorError(
        f"{name}: the text after line {line} cannot be decoded as {encoding} ({exc.reason}); "
        "set `encoding` in the connection to the encoding the file was saved in")


def _open(path: Path, encoding: str) -> IO[str]:
    try:
        return path.open(newline="", encoding=_codec(encoding), errors="surrogateescape")
    except OSError as exc:
        raise ConnectorError(f"{path.name} cannot be opened ({exc.strerror}); check that it "
                             "is a readable file") from None


def csv_header(path: Path, encoding: str, delimiter: str) -> list[str]:
    """The header row of a CSV file (``[]`` for an empty file)."""
    with _open(path, encoding) as handle:
        return _header(csv.reader(handle, delimiter=delimiter), path.name, encoding) or []


def _header(reader: Any, name: str, encoding: str) -> list[str] | None:
    try:
        header: list[str] = next(reader)
    except StopIteration:
        return None
    except UnicodeDecodeError as exc:
        raise _cannot_decode(name, encoding, 0, exc) from None
    where = _undecodable_cells(header, header, 1)
    if where:
        raise ConnectorError(f"{name}: the header row is {_not_valid(encoding, where)}")
    return header


def csv_rows(path: Path, encoding: str, delimiter: str) -> Iterator[Row]:
    """The records of a CSV file whose first row names the columns.

    Blank cells are left out of ``values`` (absent, not ``""``).  A record with the wrong number
    of columns or an undecodable byte comes back with its ``problem``.  A CSV error the reader
    cannot resume after (a field over the size limit) raises: the file is not ended quietly.
    """
    with _open(path, encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = _header(reader, path.name, encoding)
        if header is None:
            return
        yield from _csv_records(reader, header, path.name, encoding, 0)


def csv_rows_from(path: Path, encoding: str, delimiter: str, header: list[str], offset: int,
                  line: int) -> Iterator[Row]:
    """:func:`csv_rows` from byte ``offset`` on, where line ``line + 1`` of the file starts
    (a record's first line): how the Arrow reader hands the rest of a file over."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ConnectorError(f"{path.name} cannot be opened ({exc.strerror}); check that it "
                             "is a readable file") from None
    raw.seek(offset)
    with io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape",
                          newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        yield from _csv_records(reader, header, path.name, encoding, line)


def _csv_records(reader: Any, header: list[str], name: str, encoding: str, base: int
                 ) -> Iterator[Row]:
    """The records ``reader`` reads after the header; ``base`` lines come before its first."""
    width = len(header)
    last_line = base + reader.line_num
    while True:
        first_line = last_line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise _cannot_decode(name, encoding, last_line, exc) from None
        except csv.Error as exc:
            raise ConnectorError(
                f"{name}, record starting on line {first_line}: {exc}; the records "
                "before it are kept. Look for a quote that is never closed, fix the file "
                "and sync again") from None
        last_line = base + reader.line_num
        if not cells:
            continue
        row = Row(first_line, last_line, None)
        where = [] if "".join(cells).isascii() else _undecodable_cells(
            cells, header, first_line)
        if where:
            row.problem, row.raw = _not_valid(encoding, where), list(map(_readable, cells))
        elif len(cells) != width:
            row.problem = f"expected {width} columns as in the header, found {len(cells)}"
            if last_line > first_line:
                row.problem += (f" over lines {first_line}-{last_line}: is a quote opened "
                                f"on line {first_line} never closed?")
            row.raw = cells
        else:
            row.values = {key: value for key, value in zip(header, cells, strict=True)
                          if value}
        yield row


def _lines(handle: IO[str], name: str, encoding: str) -> Iterator[tuple[int, str]]:
    """The numbered lines of a file; a codec that cannot go on raises ConnectorError."""
    number = 0
    try:
        for number, text in enumerate(handle, start=1):
            yield number, text
    except UnicodeDecodeError as exc:
        raise _cannot_decode(name, encoding, number, exc) from None


def jsonl_rows(path: Path, encoding: str) -> Iterator[Row]:
    """The records of a JSON Lines file: one JSON object per line, blank lines skipped."""
    with _open(path, encoding) as handle:
        for number, text in _lines(handle, path.name, encoding):
            if not text.strip():
                continue
            where = _at_line(text, number)
            if where is not None:
                problem = _not_valid(encoding, [where])
                yield Row(number, number, None, _readable(text.rstrip("\r\n")), problem)
                continue
            try:
                values = json.loads(text)
            except json.JSONDecodeError as exc:
                yield Row(number, number, None, text.rstrip("\r\n"), f"invalid JSON: {exc}")
                continue
            if not isinstance(values, dict):
                yield Row(number, number, None, values, "a line must hold one JSON object")
                continue
            yield Row(number, number, values)


def undecodable_lines(path: Path, encoding: str) -> tuple[int, str | None]:
    """How many lines of ``path`` hold bytes ``encoding`` cannot decode, and the first one."""
    count, first = 0, None
    with _open(path, encoding) as handle:
        for number, text in _lines(handle, path.name, encoding):
            where = _at_line(text, number)
            if where is not None:
                count += 1
                first = first or where
    return count, first
