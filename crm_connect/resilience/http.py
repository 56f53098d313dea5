"""HTTP clients under the policy: a ``requests.Session`` for any client built on requests
(it takes one as ``session=``) and any REST API read with requests, and the pieces that put a
urllib3-based client's pools under it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.response
from urllib3.util.retry import Retry

from crm_connect.resilience.classify import Outcome, classify_response
from crm_connect.resilience.policy import ResiliencePolicy, describe_request, is_idempotent

__all__ = ["BearerAuth", "ObservedPoolManager", "ResilientSession", "inspect_response",
           "no_retries", "observed_pool", "read_body_by", "urllib3_pool_options"]


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>`` from a callable, read afresh for every attempt.

    Set as the session's ``auth``, it overrides a stale header a client library passes
    (some client libraries send their own), so the attempt after a refresh carries the new token.
    """

    def __init__(self, token: Callable[[], str | None]) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self._token()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"


def inspect_response(policy: ResiliencePolicy, response: requests.Response) -> Outcome:
    """Let ``policy`` learn from the headers, then classify the response."""
    policy.observe(response.headers)
    body = response.content if response.status_code >= 400 else None
    return classify_response(response.status_code, response.headers, body,
                             profile=policy.profile)


class ResilientSession(requests.Session):
    """A ``requests.Session`` whose every request goes through a :class:`ResiliencePolicy`.

    Each request waits for the connection's rate limit, always has a timeout (the settings'
    connect and read timeouts unless the caller gives one) and must have its whole answer
    within ``request_timeout_seconds`` (unless the caller streams it), is retried on 408, 429, 5xx,
    timeouts, dropped connections and truncated bodies (requests that are not idempotent only
    when the server certainly did not act on them), refreshes an expired token once, and
    stops with :class:`~crm_connect.errors.QuotaExceededError` on a spent daily quota.  Other
    4xx responses are returned as usual, for the client library to report.  The transport
    adapters never retry by themselves.

    :param auth: e.g. :class:`BearerAuth` so a refreshed token is used on the next attempt.
    """

    def __init__(self, policy: ResiliencePolicy, *, auth: requests.auth.AuthBase | None = None,
                 pool_maxsize: int = 10) -> None:
        super().__init__()
        self.policy = policy
        self._marks = threading.local()
        if auth is not None:
            self.auth = auth
        for prefix in ("https://", "http://"):
            self.mount(prefix, requests.adapters.HTTPAdapter(
                max_retries=Retry(total=0, read=False, redirect=False, raise_on_redirect=False),
                pool_maxsize=pool_maxsize))

    @contextlib.contextmanager
    def idempotent_requests(self) -> Iterator[None]:
        """Mark the requests this thread sends inside the block as safe to repeat, for a POST
        that only reads, sent by a client library (``with session.idempotent_requests():
        sf.restful("composite/batch", method="POST", ...)``)."""
        depth = getattr(self._marks, "depth", 0)
        self._marks.depth = depth + 1
        try:
            yield
        finally:
            self._marks.depth = depth

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any,
        idempotent: bool | None = None, **kwargs: Any,
    ) -> requests.Response:
        """Send one request under the policy.

        :param idempotent: whether the request is safe to repeat after a failure that may
            have come after the server acted on it; by default its method says (GET, HEAD,
            OPTIONS, PUT, DELETE are), or an enclosing :meth:`idempotent_requests` block.
        """
        method_text = method.decode() if isinstance(method, bytes) else method
        url_text = url.decode() if isinstance(url, bytes) else url
        if idempotent is None:
            idempotent = is_idempotent(method_text) or getattr(self._marks, "depth", 0) > 0
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.policy.settings.timeout

        streamed = bool(kwargs.get("stream"))
        kwargs["stream"] = True  # the body is read here, against the attempt's deadline
        limit = self.policy.settings.request_timeout_seconds

        def attempt() -> requests.Response:
            deadline = time.monotonic() + limit
            response = requests.Session.request(self, method_text, url_text, *args, **kwargs)
            if not streamed:
                read_body_by(response, deadline, limit)
            return response

        return self.policy.execute(
            attempt,
            group=self.policy.group_for(method_text, url_text),
            description=describe_request(method_text, url_text),
            inspect=lambda response: inspect_response(self.policy, response),
            idempotent=idempotent,
        )


