"""The conformance checks: what every connector must do, each with what to fix when it does not.

Each check takes a :class:`~crm_connect.testing.conformance.session.ConformanceSession` and
returns a :class:`CheckOutcome`.  Checks over streams run per stream and fail when any stream
fails; a check that cannot apply (a stream without a cursor, a read of a single page) is
skipped with the reason.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from crm_connect.config import parse_config
from crm_connect.connector import Stream
from crm_connect.errors import ConfigError, CrmConnectError
from crm_connect.resilience.injection import inject_failures
from crm_connect.schema import CanonicalRecord
from crm_connect.testing.conformance.cassettes import scan_cassettes
from crm_connect.testing.conformance.session import (
    ConformanceSession,
    StreamRead,
    record_cursor,
    state_cursor,
)

__all__ = ["CHECKS", "Check", "CheckOutcome", "Status", "run_check"]


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict of one check, with what passed, what to fix, or why it was skipped."""

    name: str
    status: Status
    message: str


@dataclass(frozen=True)
class Check:
    """A conformance check: a name (the pytest item is ``test_<name>``), what it proves."""

    name: str
    description: str
    run: Callable[[ConformanceSession], tuple[Status, str]]


_Verdict = tuple[Status, str]
_PROBE_KEY = "conformance_probe_unknown_key"


def _per_stream(session: ConformanceSession,
                verdict: Callable[[ConformanceSession, Stream], _Verdict]) -> _Verdict:
    """Run ``verdict`` on every stream under test; a failure anywhere fails the check."""
    verdicts = [(stream.name, verdict(session, stream)) for stream in session.streams()]
    if not verdicts:
        return Status.SKIP, "the connection offers no stream"
    failed = [f"{name}: {message}" for name, (status, message) in verdicts
              if status is Status.FAIL]
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


def _read_failed(read: StreamRead, what: str) -> _Verdict:
    return Status.FAIL, (f"{what} failed: {read.error}. read() must read the stream to its end "
                         "or raise a CrmConnectError that says what to do")


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


# -- configuration and check() -----------------------------------------------------------------

def _config_with_key(session: ConformanceSession, key: str) -> str | None:
    """The configuration file's text with ``key = "..."`` added to the connection's table
    (``None`` when the connection is not written as a ``[connections.NAME]`` table)."""
    path = session.config.path
    if path is None:
        raise ConfigError("the conformance checks need a configuration file")
    lines = path.read_text(encoding="utf-8").splitlines()
    name = re.escape(session.connection)
    header = re.compile(rf'^\s*\[\s*connections\s*\.\s*(?:{name}|"{name}")\s*\]')
    for number, line in enumerate(lines):
        if header.match(line):
            lines.insert(number + 1, f'{key} = "conformance-probe"')
            return "\n".join(lines) + "\n"
    return None


def _rejects(session: ConformanceSession, key: str) -> str | None:
    """The error the configuration gives with ``key`` in the connection's table, or None."""
    text = _config_with_key(session, key)
    if text is None:
        raise _NoTable
    try:
        parse_config(text, session.config.path, session.config.base_dir)
    except ConfigError as exc:
        return str(exc)
    return None


class _NoTable(Exception):
    pass


def check_config_model(session: ConformanceSession) -> _Verdict:
    try:
        return _config_model(session)
    except _NoTable:
        return Status.SKIP, (f"the connection is not written as a [connections."
                             f"{session.connection}] table to add keys to")


def _config_model(session: ConformanceSession) -> _Verdict:
    model = type(session.config.connection(session.connection).options)
    problems: list[str] = []
    message = _rejects(session, _PROBE_KEY)
    if message is None or _PROBE_KEY not in message:
        problems.append(
            f"an unknown key ({_PROBE_KEY}) in the connection's table was accepted: let "
            f"{model.__name__} inherit from ConnectorConfig and keep extra='forbid'")
    for secret in model.secret_fields:
        message = _rejects(session, secret)
        if message is None or secret not in message:
            problems.append(
                f"the secret {secret!r} written into the file was accepted: list it in "
                f"{model.__name__}.secret_fields and read it with self.secret({secret!r})")
    if problems:
        return Status.FAIL, "; ".join(problems)
    secrets = ", ".join(model.secret_fields) or "none declared"
    return Status.PASS, f"unknown keys and secrets in the file are refused (secrets: {secrets})"


