"""Which files of an export folder the ``files`` connector reads, and why it ignores the others.

A file is read when its name is exactly ``<entity>.csv`` or ``<entity>.jsonl``.  Every other
file is listed with the reason it is not read and, when one is close, the name it should have
(``Accounts.csv`` -> ``accounts.csv``, ``opportunities.csv`` -> ``deals.csv``).  Hidden files
(``.DS_Store``) and office lock files (``~$deals.xlsx``) are not exports and are left out.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from crm_connect.errors import ConfigError
from crm_connect.schema import ENTITIES

__all__ = ["SUFFIXES", "FolderScan", "Ignored", "expected_names", "scan_folder"]

SUFFIXES = (".csv", ".jsonl")

# What other tools call the canonical entities: a file named so is most likely that entity.
_ALIASES = {
    "account": "accounts", "companies": "accounts", "company": "accounts",
    "organizations": "accounts", "organisations": "accounts", "customers": "accounts",
    "contact": "contacts", "people": "contacts", "persons": "contacts",
    "lead": "leads", "prospects": "leads",
    "deal": "deals", "opportunities": "deals", "opportunity": "deals", "opps": "deals",
    "activity": "activities", "tasks": "activities", "events": "activities",
    "calls": "activities", "emails": "activities", "meetings": "activities",
    "notes": "activities", "engagements": "activities",
    "ticket": "tickets", "cases": "tickets", "case": "tickets",
    "campaign": "campaigns",
    "survey_response": "survey_responses", "surveys": "survey_responses",
    "responses": "survey_responses", "feedback": "survey_responses", "nps": "survey_responses",
    "user": "users", "owners": "users", "employees": "users",
    "contract": "contracts", "subscriptions": "contracts",
    "costs": "spend", "expenses": "spend", "budgets": "spend",
}


def expected_names() -> str:
    """The entity names a file may have, for messages."""
    return ", ".join(ENTITIES)


@dataclass(frozen=True)
class Ignored:
    """A file the connector does not read, and why."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name} is not read: {self.reason}"


@dataclass
class FolderScan:
    """What an export folder holds: the file of each entity, and the files not read."""

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    ignored: list[Ignored] = field(default_factory=list)
    subfolders: list[str] = field(default_factory=list)


def _entity_like(stem: str) -> str | None:
    """The entity a file stem most likely names (case, spaces, aliases and typos forgiven)."""
    key = re.sub(r"[\s-]+", "_", stem.strip().lower())
    if key in ENTITIES:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, [*ENTITIES, *_ALIASES], n=1, cutoff=0.8)
    if not close:
        return None
    return close[0] if close[0] in ENTITIES else _ALIASES[close[0]]


def why_ignored(name: str) -> str:
    """Why a file called ``name`` is not read, with the name to give it when one is close."""
    suffix = next((s for s in SUFFIXES if name.lower().endswith(s)), None)
    if suffix is None:
        entity = _entity_like(name.partition(".")[0])
        hint = f"; save it as {entity}.csv or {entity}.jsonl" if entity else ""
        return f"only .csv and .jsonl (one JSON object per line) files are read{hint}"
    stem = name[: -len(suffix)]
    entity = _entity_like(stem)
    if entity is None:
        return (f"{stem!r} is not an entity name; files are named <entity>{suffix} with "
                f"<entity> one of {expected_names()}")
    expected = f"{entity}{suffix}"
    if expected.lower() == re.sub(r"[\s-]+", "_", name.strip().lower()):
        return f"file names are matched exactly: rename it to {expected}"
    return f"{stem!r} is not an entity name: rename it to {expected} if it holds {entity}"


def scan_folder(folder: Path, connection: str) -> FolderScan:
    """Sort the entries of ``folder`` into the files to read and the ones ignored.

    :raises ConfigError: the folder is missing or unreadable, or one entity has both a
        ``.csv`` and a ``.jsonl`` file.
    """
    where = ("check `path` in its [connections] table; a relative path is read from the "
             "configuration file's folder")
    if not folder.exists():
        raise ConfigError(f"connection {connection!r}: the folder {folder} does not exist "
                          f"({where})")
    if not folder.is_dir():
        raise ConfigError(f"connection {connection!r}: {folder} is a file, not a folder "
                          f"({where})")
    try:
        entries = sorted(folder.iterdir(), key=lambda entry: entry.name)
    except OSError as exc:
        raise ConfigError(f"connection {connection!r}: the folder {folder} cannot be listed "
                          f"({exc.strerror}); check its permissions") from None
    scan = FolderScan(folder)
    by_entity: dict[str, list[Path]] = {}
    for entry in entries:
        if entry.name.startswith((".", "~")):
            continue
        if entry.is_dir():
            scan.subfolders.append(entry.name)
            continue
        stem, suffix = entry.name.rsplit(".", 1) if "." in entry.name else (entry.name, "")
        if stem in ENTITIES and f".{suffix}" in SUFFIXES:
            by_entity.setdefault(stem, []).append(entry)
        else:
            scan.ignored.append(Ignored(entry.name, why_ignored(entry.name)))
    for entity in ENTITIES:
        present = by_entity.get(entity, [])
        if len(present) > 1:
            raise ConfigError(
                f"connection {connection!r}: both {present[0].name} and {present[1].name} "
                f"exist in {folder}; keep one file per entity")
        if present:
            scan.files[entity] = present[0]
    return scan
