"""``crm-connect report`` writes one self-contained HTML file a person can read: every KPI
group's headline tiles, trends, breakdowns by source and owner, the lead-source mix, the
funnel, every KPI with its numerator and denominator, why some KPIs are null, and what each
connection synced.  The stores are built through the real command line (see
``report_stores``); the browser checks are in ``test_report_browser.py``."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_stores import AS_OF, build_store, kpis_json, report_of, write_report

from conftest import run_cli, run_cli_process
from crm_connect.metrics import get_kpis

GROUPS = ("Sales", "Customers and revenue", "Satisfaction", "Marketing", "Support",
          "CRM adoption")


class _Page(HTMLParser):
    """The parts of a page the tests look at: external references, scripts, text by id."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.scripts = 0
        self.script_sources: list[str] = []
        self.headings: list[str] = []
        self._tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data") and value:
                self.references.append(value)
        if tag == "script":
            self.scripts += 1
        if tag == "link":
            self.references.append(str(dict(attrs).get("href")))

    def handle_data(self, data: str) -> None:
        if self._tag in ("h2", "h3") and data.strip():
            self.headings.append(data.strip())

    def handle_endtag(self, tag: str) -> None:
        self._tag = None


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _section(text: str, anchor: str) -> str:
    start = text.index(f'<section id="{anchor}">')
    return text[start:text.index("</section>", start)]


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report_of(tmp_path_factory, "two")


@pytest.fixture(scope="module")
def gaps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report_of(tmp_path_factory, "gaps")


def test_the_report_is_one_file_that_loads_nothing(two: Path) -> None:
    text = two.read_text(encoding="utf-8")
    page = _parse(text)
    # Only links inside the page: no stylesheet, font, image or script from anywhere.
    assert page.references, "the page has its navigation links"
    assert all(reference.startswith("#") for reference in page.references), page.references
    assert "@import" not in text and "url(" not in _style(text)
    # plotly.js is embedded exactly once, however many charts there are.
    assert text.count("* plotly.js v") == 1
    assert text.count("Plotly.newPlot(") > 40


def _style(text: str) -> str:
    return text[text.index("<style>"):text.index("</style>")]


def test_every_kpi_group_has_its_tiles_and_every_kpi_its_row(two: Path) -> None:
    text = two.read_text(encoding="utf-8")
    headlines = _section(text, "headlines")
    headings = _parse(headlines).headings
    for group in GROUPS:
        assert group in headings
    definitions = get_kpis()
    assert len(re.findall(r'class="tile" data-metric="', headlines)) == len(definitions)
    table = _section(text, "table")
    for key in definitions:
        assert f'<span class="key">{key}</span>' in table
    trends = _section(text, "trends")
    for key in definitions:
        assert f'data-chart="trend-{key}"' in trends


def test_tiles_show_the_latest_value_against_the_period_before_target_and_benchmark(
        two: Path) -> None:
    """The tiles agree with `crm-connect kpis` for the same period, and say better or worse
    with the KPI's direction."""
    folder = two.parent
    rows = kpis_json(folder, "--metric", "revenue", "--metric", "win_rate",
                     "--metric", "customer_churn_rate")
    latest = max(str(row["period_start"]) for row in rows)
    by_metric = {row["metric"]: row for row in rows
                 if row["period_start"] == latest and not row["dimensions"]}
    text = two.read_text(encoding="utf-8")
    tile = _tile(text, "revenue")
    assert f"${by_metric['revenue']['value']:,.0f}" in tile
    previous = by_metric["revenue"]["comparisons"]["previous"]  # type: ignore[index]
    verdict = "good" if previous["verdict"] == "better" else "bad"
    assert f'class="cmp {verdict}"' in tile and "vs previous month" in tile
    win = _tile(text, "win_rate")
    assert f"{by_metric['win_rate']['value']:.1f}%" in win
    assert "target 50.0%" in win
    churn = _tile(text, "customer_churn_rate")
    assert "industry 3.0%\u20137.0%" in churn and "target 1.0%" in churn
    assert "lower is better" in churn


def _tile(text: str, metric: str) -> str:
    start = text.index(f'<div class="tile" data-metric="{metric}">')
    foot = text.index('<div class="tile-foot">', start)
    return text[start:text.index("</div>", foot)]


def test_breakdowns_show_each_source_and_owners_by_name(two: Path) -> None:
    text = two.read_text(encoding="utf-8")
    by_source = _section(text, "by-source")
    assert '"east"' in by_source and '"west"' in by_source
    by_owner = _section(text, "by-owner")
    assert re.search(r'"User \d+"', by_owner), "owners are shown by name, not by id"
    pipeline = _section(text, "pipeline")
    assert 'data-chart="mix-lead-source"' in pipeline
    assert "Leads converted" in pipeline and "Deals won" in pipeline
    leads = sum(int(str(row["value"])) for row in kpis_json(two.parent, "--metric",
                                                              "leads_created")
                if not row["dimensions"] and row["value"] is not None)
    assert f'"{leads:,}"' in pipeline, "the funnel starts at every lead created in the range"
    assert "paid search" in pipeline


