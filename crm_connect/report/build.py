"""``write_report``: the Python entry point of the HTML report (``crm-connect report`` and
``crm-connect demo`` call it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from crm_connect.errors import ConfigError, MetricError
from crm_connect.report.data import Progress, ReportOptions, gather

if TYPE_CHECKING:
    from crm_connect.config import Config

__all__ = ["write_report"]


def write_report(config: Config, out: Path, options: ReportOptions | None = None,
                 progress: Progress | None = None) -> Path:
    """Compute the KPIs of ``config``'s store and write the HTML report to ``out``.

    :param config: the configuration (its store, reporting currency, targets and
        connections).
    :param out: the HTML file to write (replaced atomically when it exists).
    :param options: grain, range, breakdowns, ``from_history`` (default: the last 12
        months with data, by source, owner and ticket channel).
    :param progress: called with a short description before each step (a progress bar).
    :returns: the path written.
    :raises MetricError: the store holds no records (nothing to report), or the history
        asked for does not exist.
    :raises ConfigError: an unknown grain or dimension, a bad date, an unwritable ``out``.
    """
    from crm_connect.config import open_store
    from crm_connect.report.page import render_page

    options = options or ReportOptions()
    store = open_store(config.store.url, base_dir=config.base_dir, read_only=True,
                       memory_limit=config.store.memory_limit)
    try:
        if not options.from_history and store.total_records() == 0:
            raise MetricError(f"the store {store.location} holds no records yet: run "
                              "`crm-connect sync` first, then `crm-connect report`")
        data = gather(store, config, options, progress)
    finally:
        store.close()
    if progress:
        progress("drawing the charts")
    text = render_page(data)
    return _write(Path(out), text)


def _write(out: Path, text: str) -> Path:
    """Write ``text`` to ``out`` through a temporary file beside it, so that a reader never
    sees half a report."""
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"cannot write the report to {out}: the folder {folder} does not "
                          "exist (create it, or give --out another path)")
    temporary = folder / f".{out.name}.partial"
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, out)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    return out