def _check_result(connector_check: Callable[[], object]) -> tuple[bool, str]:
    try:
        result = connector_check()
    except CrmConnectError as exc:
        return False, str(exc)
    except Exception as exc:
        return False, f"check() raised {type(exc).__name__}: {exc}"
    ok = bool(getattr(result, "ok", False))
    problems = list(getattr(result, "problems", []))
    return ok, "; ".join([str(getattr(result, "message", "")), *problems])


def check_check_succeeds(session: ConformanceSession) -> _Verdict:
    ok, message = _check_result(session.connector.check)
    if not ok:
        return Status.FAIL, (f"check() failed: {message}. check() must succeed on a connection "
                             "that is configured and reachable")
    return Status.PASS, message


def check_missing_secret_named(session: ConformanceSession) -> _Verdict:
    fields = session.secret_fields
    if not fields:
        return Status.SKIP, "the connector declares no secret_fields"
    present = session.present_secrets()
    if not present:
        return Status.SKIP, "none of the connection's secrets is set"
    problems: list[str] = []
    named: list[str] = []
    for name in present:
        with session.secret_missing(name) as no_tokens:
            connector = session.new_connector(tokens_file=no_tokens)
            try:
                ok, message = _check_result(connector.check)
            finally:
                connector.close()
        if ok:
            continue  # an optional secret (another way to sign in is set)
        if name not in message:
            problems.append(
                f"without {name!r}, check() said {message[:120]!r}, which does not name it; "
                f"read it with self.secret({name!r}) (its error names the field and how to "
                "set it)")
        else:
            named.append(name)
    if problems:
        return Status.FAIL, "; ".join(problems)
    if not named:
        return Status.PASS, "check() succeeds without any one of the secrets (all optional)"
    return Status.PASS, f"check() names the missing secret ({', '.join(named)})"


# -- what a read yields --------------------------------------------------------------------------

def _records_validate(session: ConformanceSession, stream: Stream) -> _Verdict:
    read = session.full_read(stream)
    if read.error:
        return _read_failed(read, "the read")
    if read.schema_failures:
        record_id, reason = read.schema_failures[0]
        return Status.FAIL, (
            f"{_count(len(read.schema_failures), 'record')} fail the canonical "
            f"{stream.entity} schema (first, id {record_id}: {reason}); map vendor values to "
            "the canonical fields and types (crm_connect.schema) in read(), or pass what "
            "cannot be mapped as Page.rejected")
    rejected = f", {read.rejected:,} rejected by the connector" if read.rejected else ""
    return Status.PASS, f"{_count(len(read.records), 'record')} valid{rejected}"


def _ids_unique(session: ConformanceSession, stream: Stream) -> _Verdict:
    read = session.full_read(stream)
    if read.error:
        return _read_failed(read, "the read")
    counts = Counter(record.id for record in read.records)
    repeated = [(record_id, count) for record_id, count in counts.items() if count > 1]
    if repeated:
        record_id, count = repeated[0]
        pages = [str(number + 1) for number, page in enumerate(read.pages)
                 if any(record.id == record_id for record in page)]
        return Status.FAIL, (
            f"{_count(len(repeated), 'id')} returned more than once in one read (id "
            f"{record_id} {count} times, pages {', '.join(pages)}); page in a stable order "
            "(cursor, then id) so that no record comes back on a later page")
    return Status.PASS, f"{_count(len(counts), 'distinct id')}"


