"""The review loop: uncertain pairs out to a CSV, a reviewer's decisions back in.

The review file has one row per pair whose match probability lies between the review and the
match thresholds, both records side by side, and an empty ``decision`` column; a reviewer
writes ``match`` or ``no-match`` there and hands the file back with ``--decisions``.  Decisions
are stored and win over the model (and the rules) in every later run.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crm_connect.errors import ConfigError

__all__ = ["DECISIONS", "read_decisions", "write_review"]

DECISIONS = {"match": "match", "same": "match", "yes": "match", "no-match": "no-match",
             "no_match": "no-match", "nomatch": "no-match", "different": "no-match",
             "no": "no-match"}
KEY_COLUMNS = ("entity", "source_l", "id_l", "source_r", "id_r")


def write_review(path: Path, rows: Sequence[dict[str, Any]], shown: Sequence[str]) -> None:
    """Write the uncertain pairs: keys, probability, what decided, each side's ``shown``
    fields, and the empty ``decision`` column."""
    columns = [*KEY_COLUMNS, "match_probability", "decided_by",
               *(f"{name}_{side}" for name in shown for side in ("l", "r")), "decision"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "decision": row.get("decision") or ""})


def read_decisions(path: Path) -> list[dict[str, str]]:
    """The filled-in decisions of a review file (rows left blank are skipped)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in (*KEY_COLUMNS, "decision")
                       if name not in (reader.fieldnames or ())]
            if missing:
                raise ConfigError(f"{path}: a decisions file needs the columns "
                                  f"{', '.join(missing)} (write it with --review)")
            rows = []
            for line, row in enumerate(reader, start=2):
                text = (row.get("decision") or "").strip().lower()
                if not text:
                    continue
                if text not in DECISIONS:
                    raise ConfigError(f"{path}, line {line}: decision {text!r} is neither "
                                      "'match' nor 'no-match'")
                rows.append({**{k: (row[k] or "").strip() for k in KEY_COLUMNS},
                             "decision": DECISIONS[text]})
            return rows
    except OSError as exc:
        raise ConfigError(f"cannot read the decisions file {path}: {exc.strerror}") from None
