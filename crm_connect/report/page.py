"""The report's HTML: one self-contained page (styles inline, plotly.js embedded once, no
font, image or script fetched from anywhere), assembled from the gathered data and the
charts.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crm_connect.metrics import KpiDefinition, KpiRow
from crm_connect.report.charts import (
    Chart,
    bar_chart,
    funnel_chart,
    mix_chart,
    plotly_script,
    trend_chart,
)
from crm_connect.report.data import ReportData, breakdown_metrics
from crm_connect.report.numbers import DASH, format_change, format_value, period_label
from crm_connect.report.reasons import null_reasons
from crm_connect.report.style import STYLE

__all__ = ["GROUPS", "render_page"]

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Sales", ("sales",)),
    ("Customers and revenue", ("customers", "revenue")),
    ("Satisfaction", ("satisfaction",)),
    ("Marketing", ("marketing",)),
    ("Support", ("support",)),
    ("CRM adoption", ("adoption",)),
)
_RESOLVED_NOUNS = {"accounts": ("account", "customers"), "contacts": ("contact", "people"),
                   "leads": ("lead", "leads")}
_GOOD = {"better", "on_track", "within"}
_BAD = {"worse", "off_track"}


def e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def groups(definitions: Mapping[str, KpiDefinition]) -> list[tuple[str, list[str]]]:
    """(title, KPI keys) per catalogue group; a plugin's own categories come last."""
    found: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for title, categories in GROUPS:
        keys = [key for key, d in definitions.items() if d.category in categories]
        seen.update(categories)
        found.append((title, keys))
    others: dict[str, list[str]] = {}
    for key, definition in definitions.items():
        if definition.category not in seen:
            others.setdefault(definition.category, []).append(key)
    found += [(category.replace("_", " ").capitalize(), keys)
              for category, keys in others.items()]
    return found


def _value(data: ReportData, metric: str) -> float | None:
    row = data.latest_row(metric)
    return None if row is None else row.value


def _verdict_class(verdict: str | None) -> str:
    if verdict in _GOOD:
        return "good"
    if verdict in _BAD:
        return "bad"
    return "neutral"


def _tile(data: ReportData, definition: KpiDefinition, row: KpiRow | None) -> str:
    unit, currency = definition.unit, data.currency
    value = row.value if row else None
    arrow = "▲ higher is better" if definition.better == "up" else "▼ lower is better"
    lines = [f'<div class="tile" data-metric="{e(definition.key)}">',
             f'<div class="tile-name" title="{e(definition.formula)}">{e(definition.name)}</div>',
             f'<div class="tile-value">{e(format_value(value, unit, currency))}</div>']
    comparisons = row.comparisons if row else {}
    previous = comparisons.get("previous")
    if value is None:
        pass  # the "why" link says it all
    elif definition.snapshot:
        lines.append(f'<div class="cmp neutral">a snapshot on '
                     f'{e(data.as_of.date().isoformat())}</div>')
    elif previous and previous.get("change") is not None:
        lines.append(f'<div class="cmp {_verdict_class(previous.get("verdict"))}">'
                     f'{e(format_change(previous["change"], unit, currency))} vs previous '
                     f'{e(data.options.grain)}</div>')
    elif row is not None and row.partial:
        lines.append('<div class="cmp neutral">period not over: not compared</div>')
    else:
        lines.append('<div class="cmp neutral">no previous period to compare</div>')
    target = comparisons.get("target")
    if target:
        status = {"on_track": "on track", "off_track": "off track"}.get(
            str(target.get("verdict")), "")
        lines.append(f'<div class="cmp {_verdict_class(target.get("verdict"))}">target '
                     f'{e(format_value(target["value"], unit, currency))}'
                     f'{" · " + status if status else ""}</div>')
    benchmark = comparisons.get("benchmark")
    if benchmark:
        status = {"better": "better", "worse": "worse", "within": "within"}.get(
            str(benchmark.get("verdict")), "")
        lines.append(f'<div class="cmp {_verdict_class(benchmark.get("verdict"))}" '
                     f'title="{e(benchmark.get("source", ""))}">industry '
                     f'{e(format_value(benchmark["low"], unit, currency))}{DASH}'
                     f'{e(format_value(benchmark["high"], unit, currency))}'
                     f'{" · " + status if status else ""}</div>')
    if value is None:
        lines.append('<div class="cmp neutral"><a href="#why">why no value?</a></div>')
    if definition.key in data.unified_metrics():
        unified = data.unified_series(definition.key)
        once = unified[-1].value if unified else None
        lines.append(f'<div class="cmp neutral unified"><a href="#unified">customers counted '
                     f'once</a>: {e(format_value(once, unit, currency))}</div>')
    lines.append(f'<div class="tile-foot">{e(arrow)}</div></div>')
    return "".join(lines)


