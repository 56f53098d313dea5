"""Stores for the report's tests, built as a user builds them: sample exports in folders,
a ``crm-connect.toml`` with ``files`` connections, ``crm-connect sync``; then
``crm-connect report`` writes the HTML.  Each layout is built once per test session.

Layouts:

``two``
    two connections (``east``, a full export; ``west``, a smaller one without surveys), for
    the breakdowns by source.
``one``
    one connection with a full export.
``gaps``
    one connection without surveys, tickets or spend: the satisfaction and support groups
    have no data, and the KPIs that need spend are null; one deal has an amount that is not
    a number, and is quarantined.

:func:`resolved_store` is ``two`` after ``crm-connect resolve``, reported before and after.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from crm_connect.sample import write_sample_export

AS_OF = "2026-12-15T00:00:00Z"

LAYOUTS: dict[str, dict[str, tuple[int, float, tuple[str, ...]]]] = {
    "two": {"east": (3, 0.2, ()), "west": (11, 0.1, ("survey_responses",))},
    "one": {"east": (3, 0.2, ())},
    "gaps": {"east": (3, 0.2, ("survey_responses", "tickets", "spend"))},
}

_BUILT: dict[str, Path] = {}


def build_store(folder: Path, layout: str) -> Path:
    """A synced project folder for ``layout``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ['[reporting]\ncurrency = "USD"\nrates = { EUR = 1.08 }\n',
             "[targets]\nwin_rate = { value = 50.0 }\ncustomer_churn_rate = { value = 1.0 }\n"]
    for name, (seed, scale, dropped) in LAYOUTS[layout].items():
        exports = folder / f"exports-{name}"
        write_sample_export(exports, scale=scale, seed=seed)
        for entity in dropped:
            (exports / f"{entity}.csv").unlink()
        if layout == "gaps":
            with (exports / "deals.csv").open("a", encoding="utf-8") as deals:
                deals.write("DBAD,2026-05-01T00:00:00Z,2026-05-01T00:00:00Z,,Bad deal,A1,U1,"
                            "default,open,lots,USD,new_business,web,,,False,False,10\n")
        lines.append(f'[connections.{name}]\nconnector = "files"\npath = "exports-{name}/"\n')
    (folder / "crm-connect.toml").write_text("\n".join(lines), encoding="utf-8")
    result = run_cli("sync", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


def write_report(folder: Path, *args: str, out: str = "report.html") -> str:
    """Run ``crm-connect report`` in ``folder``; the HTML it wrote."""
    result = run_cli("report", "--out", out, "--as-of", AS_OF, *args, cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return (folder / out).read_text(encoding="utf-8")


def report_of(tmp_path_factory: pytest.TempPathFactory, layout: str) -> Path:
    """The report of ``layout`` (stores and reports are built once per session)."""
    if layout not in _BUILT:
        folder = build_store(tmp_path_factory.mktemp(f"report-{layout}"), layout)
        write_report(folder)
        _BUILT[layout] = folder / "report.html"
    return _BUILT[layout]


def resolved_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``two`` layout synced, its report written before ``crm-connect resolve`` ran
    (``before.html``), then resolved and reported again (``report.html``).  The two sample
    exports share companies and people, so records resolve into fewer customers."""
    if "resolved" not in _BUILT:
        folder = build_store(tmp_path_factory.mktemp("report-resolved"), "two")
        write_report(folder, out="before.html")
        result = run_cli("resolve", cwd=folder)
        assert result.returncode == 0, result.stdout + result.stderr
        write_report(folder)
        _BUILT["resolved"] = folder
    return _BUILT["resolved"]


def kpis_json(folder: Path, *args: str) -> list[dict[str, object]]:
    result = run_cli("kpis", "--format", "json", "--as-of", AS_OF, *args, cwd=folder)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows
