"""The sync's progress lines: a total and the time left where the vendor says how many records
a read returns, records and records/s where it does not; on a clock rich lets us drive."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import TimeRemainingColumn

from crm_connect.cli_progress import ProgressBars, new_progress
from crm_connect.connector import Stream
from crm_connect.sync import StreamResult


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _progress(clock: _Clock) -> tuple[ProgressBars, io.StringIO]:
    screen = io.StringIO()
    console = Console(file=screen, width=80, force_terminal=True, color_system=None)
    progress = new_progress(console)
    progress.get_time = clock  # rich's own clock hook: elapsed time and speed follow it
    return ProgressBars(progress), screen


def test_a_vendor_total_gives_a_bar_with_the_count_and_time_left() -> None:
    clock = _Clock()
    bars, screen = _progress(clock)
    stream = Stream("deals", "deals")
    bars.stream_started("sf", stream)
    for second in (1.0, 2.0):
        clock.now = second
        bars.page_stored("sf", stream, 90, 10, 1000)
    task = bars.progress.tasks[0]
    assert task.total == 1000 and task.completed == 200
    left = TimeRemainingColumn(compact=True).render(task).plain
    assert left == "00:08", left  # 800 records at 100/s
    bars.progress.console.print(bars.progress.get_renderable())
    line = screen.getvalue()
    assert "sf/deals" in line and "200/1,000" in line
    bars.stream_finished(StreamResult("sf", "deals", "deals", records=180, quarantined=20))
    assert bars.progress.tasks[0].finished


def test_without_a_vendor_total_the_line_counts_records() -> None:
    clock = _Clock()
    bars, screen = _progress(clock)
    stream = Stream("[bold]odd[/]", "deals")
    bars.stream_started("files", stream)
    clock.now = 1.0
    bars.page_stored("files", stream, 500, 0, None)
    task = bars.progress.tasks[0]
    assert task.total is None
    bars.stream_finished(StreamResult("files", "[bold]odd[/]", "deals", records=500))
    bars.progress.console.print(bars.progress.get_renderable())
    text = screen.getvalue()
    assert "files/[bold]odd[/]" in text and "500 rec" in text and "/s" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_a_read_longer_than_announced_never_overfills_the_bar() -> None:
    clock = _Clock()
    bars, _ = _progress(clock)
    stream = Stream("deals", "deals")
    bars.stream_started("sf", stream)
    clock.now = 1.0
    bars.page_stored("sf", stream, 150, 0, 100)
    clock.now = 2.0
    bars.page_stored("sf", stream, 50, 0, None)  # later pages may not repeat the total
    task = bars.progress.tasks[0]
    assert task.total == 200 and task.completed == 200
