"""The report's stylesheet, inlined in the page: system fonts only (nothing downloaded), a
layout that reads at 1400 px and still works on a laptop or printed."""

from __future__ import annotations

__all__ = ["STYLE"]

STYLE = """
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --good: #047857;
  --good-bg: #ecfdf5; --bad: #b91c1c; --bad-bg: #fef2f2; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #f8fafc;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header { padding: 20px 32px 8px; background: white; border-bottom: 1px solid var(--line); }
h1 { margin: 0 0 4px; font-size: 24px; }
.meta { margin: 0 0 8px; color: var(--muted); }
nav { position: sticky; top: 0; z-index: 5; background: white; padding: 8px 32px;
  border-bottom: 1px solid var(--line); }
nav a { margin-right: 16px; color: var(--accent); text-decoration: none; font-weight: 500; }
main { padding: 8px 32px 32px; max-width: 1480px; }
section { margin-top: 24px; }
h2 { font-size: 20px; margin: 16px 0 4px; border-bottom: 2px solid var(--line);
  padding-bottom: 4px; }
h3 { font-size: 16px; margin: 18px 0 8px; }
.intro { color: var(--muted); margin: 4px 0 8px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr));
  gap: 10px; }
.tile { background: white; border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 12px; min-height: 132px; }
.tile-name { font-weight: 600; font-size: 13px; min-height: 36px; }
.tile-value { font-size: 24px; font-weight: 700; margin: 2px 0 4px;
  font-variant-numeric: tabular-nums; }
.tile-foot { color: var(--muted); font-size: 11px; margin-top: 4px; }
.cmp { font-size: 12px; border-radius: 4px; padding: 1px 6px; margin: 2px 0;
  display: inline-block; }
.cmp.good, span.good { color: var(--good); background: var(--good-bg); }
.cmp.bad, span.bad { color: var(--bad); background: var(--bad-bg); }
.cmp.neutral { color: var(--muted); }
.group-empty { color: var(--bad); margin: 0 0 6px; }
.grid { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 12px; }
.grid.two { grid-template-columns: repeat(2, minmax(0, 1fr)); }
@media (max-width: 1100px) { .grid { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.card { background: white; border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 12px 6px; min-width: 0; }
.card-title { font-weight: 600; font-size: 13px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.card-sub { color: var(--muted); font-size: 11px; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.chart { width: 100%; }
.chart-empty { display: flex; align-items: center; justify-content: center;
  text-align: center; min-height: 180px; color: var(--muted); background: #f9fafb;
  border: 1px dashed var(--line); border-radius: 6px; margin: 6px 0; padding: 12px; }
table { border-collapse: collapse; width: 100%; background: white; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left;
  vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; position: sticky; top: 40px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.key { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px;
  color: var(--muted); }
.reason { font-weight: 600; color: var(--bad); white-space: nowrap; }
table.entities, table.conns, table.unified { width: auto; min-width: 480px; }
.conn { font-weight: 600; }
.ok { color: var(--good); }
footer { color: var(--muted); font-size: 12px; padding: 16px 32px 32px; }
"""