def _bound_next_read(raw: Any, seconds: float) -> None:
    """Let the socket wait at most ``seconds`` for the next bytes (best effort)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(seconds, 0.001))


def read_body_by(response: requests.Response, deadline: float, limit: float) -> None:
    """Read the whole body of a ``stream=True`` response before ``deadline`` (a
    ``time.monotonic()`` time), as ``response.content``.

    A read timeout bounds each wait for bytes, not the answer: a server sending one byte a
    second would hold the request forever.  Past the deadline the connection is dropped and
    :class:`requests.exceptions.ReadTimeout` raised, which the policy retries.
    """
    raw = response.raw
    chunks: list[bytes] = []
    if not isinstance(raw, urllib3.response.HTTPResponse):  # a test double (vcrpy replay)
        response._content = raw.read(decode_content=True)
        vars(response)["_content_consumed"] = True
        return
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise requests.exceptions.ReadTimeout(
                    f"no complete answer within {limit:g} s (request_timeout_seconds)")
            _bound_next_read(raw, remaining)
            chunk = raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
        response.close()
        raise requests.exceptions.ReadTimeout(str(exc)) from exc
    except urllib3.exceptions.DecodeError as exc:
        response.close()
        raise requests.exceptions.ContentDecodingError(str(exc)) from exc
    except (urllib3.exceptions.ProtocolError, OSError) as exc:
        response.close()
        raise requests.exceptions.ChunkedEncodingError(str(exc)) from exc
    except BaseException:
        response.close()
        raise
    response._content = b"".join(chunks)
    vars(response)["_content_consumed"] = True  # requests' own marker, as after .content
    raw.release_conn()


_CHUNK = 64 * 1024


class ObservedPoolManager:
    """Puts any urllib3-based client's pool under a policy: every request gets the policy's
    timeout (unless the caller gives one), and every response's headers, whatever the status,
    are handed to :meth:`ResiliencePolicy.observe` (rate-limit and daily usage readings).

    Retrying stays the policy's job: build the pool with :func:`urllib3_pool_options` (retries
    off) and wrap each API call in ``policy.call(...)``.  Anything else is passed to the
    wrapped pool, so the wrapper replaces a client's ``pool_manager`` attribute in place.
    """

    def __init__(self, pool: Any, policy: ResiliencePolicy) -> None:
        self._pool = pool
        self._policy = policy

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """Send through the wrapped pool with the policy's timeout; observe the answer."""
        if kwargs.get("timeout") is None:
            connect, read = self._policy.settings.timeout
            kwargs["timeout"] = urllib3.Timeout(connect=connect, read=read)
        response = self._pool.request(method, url, *args, **kwargs)
        headers = getattr(response, "headers", None)
        if isinstance(headers, Mapping):
            self._policy.observe(headers)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def no_retries() -> Retry:
    """urllib3 retries switched off (no retry, no ``Retry-After`` sleep, no raise on status):
    the policy is the one retry layer.  Give it to a client that takes a ``retry=`` option."""
    return Retry(total=False, respect_retry_after_header=False, raise_on_status=False)


def urllib3_pool_options(policy: ResiliencePolicy) -> dict[str, Any]:
    """Keyword arguments for ``urllib3.PoolManager(...)`` under ``policy``: retries off
    (:func:`no_retries`) and the policy's connect and read timeouts.

    For a client that builds its own pool (a generated OpenAPI client), pass
    :func:`no_retries` as its retry option instead and wrap its pool in
    :class:`ObservedPoolManager`.
    """
    connect, read = policy.settings.timeout
    return {"retries": no_retries(), "timeout": urllib3.Timeout(connect=connect, read=read)}


def observed_pool(policy: ResiliencePolicy, **options: Any) -> ObservedPoolManager:
    """A new ``urllib3.PoolManager`` with :func:`urllib3_pool_options`, wrapped in
    :class:`ObservedPoolManager`; ``options`` go to the pool manager too."""
    return ObservedPoolManager(
        urllib3.PoolManager(**(urllib3_pool_options(policy) | options)), policy)