def _cursor_never_goes_backwards(session: ConformanceSession, stream: Stream) -> _Verdict:
    if stream.cursor_field is None:
        return Status.SKIP, "a full-refresh stream (no cursor_field)"
    read = session.full_read(stream)
    if read.error:
        return _read_failed(read, "the read")
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
        return _read_failed(again, "the incremental read")
    later = [cursor for state in again.committed if (cursor := state_cursor(state))]
    if later and min(later) < known[-1][1]:
        return Status.FAIL, (
            f"reading again from the state moved its cursor back from "
            f"{known[-1][1].isoformat()} to {min(later).isoformat()}; a read that starts "
            "from a state must never commit an earlier cursor")
    return Status.PASS, f"{_count(len(known), 'committed cursor')}, none going back"


def _state_advances(session: ConformanceSession, stream: Stream) -> _Verdict:
    read = session.full_read(stream)
    if read.error:
        return _read_failed(read, "the read")
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


def _no_unchanged_record_again(session: ConformanceSession, stream: Stream) -> _Verdict:
    if stream.cursor_field is None:
        return Status.SKIP, "a full-refresh stream (no cursor_field)"
    first = session.full_read(stream)
    if first.error:
        return _read_failed(first, "the read")
    if not first.final_state:
        return Status.SKIP, "the read committed no state to start from (see state_advances)"
    again = session.incremental_read(stream)
    if again.error:
        return _read_failed(again, "the incremental read")
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
            f"reading again from the state returned {_count(len(unchanged), 'unchanged record')} "
            f"(e.g. id {example.id}, {stream.cursor_field} "
            f"{getattr(example, stream.cursor_field)}) from before {boundary.isoformat()}, "
            "the newest value read; start the next read at the state's cursor (minus the "
            "overlap) and advance that cursor to the newest value stored")
    return Status.PASS, f"{_count(len(again.records), 'record')} read again, all at the cursor"


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
        parts.append(f"{_count(len(missing), 'id')} of the {expected_name} missing from the "
                     f"{got_name} (e.g. {missing[0]})")
    if extra:
        parts.append(f"{_count(len(extra), 'id')} only in the {got_name} (e.g. {extra[0]})")
    if differ:
        parts.append(f"{_count(len(differ), 'record')} differing (e.g. {differ[0]})")
    return "; ".join(parts) or None


def _full_refresh_equals_union(session: ConformanceSession, stream: Stream) -> _Verdict:
    first = session.full_read(stream)
    if first.error:
        return _read_failed(first, "the read")
    again = session.incremental_read(stream)
    if again.error:
        return _read_failed(again, "the incremental read")
    refresh = session.refresh_read(stream)
    if refresh.error:
        return _read_failed(refresh, "the full refresh")
    problem = _compare(refresh.by_id(), _union([first.records, again.records]),
                       "full refresh", "incremental reads")
    if problem:
        return Status.FAIL, (
            f"{problem}; a full refresh (state None) and the incremental reads must return "
            "the same records, mapped the same way")
    return Status.PASS, f"{_count(len(refresh.by_id()), 'record')} either way"


def _deletes_flagged(session: ConformanceSession, stream: Stream) -> _Verdict:
    read = session.full_read(stream)
    if read.error:
        return _read_failed(read, "the read")
    deleted = {record.id for record in read.records if record.is_deleted}
    expected = set(session.target.deleted_ids.get(stream.name, ()))
    if expected:
        missed = sorted(expected - deleted)
        if missed:
            return Status.FAIL, (
                f"{_count(len(missed), 'deleted record')} not flagged (e.g. {missed[0]}); "
                "read the vendor's deleted records too (e.g. queryAll, archived=true) and set "
                "is_deleted, or list the ids the vendor holds with an IdSweep")
        return Status.PASS, f"the {_count(len(expected), 'known delete')} flagged"
    if deleted or read.id_sweeps:
        sweeps = f", {_count(read.id_sweeps, 'id sweep page')}" if read.id_sweeps else ""
        return Status.PASS, f"{_count(len(deleted), 'record')} flagged deleted{sweeps}"
    return Status.SKIP, ("no record was flagged deleted and the connector sends no id sweep "
                         "(it declares no deletes)")


