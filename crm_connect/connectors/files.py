"""The built-in ``files`` connector: ``<entity>.csv`` or ``<entity>.jsonl`` exports in a folder.

Column (or key) names are the canonical field names; columns with no canonical home go to
``extra``.  Incremental by ``updated_at``: a run reads the rows whose ``updated_at`` is at or
after the largest one the previous run stored (rows without one are always read; re-reading a
row changes nothing).  While a file is read, the state also records the last line stored, so a
sync killed halfway resumes at that line as long as the file has not changed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from crm_connect.connector import CheckResult, Connector, ConnectorConfig, Page, Rejected, Stream
from crm_connect.errors import ConfigError
from crm_connect.hookspecs import hookimpl
from crm_connect.schema import ENTITIES, _parse_datetime

__all__ = ["FilesConfig", "FilesConnector"]

SUFFIXES = (".csv", ".jsonl")


class FilesConfig(ConnectorConfig):
    path: str = Field(description="Folder holding <entity>.csv or <entity>.jsonl files.")
    page_size: int = Field(default=5000, ge=1, le=1_000_000,
                           description="Records validated and stored per transaction.")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8"


def _as_utc(value: Any) -> dt.datetime | None:
    """The row's ``updated_at`` as an aware UTC datetime, or ``None`` when it has none or it
    does not parse (validation then quarantines the row)."""
    parsed = _parse_datetime(value)
    return parsed if isinstance(parsed, dt.datetime) else None


def _fingerprint(path: Path) -> str:
    info = path.stat()
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

    def _files(self) -> dict[str, Path]:
        folder = self.folder
        if not folder.is_dir():
            raise ConfigError(
                f"connection {self.connection!r}: the folder {folder} does not exist "
                "(check `path` in its [connections] table; a relative path is read from the "
                "configuration file's folder)"
            )
        found: dict[str, Path] = {}
        for entity in ENTITIES:
            candidates = [folder / f"{entity}{suffix}" for suffix in SUFFIXES]
            present = [path for path in candidates if path.is_file()]
            if len(present) > 1:
                raise ConfigError(
                    f"connection {self.connection!r}: both {present[0].name} and "
                    f"{present[1].name} exist in {folder}; keep one file per entity"
                )
            if present:
                found[entity] = present[0]
        return found

    def streams(self) -> Sequence[Stream]:
        return [
            Stream(entity, entity, "updated_at", f"{path.name}")
            for entity, path in self._files().items()
        ]

    def check(self) -> CheckResult:
        try:
            files = self._files()
        except ConfigError as exc:
            return CheckResult(False, str(exc))
        problems = []
        for entity, path in files.items():
            if path.suffix == ".csv":
                with path.open(newline="", encoding=self.config.encoding) as handle:
                    header = next(csv.reader(handle, delimiter=self.config.delimiter), [])
                if "id" not in header:
                    problems.append(f"{path.name}: no 'id' column in the header row")
                unknown = [c for c in header if c not in ENTITIES[entity].model_fields]
                if unknown:
                    problems.append(f"{path.name}: columns kept in extra: {', '.join(unknown)}")
        if not files:
            names = ", ".join(f"{entity}.csv" for entity in ENTITIES)
            return CheckResult(False, f"no export files in {self.folder} (expected {names})")
        ok = not any("no 'id' column" in problem for problem in problems)
        found = ", ".join(path.name for path in files.values())
        return CheckResult(ok, f"{len(files)} files in {self.folder}: {found}", problems)

    def read(self, stream: Stream, state: dict[str, Any] | None) -> Iterator[Page]:
        path = self._files().get(stream.entity)
        if path is None:
            return
        state = state or {}
        cursor_text = state.get("cursor")
        cursor = _as_utc(cursor_text) if cursor_text else None
        fingerprint = _fingerprint(path)
        resume = state.get("resume") or {}
        if resume.get("fingerprint") != fingerprint:
            resume = {}
        skip_to = int(resume.get("line", 0))
        max_seen = _as_utc(resume.get("max_seen")) or cursor
        fields = set(ENTITIES[stream.entity].model_fields)

        records: list[dict[str, Any]] = []
        locations: list[str] = []
        rejected: list[Rejected] = []
        last_line = skip_to

        def page_state() -> dict[str, Any]:
            return {
                "cursor": cursor_text,
                "resume": {
                    "fingerprint": fingerprint,
                    "line": last_line,
                    "max_seen": max_seen.isoformat() if max_seen else None,
                },
            }

        rows = self._rows(path) if path.suffix == ".csv" else self._json_rows(path)
        for line, row, problem in rows:
            if line <= skip_to:
                continue
            last_line = line
            location = f"{path.name}:{line}"
            if problem is not None:
                rejected.append(Rejected(problem, row, location))
            else:
                assert isinstance(row, dict)
                updated = _as_utc(row.get("updated_at"))
                if updated is not None and (max_seen is None or updated > max_seen):
                    max_seen = updated
                if cursor is None or updated is None or updated >= cursor:
                    records.append(_canonical(row, fields))
                    locations.append(location)
            if len(records) + len(rejected) >= self.config.page_size:
                yield Page(records, page_state(), locations=locations, rejected=rejected)
                records, locations, rejected = [], [], []
        final_cursor = max_seen.isoformat() if max_seen else cursor_text
        yield Page(records, {"cursor": final_cursor}, locations=locations, rejected=rejected)

    def _rows(self, path: Path) -> Iterator[tuple[int, Any, str | None]]:
        with path.open(newline="", encoding=self.config.encoding) as handle:
            reader = csv.reader(handle, delimiter=self.config.delimiter)
            try:
                header = next(reader)
            except StopIteration:
                return
            width = len(header)
            try:
                for row in reader:
                    if not row:
                        continue
                    if len(row) != width:
                        problem = f"expected {width} columns as in the header, found {len(row)}"
                        yield reader.line_num, row, problem
                        continue
                    # Blank cells are absent values: leave them out rather than pass "".
                    record = {k: v for k, v in zip(header, row, strict=True) if v}
                    yield reader.line_num, record, None
            except (csv.Error, UnicodeDecodeError) as exc:
                yield reader.line_num, None, f"unreadable CSV: {exc}"

    def _json_rows(self, path: Path) -> Iterator[tuple[int, Any, str | None]]:
        with path.open(encoding=self.config.encoding) as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield number, text.rstrip("\n"), f"invalid JSON: {exc}"
                    continue
                if not isinstance(row, dict):
                    yield number, row, "a line must hold one JSON object"
                    continue
                yield number, row, None


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

