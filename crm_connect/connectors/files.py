"""The built-in ``files`` connector: ``<entity>.csv`` or ``<entity>.jsonl`` exports in a folder.

Column (or key) names are the canonical field names; columns with no canonical home go to
``extra``.  Incremental by ``updated_at``: a run reads the rows whose ``updated_at`` is at or
after the largest one the previous run stored (rows without one are always read; re-reading a
row changes nothing).  While a file is read, the state also records the last line stored, so a
sync killed halfway resumes at that line as long as the file has not changed.  Changing the
connection's ``encoding`` or ``delimiter`` reads every file again from the top.

Which files are read and why the others are not: :mod:`crm_connect.connectors.files_folder`;
how a file is decoded line by line: :mod:`crm_connect.connectors.files_rows`.  A UTF-8 CSV
file whose columns are all canonical is parsed by Arrow in blocks instead
(:mod:`crm_connect.connectors.files_arrow`), and its pages go to the sync as Arrow tables
(``Page.table``) when the reader takes them; a block Arrow cannot read exactly as the line
reader would hands the rest of the file to the line reader.  ``CRM_CONNECT_CSV_READER=python``
reads every file line by line.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from crm_connect.connector import (
    CheckResult,
    Connector,
    ConnectorConfig,
    Page,
    Rejected,
    Stream,
    table_records,
)
from crm_connect.connectors.files_arrow import (
    NONE,
    Block,
    Fallback,
    LineLocations,
    arrow_start,
    csv_blocks,
    from_micros,
    micros,
    updated_micros,
)
from crm_connect.connectors.files_folder import FolderScan, expected_names, scan_folder
from crm_connect.connectors.files_rows import (
    Row,
    check_encoding,
    csv_header,
    csv_rows,
    csv_rows_from,
    jsonl_rows,
    undecodable_lines,
)
from crm_connect.errors import ConfigError, ConnectorError, CrmConnectError
from crm_connect.hookspecs import hookimpl
from crm_connect.schema import ENTITIES, parse_datetime

__all__ = ["FilesConfig", "FilesConnector"]

log = logging.getLogger(__name__)

_DEFAULT_READ_AS = {"encoding": "utf-8", "delimiter": ","}


class FilesConfig(ConnectorConfig):
    path: str = Field(description="Folder holding <entity>.csv or <entity>.jsonl files.")
    page_size: int = Field(default=20_000, ge=1, le=1_000_000,
                           description="Records validated and stored per transaction.")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = Field(default="utf-8",
                          description="Text encoding of the files (a Python codec name, e.g. "
                          "cp1252); a line it cannot decode is quarantined.")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        return check_encoding(value)


def _as_utc(value: Any) -> dt.datetime | None:
    """The row's ``updated_at`` as an aware UTC datetime, or ``None`` when it has none or it
    does not parse (validation then quarantines the row)."""
    parsed = parse_datetime(value)
    return parsed if isinstance(parsed, dt.datetime) else None


def _fingerprint(path: Path) -> str:
    try:
        info = path.stat()
    except OSError as exc:
        raise ConnectorError(f"{path.name} cannot be opened ({exc.strerror}); check that it "
                             "is a readable file") from None
    return f"{info.st_size}:{info.st_mtime_ns}"


class FilesConnector(Connector[FilesConfig]):
    """Reads canonical records from CSV or JSON Lines files, one file per entity."""

    name = "files"
    config_model = FilesConfig
    description = "CSV / JSON Lines exports in canonical field names, one file per entity"

    @property
    def folder(self) -> Path:
        folder = Path(self.config.path).expanduser()
        return folder if folder.is_absolute() else self.context.base_dir / folder

    def _scan(self) -> FolderScan:
        return scan_folder(self.folder, self.connection)

    def _no_file_message(self, scan: FolderScan) -> str:
        expected = (f"name exports <entity>.csv or <entity>.jsonl, with <entity> one of "
                    f"{expected_names()}")
        if not scan.ignored:
            return (f"connection {self.connection!r}: no export file in {scan.folder} "
                    f"(it is empty); {expected}")
        ignored = "; ".join(str(item) for item in scan.ignored)
        return (f"connection {self.connection!r}: no file in {scan.folder} can be read "
                f"({ignored}); {expected}")

    def streams(self) -> Sequence[Stream]:
        """One stream per export file; every other file is named in a warning.

        :raises ConfigError: the folder is missing, or holds no file to read.
        """
        scan = self._scan()
        if not scan.files:
            raise ConfigError(self._no_file_message(scan))
        for item in scan.ignored:
            log.warning("%s: %s (folder %s)", self.connection, item, scan.folder)
        log.info("%s: reading %s from %s", self.connection,
                 ", ".join(path.name for path in scan.files.values()), scan.folder)
        return [Stream(entity, entity, "updated_at", path.name)
                for entity, path in scan.files.items()]

    def check(self) -> CheckResult:
        try:
            scan = self._scan()
        except ConfigError as exc:
            return CheckResult(False, str(exc))
        details: dict[str, Any] = {
            "folder": str(scan.folder),
            "read": {entity: path.name for entity, path in scan.files.items()},
            "ignored": {item.name: item.reason for item in scan.ignored},
        }
        if not scan.files:
            return CheckResult(False, self._no_file_message(scan), details=details)
        problems: list[str] = []
        warnings = [str(item) for item in scan.ignored]
        if scan.subfolders:
            warnings.append(f"subfolders are not read: {', '.join(scan.subfolders)}")
        for entity, path in scan.files.items():
            try:
                problems += self._check_header(entity, path, warnings)
                count, first = undecodable_lines(path, self.config.encoding)
            except CrmConnectError as exc:
                problems.append(str(exc))
                continue
            if count:
                warnings.append(
                    f"{path.name}: {count} line{'s' if count > 1 else ''} not valid "
                    f"{self.config.encoding} (first: {first}) will be quarantined; if the "
                    'file was saved in another encoding, set e.g. encoding = "cp1252"')
        found = ", ".join(path.name for path in scan.files.values())
        files = f"{len(scan.files)} file{'s' if len(scan.files) > 1 else ''}"
        return CheckResult(not problems, f"{files} in {scan.folder}: {found}",
                           problems, details, warnings)

    def _check_header(self, entity: str, path: Path, warnings: list[str]) -> list[str]:
        if path.suffix != ".csv":
            return []
        header = csv_header(path, self.config.encoding, self.config.delimiter)
        unknown = [column for column in header if column not in ENTITIES[entity].model_fields]
        if unknown:
            warnings.append(f"{path.name}: columns kept in extra: {', '.join(unknown)}")
        if "id" not in header:
            return [f"{path.name}: no 'id' column in the header row"]
        return []

    def _read_as(self) -> dict[str, str]:
        """How the files are decoded; a state saved under other settings is not reused."""
        return {"encoding": codecs.lookup(self.config.encoding).name,
                "delimiter": self.config.delimiter}

    def _saved_state(self, state: dict[str, Any]) -> dict[str, Any]:
        # The defaults are left out, so the state of a plain connection stays as it was.
        if self._read_as() != _DEFAULT_READ_AS:
            state["read_as"] = self._read_as()
        return state

    def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
        path = self._scan().files.get(stream.entity)
        if path is None:
            raise ConnectorError(
                f"the file {stream.description} left {self.folder} while the sync ran; put "
                "it back and sync again", connection=self.connection)
        state = state or {}
        if state.get("read_as", _DEFAULT_READ_AS) != self._read_as():
            log.info("%s/%s: encoding or delimiter changed; reading %s from the top",
                     self.connection, stream.name, path.name)
            state = {}
        cursor_text = state.get("cursor")
        cursor = _as_utc(cursor_text) if cursor_text else None
        fingerprint = _fingerprint(path)
        resume = state.get("resume") or {}
        if resume.get("fingerprint") != fingerprint:
            resume = {}
        skip_to = int(resume.get("line", 0))
        max_seen = _as_utc(resume.get("max_seen")) or cursor
        fields = set(ENTITIES[stream.entity].model_fields)

        page_size = self.config.page_size
        records: list[dict[str, Any]] = []
        locations: list[str] = []
        rejected: list[Rejected] = []
        last_line = skip_to
        # Rows Arrow read that are not in a page yet: their table, lines, and the largest
        # updated_at seen up to each of them (microseconds, files_arrow.NONE for none).
        held: pa.Table | None = None
        held_lines = np.empty(0, dtype=np.int64)
        held_seen = np.empty(0, dtype=np.int64)

        def page_state() -> dict[str, Any]:
            return self._saved_state({
                "cursor": cursor_text,
                "resume": {
                    "fingerprint": fingerprint,
                    "line": last_line,
                    "max_seen": max_seen.isoformat() if max_seen else None,
                },
            })

        def seen_at(value: int) -> dt.datetime | None:
            return None if value == NONE else from_micros(value)

        def held_locations(lines: Any) -> LineLocations:
            return LineLocations(path.name, lines)

        rows: Iterator[Row] = iter(())
        try:
            for block in self._blocks(path, skip_to):
                if isinstance(block, Fallback):
                    # The rest is read line by line; rows Arrow read join its first page.
                    log.debug("%s/%s: %s is read line by line from line %d on",
                              self.connection, stream.name, path.name, block.line + 1)
                    if held is not None:
                        records, locations = table_records(held), list(held_locations(
                            held_lines))
                        held = None
                    rows = csv_rows_from(path, self.config.encoding, self.config.delimiter,
                                         csv_header(path, self.config.encoding,
                                                    self.config.delimiter),
                                         block.offset, block.line)
                    break
                table, lines = block.table, np.arange(block.first_line, block.last_line + 1)
                if block.first_line <= skip_to:
                    table, lines = table.slice(skip_to - block.first_line + 1), lines[
                        skip_to - block.first_line + 1:]
                updated = updated_micros(table)
                seen = np.maximum.accumulate(np.maximum(updated, micros(max_seen) if max_seen
                                                        else NONE))
                if cursor is not None:
                    keep = (updated == NONE) | (updated >= micros(cursor))
                    if not keep.all():
                        table = table.filter(pa.array(keep))
                        lines, seen_kept = lines[keep], seen[keep]
                    else:
                        seen_kept = seen
                else:
                    seen_kept = seen
                held = table if held is None else pa.concat_tables([held, table])
                held_lines = np.concatenate([held_lines, lines])
                held_seen = np.concatenate([held_seen, seen_kept])
                while held.num_rows >= page_size:
                    last_line, max_seen = int(held_lines[page_size - 1]), seen_at(
                        int(held_seen[page_size - 1]))
                    yield self._page(Page([], page_state(), locations=held_locations(
                        held_lines[:page_size]), table=held.slice(0, page_size)))
                    held, held_lines = held.slice(page_size), held_lines[page_size:]
                    held_seen = held_seen[page_size:]
                if len(seen):
                    max_seen = seen_at(int(seen[-1]))
                last_line = max(last_line, block.last_line)
            else:
                if not self._arrow_reads(path):
                    rows = self._rows(path)
            for row in rows:
                if row.last_line <= skip_to:
                    continue
                last_line = row.last_line
                location = f"{path.name}:{row.lines}"
                if row.values is None:
                    rejected.append(Rejected(row.problem or "unreadable", row.raw, location))
                else:
                    updated_at = _as_utc(row.values.get("updated_at"))
                    if updated_at is not None and (max_seen is None or updated_at > max_seen):
                        max_seen = updated_at
                    if cursor is None or updated_at is None or updated_at >= cursor:
                        records.append(_canonical(row.values, fields))
                        locations.append(location)
                if len(records) + len(rejected) >= page_size:
                    yield Page(records, page_state(), locations=locations, rejected=rejected)
                    records, locations, rejected = [], [], []
        except CrmConnectError:
            # The file cannot be read past this point: keep what was read before it.
            if records or rejected:
                yield Page(records, page_state(), locations=locations, rejected=rejected)
            raise
        final_cursor = max_seen.isoformat() if max_seen else cursor_text
        if held is not None and held.num_rows:
            yield self._page(Page([], self._saved_state({"cursor": final_cursor}),
                                  locations=held_locations(held_lines), table=held))
            return
        yield Page(records, self._saved_state({"cursor": final_cursor}),
                   locations=locations, rejected=rejected)

    def _page(self, page: Page) -> Page:
        """A page of Arrow rows, as dictionaries for a reader that does not take tables."""
        if not self.table_pages:
            page.materialize()
        return page

    def _arrow_reads(self, path: Path) -> bool:
        return self._arrow_start(path) is not None

    def _arrow_start(self, path: Path) -> int | None:
        """Where Arrow starts reading ``path``, or ``None`` when it is read line by line: a
        JSON Lines file, an encoding other than UTF-8, a column that goes to ``extra``, an
        unusual header, or ``CRM_CONNECT_CSV_READER=python``."""
        if (path.suffix != ".csv" or codecs.lookup(self.config.encoding).name != "utf-8"
                or os.environ.get("CRM_CONNECT_CSV_READER", "arrow") == "python"):
            return None
        header = csv_header(path, self.config.encoding, self.config.delimiter)
        if not set(header) <= set(ENTITIES[self._entity_of(path)].model_fields):
            return None
        return arrow_start(path, header, self.config.delimiter)

    def _entity_of(self, path: Path) -> str:
        return path.name.rsplit(".", 1)[0]

    def _blocks(self, path: Path, skip_to: int) -> Iterator[Block | Fallback]:
        start = self._arrow_start(path)
        if start is None:
            return iter(())
        log.debug("%s: %s is read with Arrow's CSV parser", self.connection, path.name)
        header = csv_header(path, self.config.encoding, self.config.delimiter)
        return csv_blocks(path, header, self.config.delimiter, start,
                          max(self.config.page_size, 256), skip_to)

    def _rows(self, path: Path) -> Iterator[Row]:
        if path.suffix == ".csv":
            return csv_rows(path, self.config.encoding, self.config.delimiter)
        return jsonl_rows(path, self.config.encoding)


def _canonical(row: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    """Keep canonical columns; put the others in ``extra`` so nothing is thrown away."""
    if row.keys() <= fields:
        return row
    record: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in row.items():
        if key in fields:
            record[key] = value
        elif value not in ("", None):
            extra[key] = value
    if extra:
        existing = record.get("extra")
        if isinstance(existing, str) and existing:
            try:
                existing = json.loads(existing)
            except json.JSONDecodeError:
                existing = {"extra": existing}
        merged = dict(existing) if isinstance(existing, dict) else {}
        merged.update(extra)
        record["extra"] = merged
    return record


@hookimpl
def register_connectors(register: Any) -> None:
    register(FilesConnector)

