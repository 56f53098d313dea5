"""The report under a resolution (issue 19): once ``crm-connect resolve`` ran, the report shows
how many records resolved into how many customers and the KPIs that count customers both ways
(per record, and each customer once), beside the per-record report it always was; before
resolve, or without a resolution, the report has no such section.  The figures are checked
against ``crm-connect kpis`` with and without ``--unify`` on the same store."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from report_stores import AS_OF, kpis_json, resolved_store

from conftest import run_cli


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return resolved_store(tmp_path_factory)


def _section(text: str, anchor: str) -> str:
    start = text.index(f'<section id="{anchor}">')
    return text[start:text.index("</section>", start)]


def _plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_before_resolve_the_report_has_no_unified_view(resolved: Path) -> None:
    before = (resolved / "before.html").read_text(encoding="utf-8")
    assert 'id="unified"' not in before and "counted once" not in before
    after = (resolved / "report.html").read_text(encoding="utf-8")
    assert '<a href="#unified">' in after and 'id="unified"' in after


def test_the_report_says_how_many_records_resolved_into_how_many_customers(
        resolved: Path) -> None:
    section = _section((resolved / "report.html").read_text(encoding="utf-8"), "unified")
    with duckdb.connect(str(resolved / "crm.duckdb"), read_only=True) as db:
        truth = db.execute("SELECT entity, count(*), count(DISTINCT cluster_id) "
                           "FROM resolved_entities GROUP BY entity").fetchall()
    assert {entity for entity, _, _ in truth} == {"accounts", "contacts", "leads"}
    nouns = {"accounts": ("account", "customers"), "contacts": ("contact", "people"),
             "leads": ("lead", "leads")}
    for entity, records, clusters in truth:
        assert clusters < records  # the two exports share companies and people
        tile = section[section.index(f'data-entity="{entity}"'):]
        tile = _plain(tile[:tile.index('<div class="tile-foot">')])
        noun, into = nouns[entity]
        assert f"{records:,} {noun} records resolved into {clusters:,} {into}" in tile
    # the same counts ``kpis --unify`` prints under its table
    printed = run_cli("kpis", "--unify", "--metric", "active_customers", "--as-of", AS_OF,
                      cwd=resolved)
    assert printed.returncode == 0, printed.stderr
    accounts = next(row for row in truth if row[0] == "accounts")
    assert (f"{accounts[1]:,} account records from 2 sources are {accounts[2]:,} customers"
            in printed.stdout + printed.stderr)


def _cells(section: str, metric: str) -> list[str]:
    row = section[section.index(f'<span class="key">{metric}</span>'):]
    row = row[:row.index("</tr>")]
    return [_plain(cell) for cell in re.findall(r'<td class="num">(.*?)</td>', row)]


def test_customer_kpis_are_shown_per_record_and_counted_once(resolved: Path) -> None:
    text = (resolved / "report.html").read_text(encoding="utf-8")
    section = _section(text, "unified")
    plain = kpis_json(resolved, "--metric", "active_customers", "--no-unify")[-1]
    unified = kpis_json(resolved, "--metric", "active_customers", "--unify")[-1]
    assert unified["value"] != plain["value"]  # one customer in two sources counts once
    assert _cells(section, "active_customers") == [f"{plain['value']:,}",
                                                    f"{unified['value']:,}"]
    assert '<span class="key">revenue</span>' not in section  # revenue counts no customer
    # the headline tile shows the per-record value with the unified one beside it
    tile = text[text.index('<div class="tile" data-metric="active_customers">'):]
    tile = _plain(tile[:tile.index('<div class="tile-foot">')])
    assert tile.startswith(f"Active customers {plain['value']:,}")
    assert f"customers counted once : {unified['value']:,}" in tile
    revenue_tile = text[text.index('<div class="tile" data-metric="revenue">'):]
    assert "counted once" not in revenue_tile[:revenue_tile.index('<div class="tile-foot">')]
    # the per-record tiles and table stay what they were
    assert _section(text, "table") == _section(
        (resolved / "before.html").read_text(encoding="utf-8"), "table")
    # a customer KPI's trend draws both lines; a KPI counting no customer one
    trends = _section(text, "trends")
    customers = trends[trends.index('data-chart="trend-active_customers"'):]
    customers = customers[:customers.index('<div class="card">')]
    assert "customers counted once" in customers and "per record" in customers
    revenue = trends[trends.index('data-chart="trend-revenue"'):]
    assert "customers counted once" not in revenue[:revenue.index('<div class="card">')]


def test_unify_asked_for_before_resolve_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "crm-connect.toml").write_text(
        '[reporting]\nunify = true\n[connections.east]\nconnector = "files"\n'
        'path = "exports/"\n', encoding="utf-8")
    from crm_connect.sample import write_sample_export

    write_sample_export(tmp_path / "exports", scale=0.05, seed=3)
    assert run_cli("sync", cwd=tmp_path).returncode == 0
    result = run_cli("report", "--out", "report.html", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "crm-connect resolve" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "report.html").exists()


def test_run_report_picks_up_the_resolution(resolved: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "project"
    shutil.copytree(resolved, copy, ignore=shutil.ignore_patterns("*.html"))
    result = run_cli("run", "--report", "run.html", cwd=copy)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (copy / "run.html").read_text(encoding="utf-8")
    assert 'data-entity="accounts"' in _section(text, "unified")