def _resume_points(read: StreamRead, limit: int) -> list[int]:
    """Pages after which to resume: every committed state but the last, at most ``limit``."""
    points = [number for number, state in enumerate(read.committed[:-1]) if state is not None]
    if len(points) <= limit:
        return points
    step = len(points) / limit
    return sorted({points[int(index * step)] for index in range(limit)})


def _resume_from_every_state(session: ConformanceSession, stream: Stream) -> _Verdict:
    read = session.full_read(stream)
    if read.error:
        return _read_failed(read, "the read")
    points = _resume_points(read, session.target.max_resume_points)
    if not points:
        return Status.SKIP, ("the read committed one state; nothing to resume from (a smaller "
                             "page size in the connection's options tests resuming)")
    whole = read.by_id()
    for number in points:
        rest = session.read(stream, read.committed[number])
        if rest.error:
            return _read_failed(rest, f"resuming after page {number + 1}")
        problem = _compare(whole, _union([*read.pages[:number + 1], rest.records]),
                           "uninterrupted read", f"read resumed after page {number + 1}")
        if problem:
            return Status.FAIL, (
                f"{problem}; each page's state must cover exactly the records up to that page, "
                "so that a sync killed after storing it resumes without a gap")
    return Status.PASS, f"resumed from {_count(len(points), 'committed state')}, same records"


def check_retries(session: ConformanceSession) -> _Verdict:
    candidates = [(len(read.records), stream) for stream in session.streams()
                  if not (read := session.full_read(stream)).error and read.records]
    if not candidates:
        return Status.SKIP, "no stream returned records to read again"
    _, stream = min(candidates, key=lambda item: item[0])
    expected = set(session.full_read(stream).by_id())
    connector = session.new_connector()
    try:
        _check_result(connector.check)  # signed in first: the failures meet the read's requests
        with inject_failures((429, 503)) as injection:
            read = session.read(stream, None, connector)
    finally:
        connector.close()
    if not injection.injected:
        return Status.SKIP, ("the read sent no request through ResiliencePolicy (right for a "
                             "local connector; one that calls an API must send every request "
                             "through it)")
    if read.error:
        return Status.FAIL, (
            f"{stream.name}: the read failed after an injected 429 and 503 ({read.error}); "
            "send every request through ResiliencePolicy (policy.call or ResilientSession), "
            "which retries them")
    retried = sum(getattr(policy, "retries", 0) for policy in injection.policies)
    if retried < len(injection.injected):
        return Status.FAIL, (
            f"{stream.name}: {_count(len(injection.injected), 'failure')} injected but "
            f"{retried} retried; do not catch the policy's errors or retry outside it")
    if set(read.by_id()) != expected:
        return Status.FAIL, (f"{stream.name}: the read with retried failures returned other "
                             "records than the read without; a retry must resend the same "
                             "request")
    return Status.PASS, (f"{stream.name}: 429 and 503 retried "
                         f"({', '.join(sorted(set(injection.injected)))})")


def check_cassettes(session: ConformanceSession) -> _Verdict:
    folder = session.target.cassettes
    if folder is None:
        return Status.SKIP, "no cassettes folder named"
    files, problems = scan_cassettes(Path(folder), session.present_secrets())
    if problems:
        return Status.FAIL, ("; ".join(problems[:3]) + "; scrub secrets at record time (the "
                             "vcr_config's filter_headers and before_record_* hooks) and "
                             "record again")
    return Status.PASS, f"{_count(files, 'cassette')} in {folder}, no secret"


def _streams(verdict: Callable[[ConformanceSession, Stream], _Verdict]
             ) -> Callable[[ConformanceSession], _Verdict]:
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
    """Run one check; an error it meets is its failure, never a traceback."""
    try:
        status, message = check.run(session)
    except CrmConnectError as exc:
        status, message = Status.FAIL, str(exc)
    except Exception as exc:
        status, message = Status.FAIL, f"{type(exc).__name__}: {exc}"
    return CheckOutcome(check.name, status, message)
