"""The conformance checks: what every connector must do, each with what to fix when it does not.

Each check takes a :class:`~crm_connect.testing.conformance.session.ConformanceSession` and
returns a :class:`CheckOutcome`.  Checks over streams run per stream and fail when any stream
fails; a check that cannot apply (a stream without a cursor, a read of a single page) is
skipped with the reason.
"""


from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from crm_connect.connector import Stream
from crm_connect.errors import CrmConnectError
from crm_connect.schema import CanonicalRecord
from crm_connect.testing.conformance.connection_checks import (
    check_cassettes,
    check_check_succeeds,
    check_config_model,
    check_missing_secret_named,
    check_retries,
)
from crm_connect.testing.conformance.outcomes import CheckOutcome, Status, Verdict, count
from crm_connect.testing.conformance.session import (
    ConformanceSession,
    StreamRead,
    record_cursor,
    state_cursor,
)

__all__ = ["CHECKS", "Check", "CheckOutcome", "Status", "read_failed", "run_check"]


@dataclass(frozen=True)
class Check:
    """A conformance check: a name (the pytest item is ``test_<name>``), what it proves."""

    name: str
    description: str
    run: Callable[[ConformanceSession], Verdict]


def read_failed(read: StreamRead, what: str) -> Verdict:
    error = (read.error or "").rstrip(". ")
    return Status.FAIL, (f"{what} failed: {error}. read() must read the stream to its end "
                         "or raise a CrmConnectError that says what to do")




def _per_stream(session: ConformanceSession,
                verdict: Callable[[ConformanceSession, Stream], Verdict]) -> Verdict:
    """Run ``verdict`` on every stream under test; a failure anywhere fails the check."""
    verdicts = [(stream.name, verdict(session, stream)) for stream in session.streams()]
    if not verdicts:
        return Status.SKIP, "the connection offers no stream"
    failed = _grouped([(name, message) for name, (status, message) in verdicts
                       if status is Status.FAIL])
    if failed:
        return Status.FAIL, "; ".join(failed)
    passed = [f"{name}: {message}" for name, (status, message) in verdicts
              if status is Status.PASS]
    if not passed:
        reasons = sorted({message for _, (_, message) in verdicts})
        return Status.SKIP, "; ".join(reasons)
    skipped = [name for name, (status, _) in verdicts if status is Status.SKIP]
    note = f" (skipped: {', '.join(skipped)})" if skipped else ""
    return Status.PASS, "; ".join(passed) + note


def _grouped(messages: list[tuple[str, str]]) -> list[str]:
    """``stream: message`` for each stream; streams with the same message (one error met by
    every read) share one entry: ``users, deals: message``."""
    streams: dict[str, list[str]] = {}
    for name, message in messages:
        streams.setdefault(message, []).append(name)
    return [f"{', '.join(names)}: {message}" for message, names in streams.items()]


def _records_validate(session: ConformanceSession, stream: Stream) -> Verdict:
    read = session.full_read(stream)
    if read.error:
        return read_failed(read, "the read")
    if read.schema_failures:
        record_id, reason = read.schema_failures[0]
        return Status.FAIL, (
            f"{count(len(read.schema_failures), 'record')} fail the canonical "
            f"{stream.entity} schema (first, id {record_id}: {reason}); map vendor values to "
            "the canonical fields and types (crm_connect.schema) in read(), or pass what "
            "cannot be mapped as Page.rejected")
    rejected = f", {read.rejected:,} rejected by the connector" if read.rejected else ""
    return Status.PASS, f"{count(len(read.records), 'record')} valid{rejected}"


def _ids_unique(session: ConformanceSession, stream: Stream) -> Verdict:
    read = session.full_read(stream)
    if read.error:
        return read_failed(read, "the read")
    counts = Counter(record.id for record in read.records)
    repeated = [(record_id, times) for record_id, times in counts.items() if times > 1]
    if repeated:
        record_id, times = repeated[0]
        pages = [str(number + 1) for number, page in enumerate(read.pages)
                 if any(record.id == record_id for record in page)]
        return Status.FAIL, (
            f"{count(len(repeated), 'id')} returned more than once in one read (id "
            f"{record_id} {times} times, pages {', '.join(pages)}); page in a stable order "
            "(cursor, then id) so that no record comes back on a later page")
    return Status.PASS, f"{count(len(counts), 'distinct id')}"


