"""The loopback server kit of crm_connect.testing: routes, TLS, the request log and every fault."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from crm_connect.testing import faultbook
from crm_connect.testing.server import LoopbackServer, Request, Response

DOCS = Path(__file__).parent.parent / "docs"


def things(request: Request) -> Response:
    return Response.json(200, {"things": [1, 2, 3], "query": request.params})


def stream(request: Request) -> Response:
    return Response(200, iter([b"a,b\n", b"1,2\n", b"3,4\n"]), "text/csv")


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        running.route("GET", "/things", things)
        running.route("GET", "/stream", stream)
        running.route("POST", "/echo", lambda request: Response.json(201, request.json()))
        yield running


def get(server: LoopbackServer, path: str, **kwargs: object) -> requests.Response:
    return requests.get(f"{server.url}{path}", timeout=5, **kwargs)  # type: ignore[arg-type]


def test_routes_answer_and_the_log_records_each_request_without_the_token(
        server: LoopbackServer) -> None:
    answer = get(server, "/things?after=2", headers={"Authorization": "Bearer s3cret"})
    assert answer.json() == {"things": [1, 2, 3], "query": {"after": ["2"]}}
    created = requests.post(f"{server.url}/echo", json={"a": 1}, timeout=5)
    assert created.status_code == 201 and created.json() == {"a": 1}
    assert get(server, "/nowhere").status_code == 404
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
    first, second, third = server.requests
    assert (first.method, first.path, first.query, first.status) == ("GET", "/things", "after=2",
                                                                     200)
    assert first.headers["Authorization"] == "<redacted>"
    assert "s3cret" not in repr(server.requests)
    assert (second.method, second.body, second.status) == ("POST", b'{"a": 1}', 201)
    assert third.status == 404
    assert server.request_count("^/things$") == 1 and server.request_count(status=404) == 1


def test_only_loopback_addresses_are_accepted() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LoopbackServer(host="0.0.0.0")


def test_tls_with_a_certificate_the_client_trusts() -> None:
    with LoopbackServer(tls=True) as server:
        server.route("GET", "/things", things)
        assert server.url.startswith("https://127.0.0.1:")
        assert server.cert_path is not None
        answer = requests.get(f"{server.url}/things", verify=str(server.cert_path), timeout=5)
        assert answer.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{server.url}/things", timeout=5)  # an unknown certificate
        cert_dir = server.cert_path.parent
    assert not cert_dir.exists()  # the throwaway certificate is gone with the server


def test_a_handler_that_raises_still_gets_an_answer_and_a_log_entry() -> None:
    def broken(request: Request) -> Response:
        raise KeyError("oops")

    with LoopbackServer() as server:
        server.route("*", "/broken", broken)
        assert get(server, "/broken").status_code == 500
        assert server.requests[0].fault == "error: KeyError('oops')"


@pytest.mark.parametrize(("retry_after", "header"), [
    (3, "3"),
    (dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "Wed, 02 Jan 2030 03:04:05 GMT"),
    (None, None),
])
def test_429_with_retry_after_in_seconds_as_a_date_or_absent(
        server: LoopbackServer, retry_after: int | dt.datetime | None, header: str | None) -> None:
    server.faults.add(faultbook.rate_limited(retry_after, {"error": "slow down"}), path="/things")
    answer = get(server, "/things")
    assert answer.status_code == 429 and answer.json() == {"error": "slow down"}
    assert answer.headers.get("Retry-After") == header
    if isinstance(retry_after, dt.datetime):
        assert email.utils.parsedate_to_datetime(header or "") == retry_after
    assert get(server, "/things").status_code == 200  # count=1: the next one passes


def test_5xx_with_retry_after_counted_and_limited_to_a_method(server: LoopbackServer) -> None:
    queued = server.faults.add(faultbook.server_error(503, retry_after=1), path="/things",
                               method="GET", count=2)
    assert requests.post(f"{server.url}/echo", json={}, timeout=5).status_code == 201
    statuses = [get(server, "/things") for _ in range(3)]
    assert [a.status_code for a in statuses] == [503, 503, 200]
    assert statuses[0].headers["Retry-After"] == "1"
    assert queued.hits == 2 and queued.exhausted
    with pytest.raises(ValueError, match="5xx"):
        faultbook.server_error(404)


def test_connection_reset_answers_nothing(server: LoopbackServer) -> None:
    server.faults.add(faultbook.connection_reset(), path="/things")
    with pytest.raises(requests.exceptions.ConnectionError):
        get(server, "/things")
    assert server.requests[0].status == 0 and server.requests[0].fault == "reset"
    assert get(server, "/things").status_code == 200


def test_truncated_body_sends_half_of_what_it_announces(server: LoopbackServer) -> None:
    server.faults.add(faultbook.truncated_body(), path="/things")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"GET /things HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := raw.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    announced = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    assert 0 < len(body) < announced
    assert server.requests[0].fault == "truncated"


def test_truncated_chunked_body_is_cut_after_its_first_chunk(server: LoopbackServer) -> None:
    server.faults.add(faultbook.truncated_body(), path="/stream")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(server, "/stream")
    assert get(server, "/stream").text == "a,b\n1,2\n3,4\n"


def test_expired_token_answers_the_callers_body_after_its_effect(server: LoopbackServer) -> None:
    revoked: list[str | None] = []
    body = [{"errorCode": "SESSION_GONE"}]
    server.faults.add(faultbook.expired_token(body, headers={"WWW-Authenticate": "Bearer"},
                                              effect=lambda r: revoked.append(r.bearer())),
                      path="/things")
    answer = get(server, "/things", headers={"Authorization": "Bearer t-1"})
    assert answer.status_code == 401 and answer.json() == body
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert revoked == ["t-1"]


def test_skip_counts_matching_requests_and_the_first_queued_fault_wins(
        server: LoopbackServer) -> None:
    server.faults.add(faultbook.status(418, {"teapot": True}), path="/things", skip=1, count=None)
    server.faults.add(faultbook.status(409), path="/things", count=1)
    codes = [get(server, "/things").status_code for _ in range(4)]
    assert codes == [409, 418, 418, 418]
    server.faults.clear()
    assert get(server, "/things").status_code == 200


def test_claimable_faults_wait_for_a_handler_to_claim_them() -> None:
    def search(request: Request) -> Response:
        days = int(request.params["days"][0])
        fault = server.faults.claim(request.method, request.path, "too_wide",
                                    accept=lambda f: days > f.data["days"])
        return Response.json(400 if fault else 200, {})

    with LoopbackServer() as server:
        server.route("GET", "/search", search)
        server.faults.add(faultbook.claimable("too_wide", days=30), path="/search", count=None)
        assert get(server, "/search?days=7").status_code == 200
        assert get(server, "/search?days=90").status_code == 400


def test_slow_delays_the_answer_past_a_read_timeout(server: LoopbackServer) -> None:
    server.faults.add(faultbook.slow(1.0), path="/things")
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{server.url}/things", timeout=0.2)


def test_the_kit_reference_example_runs() -> None:
    text = (DOCS / "writing-a-plugin.md").read_text()
    section = text.split("## Kit reference: loopback servers and faults", 1)[1]
    [code] = re.findall(r"```python kit\n(.*?)```", section, re.DOTALL)
    exec(compile(code, "writing-a-plugin.md", "exec"), {"__name__": "kit_example"})


def test_the_kit_names_no_vendor() -> None:
    """Vendor bodies and headers come from the tests that use the kit, never the kit itself."""
    import crm_connect.testing

    folder = Path(crm_connect.testing.__file__).parent
    for source in folder.glob("*.py"):
        text = source.read_text().lower()
        for vendor in ("salesforce", "hubspot", "sforce"):
            assert vendor not in text, f"{source.name} names {vendor}"


def test_the_scrubbing_vcr_config_keeps_every_spelling_of_a_secret_out() -> None:
    from types import SimpleNamespace

    from crm_connect.testing.cassettes import REDACTED, scrubbing_vcr_config

    config = scrubbing_vcr_config(
        form_fields={"client_secret"}, json_fields=("access_token",),
        text_patterns=[(r"<(sessionId)>[^<]*</\1>", rf"<\1>{REDACTED}</\1>")],
        query_parameters=("api_key",))
    assert ("authorization", REDACTED) in config["filter_headers"]
    assert config["filter_query_parameters"] == [("api_key", REDACTED)]
    assert config["match_on"] == ["method", "path", "query"]

    form = SimpleNamespace(body=b"grant_type=refresh&client_secret=s3cret&client_id=app")
    assert config["before_record_request"](form).body == (
        b"grant_type=refresh&client_secret=REDACTED&client_id=app")
    soap = SimpleNamespace(body="<login><sessionId>00D!AQ</sessionId></login>")
    assert config["before_record_request"](soap).body == (
        b"<login><sessionId>REDACTED</sessionId></login>")
    answer = {"body": {"string": b'{"access_token": "tok-1", "expires_in": 1800}'},
              "headers": {"Set-Cookie": ["sid=abc"], "Content-Type": ["application/json"]}}
    scrubbed = config["before_record_response"](answer)
    assert scrubbed["body"]["string"] == b'{"access_token": "REDACTED", "expires_in": 1800}'
    assert scrubbed["headers"] == {"Set-Cookie": [REDACTED],
                                   "Content-Type": ["application/json"]}
    binary = SimpleNamespace(body=b"\xff\xfe not text")
    assert config["before_record_request"](binary).body == b"\xff\xfe not text"
