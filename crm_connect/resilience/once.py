"""Requests that must not be sent twice: a job creation, an OAuth token grant, any POST that
changes something on the vendor's side.

:func:`send_once` sends such a request through the connection's policy (rate limit, quota
guard, and retries of the failures that say the request was *not* acted on: a refused
connection, a 429 or 5xx answer, a refused session), but a failure after the request went out (the
connection dropped before or during the answer, a read timeout, a truncated body) is never
retried: the vendor may have acted on it already.  Sending it again would create a second job,
or present a refresh token the first request already rotated.  :class:`AnswerLost` says so to
the user instead, with what the plugin knows the loss means.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
import urllib3.exceptions

from crm_connect.errors import NotRetriedError
from crm_connect.resilience.http import inspect_response
from crm_connect.resilience.policy import ResiliencePolicy, describe_request

__all__ = ["AnswerLost", "answer_may_be_lost", "send_once"]


class AnswerLost(NotRetriedError):
    """A request that must not be repeated failed after it may have reached the server."""


def answer_may_be_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (raised by requests) may have happened after the server received the
    request: ``False`` only when the connection was never made (refused, unresolvable, connect
    timeout, TLS or proxy failure, a bad URL)."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError,
                        requests.exceptions.ProxyError, requests.exceptions.InvalidURL)):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        return not isinstance(reason, (urllib3.exceptions.NewConnectionError,
                                       urllib3.exceptions.ConnectTimeoutError))
    return isinstance(exc, (requests.exceptions.Timeout,
                            requests.exceptions.ChunkedEncodingError,
                            requests.exceptions.ContentDecodingError))


def send_once(session: requests.Session, policy: ResiliencePolicy, method: str, url: str, *,
              what: str, consequence: str,
              check: Callable[[requests.Response], None] | None = None,
              **kwargs: Any) -> requests.Response:
    """Send a request that is not safe to repeat through ``policy``, never sending it again
    once it may have reached the server.

    The request waits for the connection's rate limit and counts against the limit group the
    policy's vendor profile gives it; the policy's timeout applies unless ``kwargs`` has one.
    Answers (a 429 or 5xx, an expired session, which is refreshed first) are retried like
    those of any other request: an answer means the request's fate is known.

    :param session: the session to send with: its adapters, auth and headers are used, never
        its own retrying ``request`` (a :class:`~crm_connect.resilience.ResilientSession` may
        be passed).
    :param what: what the request does, for the message (``"creating a query job"``).
    :param consequence: what the user should know or do when the answer was lost.
    :param check: called with each response before the policy looks at it (to raise the
        vendor's own refusal, or to raise for a status the policy should read).
    :param kwargs: passed on to ``requests.Session.request`` (``data``, ``json``, ``headers``).
    :raises AnswerLost: when the answer was lost after the request may have been sent.
    """
    kwargs.setdefault("timeout", policy.settings.timeout)
    description = describe_request(method, url)

    def attempt() -> requests.Response:
        try:
            response = requests.Session.request(session, method, url, **kwargs)
        except requests.RequestException as exc:
            if answer_may_be_lost(exc):
                raise AnswerLost(
                    f"{description}: the answer was lost ({type(exc).__name__}) after the "
                    f"request was sent, while {what}. It is not sent again: {consequence}",
                    connection=policy.connection) from None
            raise
        if check is not None:
            check(response)
        return response

    return policy.execute(attempt, group=policy.group_for(method, url),
                          description=description,
                          inspect=lambda response: inspect_response(policy, response))
