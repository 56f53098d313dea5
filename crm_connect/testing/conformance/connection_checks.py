"""The conformance checks of the connection as a whole: its configuration model, ``check()``
and its secrets, retries through the resilience policy, and the cassettes recorded from it."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from crm_connect.config import parse_config
from crm_connect.errors import ConfigError, CrmConnectError
from crm_connect.resilience.injection import INJECTED, inject_failures
from crm_connect.testing.conformance.cassettes import scan_cassettes
from crm_connect.testing.conformance.outcomes import Status, Verdict, count
from crm_connect.testing.conformance.session import ConformanceSession

__all__ = ["check_cassettes", "check_check_succeeds", "check_config_model",
           "check_missing_secret_named", "check_retries"]

_PROBE_KEY = "conformance_probe_unknown_key"


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


def check_config_model(session: ConformanceSession) -> Verdict:
    try:
        return _config_model(session)
    except _NoTable:
        return Status.SKIP, (f"the connection is not written as a [connections."
                             f"{session.connection}] table to add keys to")


def _config_model(session: ConformanceSession) -> Verdict:
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


def check_check_succeeds(session: ConformanceSession) -> Verdict:
    ok, message = _check_result(session.connector.check)
    if not ok:
        return Status.FAIL, (f"check() failed: {message.rstrip('. ')}. check() must succeed on a "
                             "connection that is configured and reachable")
    return Status.PASS, message


def check_missing_secret_named(session: ConformanceSession) -> Verdict:
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


class _DropInjected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return INJECTED not in record.getMessage()


@contextlib.contextmanager
def _injected_retries_unlogged() -> Iterator[None]:
    """The policy's warnings about the failures the check injects are not shown: they are
    the check's doing, and its outcome reports them."""
    logger = logging.getLogger("crm_connect.resilience")
    quiet = _DropInjected()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def check_retries(session: ConformanceSession) -> Verdict:
    candidates = [(len(read.records), stream) for stream in session.streams()
                  if not (read := session.full_read(stream)).error and read.records]
    if not candidates:
        return Status.SKIP, "no stream returned records to read again"
    _, stream = min(candidates, key=lambda item: item[0])
    expected = set(session.full_read(stream).by_id())
    connector = session.new_connector()
    try:
        _check_result(connector.check)  # signed in first: the failures meet the read's requests
        with _injected_retries_unlogged(), inject_failures((429, 503)) as injection:
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
            f"{stream.name}: {count(len(injection.injected), 'failure')} injected but "
            f"{retried} retried; do not catch the policy's errors or retry outside it")
    if set(read.by_id()) != expected:
        return Status.FAIL, (f"{stream.name}: the read with retried failures returned other "
                             "records than the read without; a retry must resend the same "
                             "request")
    return Status.PASS, (f"{stream.name}: 429 and 503 retried "
                         f"({', '.join(sorted(set(injection.injected)))})")


def check_cassettes(session: ConformanceSession) -> Verdict:
    folder = session.target.cassettes
    if folder is None:
        return Status.SKIP, "no cassettes folder named"
    files, problems = scan_cassettes(Path(folder), session.present_secrets())
    if problems:
        return Status.FAIL, ("; ".join(problems[:3]) + "; scrub secrets at record time (the "
                             "vcr_config's filter_headers and before_record_* hooks) and "
                             "record again")
    return Status.PASS, f"{count(files, 'cassette')}, no secret (in {folder})"
