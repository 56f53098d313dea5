"""The HTML KPI report: one self-contained file (charts by plotly, its script embedded once)
with headline tiles per KPI group, trends, breakdowns, the lead-source mix, the funnel, every
KPI with its numerator and denominator, why some have no value, and what each connection
synced.

Python API::

    from crm_connect.config import load_config
    from crm_connect.report import ReportOptions, write_report
    write_report(load_config(), Path("report.html"), ReportOptions(grain="quarter"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_connect.lazy import lazy_names

if TYPE_CHECKING:
    from crm_connect.report.build import write_report
    from crm_connect.report.data import ReportOptions

__all__ = ["ReportOptions", "write_report"]

_HOMES = {"ReportOptions": "data", "write_report": "build"}
"""Each public name to its module: plotly and the metric engine load when the report is
written, not when the command line registers ``crm-connect report``."""


__getattr__ = lazy_names(__name__, _HOMES)
