"""The report in a real browser: headless Chromium (Debian's ``chromium``, driven by
Playwright, which never downloads a browser of its own) opens each report from its file and
checks what a person would see: every chart drawn (a non-empty SVG per chart), no request
of any kind beyond the file itself, no console error, no overlapping axis labels.  A
1400 px wide full-page screenshot of each is kept under ``$CRM_CONNECT_ARTIFACTS`` (default:
the test's temporary folder).

Outside CI, without ``chromium`` installed, the tests are skipped saying so; in CI
(``CI=true``) they fail: ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_stores import report_of, resolved_store

CHROMIUM = Path(os.environ.get("CRM_CONNECT_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH = 1400


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; .ci/run installs it (apt-get install chromium)")
    pytest.skip(f"{reason}: install Debian's chromium to run the report's browser tests")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    if not CHROMIUM.is_file():
        _unavailable(f"no Chromium at {CHROMIUM}")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=FLAGS, headless=True,
            viewport={"width": WIDTH, "height": 900}, service_workers="block")
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CRM_CONNECT_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


_CHARTS = """() => [...document.querySelectorAll('.chart')].map(chart => {
  const svg = chart.querySelector('svg.main-svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {id: chart.dataset.chart, width: box.width, height: box.height,
          marks: chart.querySelectorAll('.trace path, .trace rect, .slice path, .point').length};
})"""

_OVERLAPS = """() => {
  const found = [];
  for (const chart of document.querySelectorAll('.chart')) {
    for (const axis of ['.xtick text', '.ytick text']) {
      const boxes = [...chart.querySelectorAll(axis)]
        .filter(t => t.textContent.trim()).map(t => t.getBoundingClientRect());
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++) {
          const a = boxes[i], b = boxes[j];
          if (a.left < b.right - 1 && b.left < a.right - 1 &&
              a.top < b.bottom - 1 && b.top < a.bottom - 1)
            found.push(chart.dataset.chart + ' ' + axis);
        }
    }
  }
  return found;
}"""


def _open(browser: Any, report: Path) -> tuple[Any, list[str], list[str]]:
    """The report opened in a new page; the requests beyond the file, the console errors."""
    page = browser.new_page()
    url = report.resolve().as_uri()
    requests: list[str] = []
    errors: list[str] = []

    def route(request_route: Any) -> None:
        if request_route.request.url == url:
            request_route.continue_()
        else:
            requests.append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url, wait_until="load")
    page.wait_for_function("() => [...document.querySelectorAll('.chart')].every("
                           "c => c.querySelector('svg.main-svg'))", timeout=60_000)
    return page, requests, errors


def _png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


@pytest.mark.parametrize("layout", ["two", "one", "gaps"])
def test_the_report_renders_offline_without_errors(
        browser: Any, artifacts: Path, tmp_path_factory: pytest.TempPathFactory,
        layout: str) -> None:
    report = report_of(tmp_path_factory, layout)
    page, requests, errors = _open(browser, report)
    try:
        charts = page.evaluate(_CHARTS)
        empty = page.evaluate("() => [...document.querySelectorAll('.chart-empty')]"
                              ".map(e => e.textContent.trim())")
        overlaps = page.evaluate(_OVERLAPS)
        shot = artifacts / f"report-{layout}.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    print(f"screenshot of the {layout!r} report: {shot}")
    assert requests == [], "the report must load nothing beyond its own file"
    assert errors == []
    assert len(charts) > 40
    blank = [c["id"] for c in charts if c["width"] < 100 or c["height"] < 100 or not c["marks"]]
    assert blank == [], "every chart draws its data"
    assert all(text.startswith("No ") for text in empty), empty
    assert overlaps == []
    width, height = _png_size(shot)
    assert width == WIDTH and height > 3000


def test_a_group_without_data_shows_no_data_messages_not_empty_frames(
        browser: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    report = report_of(tmp_path_factory, "gaps")
    page, _, errors = _open(browser, report)
    try:
        nps = page.locator('[data-chart="trend-net_promoter_score"]')
        assert nps.get_attribute("class") == "chart-empty"
        assert "No data" in nps.inner_text()
        assert nps.bounding_box()["height"] > 100
        assert page.locator('[data-chart="trend-revenue"] svg.main-svg').count() >= 1
    finally:
        page.close()
    assert errors == []


def test_a_resolved_store_shows_both_views(browser: Any,
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    """After ``crm-connect resolve``: the unified section with a tile per resolved entity,
    and a customer KPI's trend drawn twice (per record, each customer once)."""
    report = resolved_store(tmp_path_factory) / "report.html"
    page, requests, errors = _open(browser, report)
    try:
        page.locator('nav a[href="#unified"]').click()
        tiles = page.locator("#unified .tile.resolved")
        assert tiles.count() == 3 and tiles.first.is_visible()
        assert "resolved into" in tiles.first.inner_text()
        lines = page.locator('[data-chart="trend-active_customers"] .scatterlayer .trace')
        assert lines.count() == 2
        overlaps = page.evaluate(_OVERLAPS)
    finally:
        page.close()
    assert requests == [] and errors == [] and overlaps == []