def _chart_card(chart: Chart) -> str:
    head = (f'<div class="card-title">{e(chart.title)}</div>'
            f'<div class="card-sub">{e(chart.subtitle) or "&nbsp;"}</div>')
    if chart.html is None:
        body = f'<div class="chart-empty" data-chart="{e(chart.chart_id)}">{e(chart.empty)}</div>'
    else:
        body = f'<div class="chart" data-chart="{e(chart.chart_id)}">{chart.html}</div>'
    return f'<div class="card">{head}{body}</div>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = (),
           css: str = "") -> str:
    head = "".join(f'<th class="{"num" if i in numeric else ""}">{e(h)}</th>'
                   for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="{"num" if i in numeric else ""}">{cell}</td>'
                         for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _plain(number: float | None) -> str:
    if number is None:
        return DASH
    text = f"{abs(number):,.0f}" if float(number).is_integer() else f"{abs(number):,.2f}"
    return f"\u2212{text}" if number < 0 else text


def _kpi_table(data: ReportData) -> str:
    rows = []
    for key, definition in data.definitions.items():
        row = data.latest_row(key)
        rows.append([
            f'<span class="key">{e(key)}</span><br>{e(definition.name)}',
            e(definition.unit if definition.unit != "currency" else data.currency),
            e(format_value(row.value if row else None, definition.unit, data.currency)),
            e(_plain(row.numerator if row else None)),
            e(_plain(row.denominator if row else None)),
            e(_plain(row.count if row else None)),
            e((row.note if row else None) or ""),
        ])
    return _table(["KPI", "unit", "value", "numerator", "denominator", "records", "note"],
                  rows, numeric=(2, 3, 4, 5), css="kpis")


def _why(data: ReportData) -> str:
    reasons = null_reasons(data)
    if not reasons:
        return '<p class="ok">Every KPI has a value in the latest period.</p>'
    rows = [[f'<span class="key">{e(r.metric)}</span><br>{e(r.name)}',
             f'<span class="reason">{e(r.kind)}</span>', e(r.note), e(r.remedy or DASH)]
            for r in reasons]
    return _table(["KPI", "reason", "what the engine says", "what could feed it"], rows,
                  css="why")


def _resolution_tiles(data: ReportData) -> str:
    tiles = []
    for item in data.resolution:
        noun, into = _RESOLVED_NOUNS.get(item.entity, (item.entity, "clusters"))
        plural = "" if item.records == 1 else "s"
        sources = f"{item.sources} source{'' if item.sources == 1 else 's'}"
        tiles.append(
            f'<div class="tile resolved" data-entity="{e(item.entity)}">'
            f'<div class="tile-name">{e(item.entity.capitalize())}</div>'
            f'<div class="tile-value">{e(f"{item.clusters:,}")} {e(into)}</div>'
            f'<div class="cmp neutral">{e(f"{item.records:,}")} {e(noun)} record{plural} '
            f"resolved into {e(f'{item.clusters:,}')} {e(into)}</div>"
            f'<div class="tile-foot">from {e(sources)}</div></div>')
    return f'<div class="tiles">{"".join(tiles)}</div>'


def _unified(data: ReportData, latest: str) -> str:
    """The unified view beside the per-record one: what resolved into what, and the KPIs
    unifying can change, in the latest period, both ways."""
    if not data.resolution:
        tiles = ("<p>The store holds no accounts, contacts or leads resolved: run "
                 "<code>crm-connect resolve</code>.</p>")
    else:
        tiles = _resolution_tiles(data)
    rows = []
    for key in data.unified_metrics():
        definition = data.definitions[key]
        plain, unified = data.latest_row(key), data.unified_series(key)
        one = unified[-1] if unified else None
        rows.append([f'<span class="key">{e(key)}</span><br>{e(definition.name)}',
                     e(format_value(plain.value if plain else None, definition.unit,
                                    data.currency)),
                     e(format_value(one.value if one else None, definition.unit,
                                    data.currency))])
    table = _table(["KPI", "per record", "customers counted once"], rows, numeric=(1, 2),
                   css="unified")
    return (f"{tiles}<h3>KPIs that count customers, {e(latest)}</h3>{table}")


def _moment(moment: dt.datetime | None) -> str:
    return "never" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _data_panel(data: ReportData) -> str:
    if not data.connections:
        return "<p>No connection is configured and the store holds no records.</p>"
    rows = []
    for status in data.connections:
        rows.append([
            f'<span class="conn">{e(status.name)}</span>',
            e(status.connector or "not configured"),
            e(_moment(status.last_ended or status.last_started)),
            e(status.last_status or "never synced"),
            e(f"{sum(status.records.values()):,}"),
            e(f"{status.quarantined:,}")])
    connections = _table(["connection", "connector", "last sync", "status", "records",
                          "quarantined"], rows, numeric=(4, 5), css="conns")
    names = [status.name for status in data.connections]
    matrix = [[e(entity),
               *(e(f"{status.records.get(entity, 0):,}") for status in data.connections),
               e(f"{count:,}")] for entity, count in data.entity_records.items()]
    numeric = tuple(range(1, len(names) + 2))
    per_entity = _table(["entity", *names, "all"], matrix, numeric=numeric, css="entities")
    return connections + f"<h3>Records per entity (not deleted)</h3>{per_entity}"


def _section(anchor: str, title: str, body: str, intro: str = "") -> str:
    intro_html = f'<p class="intro">{intro}</p>' if intro else ""
    return f'<section id="{anchor}"><h2>{e(title)}</h2>{intro_html}{body}</section>'


def render_page(data: ReportData) -> str:
    """The whole report as one HTML document."""
    grain = data.options.grain
    periods = data.periods
    latest = period_label(periods[-1], grain) if periods else "no period"
    span = (f"{period_label(periods[0], grain)} {DASH} {latest}" if len(periods) > 1 else latest)
    sections = []
    headline_parts = []
    trend_parts = []
    for title, keys in groups(data.definitions):
        if not keys:
            continue
        tiles = "".join(_tile(data, data.definitions[k], data.latest_row(k)) for k in keys)
        empty = all(_value(data, k) is None for k in keys)
        note = ('<p class="group-empty">No data for this group in the latest period: see '
                '<a href="#why">why</a>.</p>' if empty else "")
        headline_parts.append(f'<h3>{e(title)}</h3>{note}<div class="tiles">{tiles}</div>')
        cards = "".join(_chart_card(trend_chart(data, k)) for k in keys)
        trend_parts.append(f'<h3>{e(title)}</h3><div class="grid">{cards}</div>')
    sections.append(_section("headlines", f"Headlines, {latest}", "".join(headline_parts),
                             f"Each KPI in the latest {e(grain)} shown, compared with the "
                             f"{e(grain)} before, its target and the industry benchmark; "
                             "<span class='good'>green</span> is better, "
                             "<span class='bad'>red</span> worse."))
    if data.unified:
        sections.append(_section(
            "unified", "One customer, counted once", _unified(data, latest),
            "<code>crm-connect resolve</code> linked the records that are the same company "
            "or person within and across sources; each such customer counts once in the "
            "unified view. The other sections count records."))
    sections.append(_section("trends", "Trends", "".join(trend_parts),
                             f"Every KPI per {e(grain)}, {e(span)}."))
    for dimension in data.options.by:
        metrics = breakdown_metrics(data.definitions, dimension)
        if not metrics:
            continue
        cards = "".join(_chart_card(bar_chart(data, dimension, key)) for key in metrics)
        name = dimension.replace("_", " ")
        sections.append(_section(f"by-{dimension}", f"By {name}",
                                 f'<div class="grid">{cards}</div>',
                                 f"The latest {e(grain)}, {e(latest)}."))
    sections.append(_section(
        "pipeline", "Lead sources and funnel",
        f'<div class="grid two">{_chart_card(mix_chart(data))}'
        f'{_chart_card(funnel_chart(data))}</div>'))
    sections.append(_section("table", f"Every KPI, {latest}", _kpi_table(data),
                             "Value, numerator and denominator of each KPI; records is how "
                             "many records it was computed from."))
    sections.append(_section("why", f"Why some KPIs have no value in {latest}", _why(data)))
    sections.append(_section("data", "Data", _data_panel(data),
                             f"Store: {e(data.store_location)}. Quarantined records are "
                             "listed by <code>crm-connect quarantine list</code>."))
    source = "the saved KPI history" if data.options.from_history else "the store"
    header = (f"<header><h1>{e(data.options.title)}</h1><p class='meta'>"
              f"{e(span)} by {e(grain)} · as of {e(_moment(data.as_of))} · "
              f"{e(data.currency)} · from {e(source)} · "
              f"{len(data.connections)} connection{'s' if len(data.connections) != 1 else ''}"
              "</p></header>")
    nav = ("<nav>" + " ".join(
        f'<a href="#{anchor}">{e(label)}</a>' for anchor, label in _nav(data)) + "</nav>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(data.options.title)} · {e(span)}</title>"
            f"<style>{STYLE}</style>"
            f"<script>{plotly_script()}</script></head><body>"
            f"{header}{nav}<main>{''.join(sections)}</main>"
            "<footer>Written by crm-connect report. Self-contained: it loads nothing from "
            "the network.</footer></body></html>\n")


def _nav(data: ReportData) -> list[tuple[str, str]]:
    items = [("headlines", "Headlines")]
    items += [("unified", "Unified")] if data.unified else []
    items += [("trends", "Trends")]
    items += [(f"by-{d}", f"By {d.replace('_', ' ')}") for d in data.options.by
              if breakdown_metrics(data.definitions, d)]
    items += [("pipeline", "Funnel"), ("table", "All KPIs"), ("why", "Why no value"),
              ("data", "Data")]
    return items