def test_the_data_panel_shows_each_connections_sync_and_records(two: Path) -> None:
    data = _section(two.read_text(encoding="utf-8"), "data")
    for name in ("east", "west"):
        assert f'<span class="conn">{name}</span>' in data
    assert "succeeded" in data
    # The records of each entity per connection: west synced no survey responses.
    deals = re.search(r"<td[^>]*>deals</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", data)
    assert deals is not None
    east, west, total = (int(cell.replace(",", "")) for cell in
                         re.findall(r">([\d,]+)<", deals.group(1)))
    assert east > west > 0 and total == east + west
    surveys = re.search(r"<td[^>]*>survey_responses</td>((?:<td[^>]*>[^<]*</td>)+)</tr>",
                        data)
    assert surveys is not None
    assert re.findall(r">([\d,]+)<", surveys.group(1))[1] == "0"


def test_a_group_without_data_and_null_kpis_say_why(gaps: Path) -> None:
    text = gaps.read_text(encoding="utf-8")
    headlines = _section(text, "headlines")
    satisfaction = headlines[headlines.index("<h3>Satisfaction</h3>"):]
    assert satisfaction.index("No data for this group") < satisfaction.index("<h3>", 4)
    assert 'data-chart="trend-net_promoter_score"' in text
    assert re.search(r'class="chart-empty" data-chart="trend-net_promoter_score"', text)
    why = _section(text, "why")
    nps = why[why.index("net_promoter_score"):]
    assert "missing input" in nps[:400]
    assert "no configured connection offers them" in nps[:800]
    cac = why[why.index("customer_acquisition_cost"):]
    assert "spend" in cac[:800]
    data = _section(text, "data")
    assert re.search(r'<span class="conn">east</span></td>(?:<td[^>]*>[^<]*</td>){4}'
                     r'<td class="num">1</td></tr>', data), \
        "the deal whose amount is not a number is counted as quarantined"
    by_channel = _section(text, "by-ticket_channel")
    assert "No first response time by ticket channel" in by_channel


def test_history_reports_draw_the_saved_snapshots(tmp_path: Path) -> None:
    folder = build_store(tmp_path / "history", "one")
    missing = run_cli("report", "--from-history", "--as-of", AS_OF, cwd=folder)
    assert missing.returncode == 1
    assert "kpis --save" in missing.stderr and "Traceback" not in missing.stderr
    for moment in ("2026-10-05T00:00:00Z", AS_OF):
        saved = run_cli("kpis", "--save", "--as-of", moment, "--by", "source", cwd=folder)
        assert saved.returncode == 0, saved.stderr
    text = write_report(folder, "--from-history", "--by", "source")
    assert "from the saved KPI history" in text
    computed = kpis_json(folder, "--metric", "revenue")
    latest = max((row for row in computed if not row["dimensions"]),
                 key=lambda row: str(row["period_start"]))
    assert f"${latest['value']:,.0f}" in _tile(text, "revenue")
    assert 'class="chart" data-chart="trend-revenue"' in text
    assert 'class="chart" data-chart="bars-source-revenue"' in text


def test_the_installed_command_reports_at_another_grain_and_range(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    folder = report_of(tmp_path_factory, "one").parent
    out = tmp_path / "quarterly.html"
    result = run_cli_process("report", "--out", str(out), "--grain", "quarter",
                             "--from", "2026-01-01", "--to", "2026-09-30", "--as-of", AS_OF,
                             "--by", "lead_source", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stderr.replace("\n", "")
    text = out.read_text(encoding="utf-8")
    assert "Q1 2026 \u2013 Q3 2026 by quarter" in text
    assert 'id="by-lead_source"' in text and 'id="by-owner"' not in text


@pytest.mark.parametrize(("args", "message"), [
    (("--by", "colour"), "unknown dimension 'colour'"),
    (("--grain", "decade"), "unknown grain 'decade'"),
    (("--from", "yesterday"), "is not a date"),
    (("--out", "missing-folder/report.html"), "does not exist"),
])
def test_mistakes_are_clear_errors(tmp_path_factory: pytest.TempPathFactory,
                                   args: tuple[str, ...], message: str) -> None:
    folder = report_of(tmp_path_factory, "one").parent
    result = run_cli("report", "--as-of", AS_OF, *args, cwd=folder)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_an_empty_store_asks_for_a_sync_first(tmp_path: Path) -> None:
    (tmp_path / "crm-connect.toml").write_text(
        '[connections.crm]\nconnector = "files"\npath = "exports/"\n', encoding="utf-8")
    result = run_cli("report", cwd=tmp_path)
    assert result.returncode == 1
    assert "crm-connect sync" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "report.html").exists()