def _cursor_never_goes_backwards(session: ConformanceSession, stream: Stream) -> Verdict:
    if stream.cursor_field is None:
        return Status.SKIP, "a full-refresh stream (no cursor_field)"
    read = session.full_read(stream)
    if read.error:
        return read_failed(read, "the read")
    cursors = [(number, state_cursor(state)) for number, state in enumerate(read.committed)]
    known = [(number, cursor) for number, cursor in cursors if cursor is not None]
    if not known:
        return Status.SKIP, "its state has no 'cursor' entry to follow"
    for (_, before), (number, after) in itertools.pairwise(known):
        if after < before:
            return Status.FAIL, (
                f"the state's cursor went back from {before.isoformat()} to "
                f"{after.isoformat()} at page {number + 1}; commit with each page the "
                f"largest {stream.cursor_field} read so far, never a smaller one")
    again = session.incremental_read(stream)
    if again.error:
        return read_failed(again, "the incremental read")
    later = [cursor for state in again.committed if (cursor := state_cursor(state))]
    if later and min(later) < known[-1][1]:
        return Status.FAIL, (
            f"reading again from the state moved its cursor back from "
            f"{known[-1][1].isoformat()} to {min(later).isoformat()}; a read that starts "
            "from a state must never commit an earlier cursor")
    return Status.PASS, f"{count(len(known), 'committed cursor')}, none going back"


def _state_advances(session: ConformanceSession, stream: Stream) -> Verdict:
    read = session.full_read(stream)
    if read.error:
        return read_failed(read, "the read")
    if not read.records:
        return Status.SKIP, "the stream returned no record"
    final = read.final_state
    if not final:
        return Status.FAIL, ("the read committed no state; give the pages a state "
                             "(Page(records, state=...)) so the next run can start after them")
    cursor = state_cursor(final)
    values = [value for record in read.records
              if (value := record_cursor(record, stream)) is not None]
    if cursor is not None and values and cursor < max(values):
        return Status.FAIL, (
            f"the last state's cursor {cursor.isoformat()} is behind the newest "
            f"{stream.cursor_field} read ({max(values).isoformat()}); advance the state's "
            "cursor to the largest value stored with the page")
    where = f" to {cursor.isoformat()}" if cursor else ""
    return Status.PASS, f"the state advanced{where}"


def _no_unchanged_record_again(session: ConformanceSession, stream: Stream) -> Verdict:
    if stream.cursor_field is None:
        return Status.SKIP, "a full-refresh stream (no cursor_field)"
    first = session.full_read(stream)
    if first.error:
        return read_failed(first, "the read")
    if not first.final_state:
        return Status.SKIP, "the read committed no state to start from (see state_advances)"
    again = session.incremental_read(stream)
    if again.error:
        return read_failed(again, "the incremental read")
    before = first.by_id()
    values = [value for record in first.records
              if (value := record_cursor(record, stream)) is not None]
    # Records up to the newest one read (or the state's cursor, if later) are not read again.
    candidates = [value for value in (state_cursor(first.final_state),
                                      max(values) if values else None) if value is not None]
    if not candidates:
        return Status.SKIP, "neither the state nor the records carry a cursor value"
    boundary = max(candidates)
    start = boundary - session.cursor_overlap()
    unchanged = [record for record in again.records
                 if before.get(record.id) == record
                 and (value := record_cursor(record, stream)) is not None and value < start]
    if unchanged:
        example = unchanged[0]
        return Status.FAIL, (
            f"reading again from the state returned {count(len(unchanged), 'unchanged record')} "
            f"(e.g. id {example.id}, {stream.cursor_field} "
            f"{getattr(example, stream.cursor_field)}) from before {boundary.isoformat()}, "
            "the newest value read; start the next read at the state's cursor (minus the "
            "overlap) and advance that cursor to the newest value stored")
    return Status.PASS, f"{count(len(again.records), 'record')} read again, all at the cursor"


def _union(reads: Iterable[list[CanonicalRecord]]) -> dict[str, CanonicalRecord]:
    merged: dict[str, CanonicalRecord] = {}
    for records in reads:
        merged.update((record.id, record) for record in records)
    return merged


def _compare(expected: dict[str, CanonicalRecord], got: dict[str, CanonicalRecord],
             expected_name: str, got_name: str) -> str | None:
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    differ = sorted(key for key in set(expected) & set(got) if expected[key] != got[key])
    parts = []
    if missing:
        parts.append(f"{count(len(missing), 'id')} of the {expected_name} missing from the "
                     f"{got_name} (e.g. {missing[0]})")
    if extra:
        parts.append(f"{count(len(extra), 'id')} only in the {got_name} (e.g. {extra[0]})")
    if differ:
        parts.append(f"{count(len(differ), 'record')} differing (e.g. {differ[0]})")
    return "; ".join(parts) or None


def _full_refresh_equals_union(session: ConformanceSession, stream: Stream) -> Verdict:
    first = session.full_read(stream)
    if first.error:
        return read_failed(first, "the read")
    again = session.incremental_read(stream)
    if again.error:
        return read_failed(again, "the incremental read")
    refresh = session.refresh_read(stream)
    if refresh.error:
        return read_failed(refresh, "the full refresh")
    problem = _compare(refresh.by_id(), _union([first.records, again.records]),
                       "full refresh", "incremental reads")
    if problem:
        return Status.FAIL, (
            f"{problem}; a full refresh (state None) and the incremental reads must return "
            "the same records, mapped the same way")
    return Status.PASS, f"{count(len(refresh.by_id()), 'record')} either way"


