"""Requests that must not be sent twice: a Bulk job creation, an OAuth token grant.

Such a POST goes through the connection's policy (rate limit, quota guard, retries of failures
that prove the request was *not* acted on: a refused connection, a 429, a 5xx), but a failure
after the request went out (the connection dropped before or during the answer, a read timeout,
a truncated body) is not retried: the vendor may have acted on it already.  Sending it again
would create a second Bulk job, or present a refresh token the first request already rotated.
:class:`AnswerLost` says so to the user instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
import urllib3.exceptions

from crm_connect.errors import ConnectorError
from crm_connect.resilience import ResiliencePolicy, describe_request, inspect_response

__all__ = ["AnswerLost", "answer_may_be_lost", "send_once"]


class AnswerLost(ConnectorError):
    """A request that must not be repeated failed after it was sent."""


def answer_may_be_lost(exc: BaseException) -> bool:
    """Whether ``exc`` may have happened after the server received the request."""
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
    """Send a non-idempotent request through ``policy`` without ever repeating it once it may
    have reached the server.

    :param session: the session to send with (its adapters and auth are used, not its own
        retrying ``request``).
    :param what: what the request does, for the message (``"creating a Bulk query job"``).
    :param consequence: what the user should know or do when the answer was lost.
    :param check: called with each response before the policy looks at it (to raise the
        vendor's own refusal, or to raise for a status the policy should retry).
    :raises AnswerLost: when the answer was lost after the request was sent.
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
