"""``crm-connect conformance CONNECTION``: the conformance suite against a configured connection.

One line per check (pass, fail or skip with the reason), then in full what to fix for each
failure and why each skipped check was skipped.
Exit 0 when no check fails, 1 when one does, 2 on a usage or configuration error.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Annotated, Any

import typer

from crm_connect.cli_context import fail, state
from crm_connect.cli_output import out
from crm_connect.errors import CrmConnectError

__all__ = ["format_outcome", "register_commands"]

WIDTH = 80
_STREAM_PART = re.compile(r"[\w.-]+: ")
_LABELS = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}


def format_outcome(name: str, status: str, message: str, width: int = WIDTH) -> str:
    """``PASS  ids_unique  users: 8 distinct ids``, cut to ``width`` columns.

    A message with one part per stream (``"users: ...; deals: ..."``) keeps the streams that
    fit and counts the others (``(+3 streams)``); other messages are cut after a word, with
    ``...`` (the failures and skips are printed in full after the list).
    """
    head = f"{_LABELS[status]}  {name:<28} "
    line = (head + message).rstrip()
    if len(line) <= width:
        return line
    room = width - len(head)
    parts = message.split("; ")
    if len(parts) == 1 or not all(_STREAM_PART.match(part) for part in parts):
        return head + _cut(message, room)
    for kept in range(len(parts) - 1, 0, -1):
        shown = "; ".join(parts[:kept]) + f" (+{len(parts) - kept} streams)"
        if len(shown) <= room:
            return head + shown
    rest = f" (+{len(parts) - 1} streams)"
    return head + _cut(parts[0], room - len(rest)) + rest


def _cut(text: str, room: int) -> str:
    """``text`` cut after a word to fit ``room`` with the ``...`` it ends with."""
    if len(text) <= room:
        return text
    words = text[:room - 2].split(" ")[:-1] or [text[:room - 3]]
    while len(words) > 1 and (words[-1].count("(") > words[-1].count(")")
                              or not words[-1].strip(";,:")):
        words.pop()  # no dangling "(in" or punctuation before the dots
    return " ".join(words).rstrip(" ;,:") + "..."


def conformance_command(
    connection: Annotated[str, typer.Argument(metavar="CONNECTION", show_default=False,
                                              help="The connection to check.")],
    stream: Annotated[list[str] | None, typer.Option(
        "--stream", metavar="NAME", show_default=False,
        help="Check only this stream (repeatable; default: every stream).")] = None,
    cassettes: Annotated[Path | None, typer.Option(
        "--cassettes", metavar="DIR", show_default=False,
        help="A folder of recorded HTTP exchanges to scan for secrets.")] = None,
) -> None:
    """Run the conformance checks against CONNECTION: one line per check; exit 1 when one
    fails."""
    from crm_connect.config import find_config_path
    from crm_connect.testing.conformance import ConformanceTarget, Status, run_conformance

    try:
        target = ConformanceTarget(find_config_path(state.config_path), connection,
                                   cassettes=cassettes, streams=tuple(stream or ()))
        outcomes = run_conformance(target)
    except CrmConnectError as exc:
        fail(exc)
    for outcome in outcomes:
        out.print(format_outcome(outcome.name, outcome.status.value, outcome.message),
                      highlight=False, markup=False, soft_wrap=True)
    failed = [outcome for outcome in outcomes if outcome.status is Status.FAIL]
    counts = {status: sum(outcome.status is status for outcome in outcomes)
              for status in Status}
    out.print(f"{counts[Status.PASS]} passed, {counts[Status.FAIL]} failed, "
                  f"{counts[Status.SKIP]} skipped", highlight=False, markup=False)
    explained = failed + [outcome for outcome in outcomes if outcome.status is Status.SKIP]
    first_with: dict[str, str] = {}
    for outcome in explained:
        if outcome.message in first_with:  # one cause failing several checks: said once
            text = f"  the same as {first_with[outcome.message]}"
        else:
            first_with[outcome.message] = outcome.name
            text = textwrap.fill(outcome.message, WIDTH, initial_indent="  ",
                                 subsequent_indent="  ")
        out.print(f"\n{_LABELS[outcome.status.value]} {outcome.name}:\n{text}",
                      highlight=False, markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def register_commands(app: Any) -> None:
    app.command("conformance")(conformance_command)