def _deletes_flagged(session: ConformanceSession, stream: Stream) -> Verdict:
    read = session.full_read(stream)
    if read.error:
        return read_failed(read, "the read")
    deleted = {record.id for record in read.records if record.is_deleted}
    expected = set(session.target.deleted_ids.get(stream.name, ()))
    if expected:
        missed = sorted(expected - deleted)
        if missed:
            return Status.FAIL, (
                f"{count(len(missed), 'deleted record')} not flagged (e.g. {missed[0]}); "
                "read the vendor's deleted records too (e.g. queryAll, archived=true) and set "
                "is_deleted, or list the ids the vendor holds with an IdSweep")
        return Status.PASS, f"the {count(len(expected), 'known delete')} flagged"
    if deleted or read.id_sweeps:
        sweeps = f", {count(read.id_sweeps, 'id sweep page')}" if read.id_sweeps else ""
        return Status.PASS, f"{count(len(deleted), 'record')} flagged deleted{sweeps}"
    return Status.SKIP, ("no record was flagged deleted and the connector sends no id sweep "
                         "(it declares no deletes)")


def _resume_points(read: StreamRead, limit: int) -> list[int]:
    """Pages after which to resume: every committed state but the last, at most ``limit``."""
    points = [number for number, state in enumerate(read.committed[:-1]) if state is not None]
    if len(points) <= limit:
        return points
    step = len(points) / limit
    return sorted({points[int(index * step)] for index in range(limit)})


def _resume_from_every_state(session: ConformanceSession, stream: Stream) -> Verdict:
    read = session.full_read(stream)
    if read.error:
        return read_failed(read, "the read")
    points = _resume_points(read, session.target.max_resume_points)
    if not points:
        return Status.SKIP, ("the read committed one state; nothing to resume from (a smaller "
                             "page size in the connection's options tests resuming)")
    whole = read.by_id()
    for number in points:
        rest = session.read(stream, read.committed[number])
        if rest.error:
            return read_failed(rest, f"resuming after page {number + 1}")
        problem = _compare(whole, _union([*read.pages[:number + 1], rest.records]),
                           "uninterrupted read", f"read resumed after page {number + 1}")
        if problem:
            return Status.FAIL, (
                f"{problem}; each page's state must cover exactly the records up to that page, "
                "so that a sync killed after storing it resumes without a gap")
    return Status.PASS, f"resumed from {count(len(points), 'committed state')}, same records"


def _streams(verdict: Callable[[ConformanceSession, Stream], Verdict]
             ) -> Callable[[ConformanceSession], Verdict]:
    return lambda session: _per_stream(session, verdict)


CHECKS: tuple[Check, ...] = (
    Check("config_model", "the config model refuses unknown keys and secrets in the file",
          check_config_model),
    Check("check_succeeds", "check() succeeds on the configured connection",
          check_check_succeeds),
    Check("missing_secret_named", "check() fails naming a secret that is absent",
          check_missing_secret_named),
    Check("records_validate", "every stream's records validate against the canonical schema",
          _streams(_records_validate)),
    Check("ids_unique", "ids are unique within a stream's read", _streams(_ids_unique)),
    Check("cursor_never_goes_backwards", "the state's cursor never goes back",
          _streams(_cursor_never_goes_backwards)),
    Check("state_advances", "the committed state advances to the records read",
          _streams(_state_advances)),
    Check("incremental_skips_unchanged", "reading again from the state returns no unchanged "
          "record", _streams(_no_unchanged_record_again)),
    Check("full_refresh_equals_union", "a full refresh equals the union of incremental "
          "reads", _streams(_full_refresh_equals_union)),
    Check("deletes_flagged", "deleted records are flagged is_deleted", _streams(_deletes_flagged)),
    Check("resume_from_every_state", "a read resumed from any committed state ends with the "
          "same records", _streams(_resume_from_every_state)),
    Check("retries_429_and_503", "an injected 429 and 503 are retried", check_retries),
    Check("cassettes_hold_no_secret", "no secret appears in any cassette", check_cassettes),
)
"""Every check, in the order they run."""


def run_check(session: ConformanceSession, check: Check) -> CheckOutcome:
    """Run one check; an error it meets is its failure, never a traceback.  The outcome is
    kept in ``session.outcomes``."""
    try:
        status, message = check.run(session)
    except CrmConnectError as exc:
        status, message = Status.FAIL, str(exc)
    except Exception as exc:
        status, message = Status.FAIL, f"{type(exc).__name__}: {exc}"
    outcome = CheckOutcome(check.name, status, message)
    session.outcomes[check.name] = outcome
    return outcome
