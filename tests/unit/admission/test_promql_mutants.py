"""The local PromQL check on comments, quotes, escapes and newlines, answer by answer.

Mutation testing (benchmarks/mutation.py) showed the behaviour tests did not pin how comments end,
which quotes escape and which a newline ends, nor exact error positions after a comment; and that the
HTTP side was only tested against a real Prometheus, which never answers oddly. A scripted stand-in
server states what each answer means.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from mlaiops.admission.promql import PrometheusParser, PromqlUnavailable, local_error

CASES = [
    # comments run to the end of their line, and only that line
    ("rate(x[5m]) # a (comment\n", None),
    ("# only a comment", None),
    ("x # ) comment\n+ y", None),
    ("a\n# x\n(b)", None),
    ("# c\n)", "unexpected ')' at position 5"),
    ("# c\n)\n", "unexpected ')' at position 5"),
    ("(a)#c\n(b", "unclosed left parenthesis at position 7"),
    # double quotes: a backslash escapes the next character, a newline ends the string unclosed
    ('x{a=""}', None),
    ('x{a="b\\"c"}', None),
    ('x{a="\\""}', None),
    ('x{a="b\\"}', "unterminated quoted string at position 5"),
    ('x{a="b\nc"}', "unterminated quoted string at position 5"),
    ('x{a="b\\\\"}(', "unclosed left parenthesis at position 11"),
    # backticks: raw, no escapes, may span lines
    ("x{a=`b\\`}", None),
    ("x{a=`b\nc`}", None),
    # brackets inside strings do not count; letters are never brackets or quotes
    ('sum(x{a="("})', None),
    ("rate(X[5m])", None),
    ('"', "unterminated quoted string at position 1"),
    ("(x", "unclosed left parenthesis at position 1"),
    ("x)", "unexpected ')' at position 2"),
]


@pytest.mark.parametrize(("query", "error"), CASES)
def test_local_error_answers_exactly(query: str, error: str | None) -> None:
    """Each query gets exactly this answer: None when it may be valid, else the first problem and its position."""
    assert local_error(query) == error


# --- Prometheus's parser over HTTP, against a scripted stand-in server ----------------------------------


class FakePrometheus:
    """An HTTP server that answers each path as scripted and records every request it gets."""

    def __init__(self, answers: dict[str, tuple[int, bytes]]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, dict[str, str], str]] = []  # (path, headers, body)
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                path = self.requestline.split()[1]  # as sent: http.server collapses a leading "//" in self.path
                fake.requests.append((path, dict(self.headers.items()), body))
                status, payload = fake.answers.get(path, (404, b"404 page not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()

    @property
    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


OK = (200, json.dumps({"status": "success", "data": "up"}).encode())
BAD = (
    400,
    json.dumps({"status": "error", "errorType": "bad_data", "error": 'invalid parameter "query": 1:3: oops'}).encode(),
)


@pytest.fixture
def prometheus() -> Iterator[Callable[..., FakePrometheus]]:
    servers: list[FakePrometheus] = []

    def start(**answers: tuple[int, bytes]) -> FakePrometheus:
        server = FakePrometheus({f"/api/v1/{name}": answer for name, answer in answers.items()})
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_a_query_is_posted_as_a_form_to_parse_query(prometheus: Callable[..., FakePrometheus]) -> None:
    server = prometheus(parse_query=OK)
    parser = PrometheusParser(server.url + "/")  # a trailing slash is dropped
    assert parser.check('sum(x{a="b"})') is None
    [(path, headers, body)] = server.requests
    assert path == "/api/v1/parse_query"
    assert body == "query=sum%28x%7Ba%3D%22b%22%7D%29"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert {name.lower() for name in headers} == {
        "accept-encoding",
        "connection",
        "content-length",
        "content-type",
        "host",
        "user-agent",
    }


def test_a_parse_error_is_the_parser_message_without_its_prefix(prometheus: Callable[..., FakePrometheus]) -> None:
    server = prometheus(parse_query=BAD)
    assert PrometheusParser(server.url).check("a b") == "1:3: oops"
    bare = prometheus(parse_query=(400, json.dumps({"status": "error", "errorType": "bad_data"}).encode()))
    assert PrometheusParser(bare.url).check("a b") == "parse error"


def test_an_old_prometheus_is_asked_with_format_query_from_then_on(prometheus: Callable[..., FakePrometheus]) -> None:
    """Prometheus 2.42 has no parse_query (a plain 404): the parser falls back and remembers the endpoint."""
    server = prometheus(format_query=OK)
    parser = PrometheusParser(server.url)
    assert parser.check("up") is None
    assert parser.check("down") is None
    assert server.paths == ["/api/v1/parse_query", "/api/v1/format_query", "/api/v1/format_query"]


def test_answers_are_cached_until_the_cache_is_full(prometheus: Callable[..., FakePrometheus]) -> None:
    server = prometheus(parse_query=BAD)
    parser = PrometheusParser(server.url, cache_size=2)
    assert [parser.check(q) for q in ("a", "a", "b", "a")] == ["1:3: oops"] * 4
    assert len(server.requests) == 2  # a and b asked once each
    parser.check("c")  # the cache holds 2: it is emptied before c goes in
    parser.check("a")
    assert [body for _, _, body in server.requests] == ["query=a", "query=b", "query=c", "query=a"]


def test_defaults_bound_the_wait_and_the_cache() -> None:
    """Admission must answer within the webhook's timeout (10 s): one parser call waits at most 2 s."""
    parser = PrometheusParser("http://127.0.0.1:1")
    assert (parser.timeout, parser.cache_size) == (2.0, 1024)


UNAVAILABLE = [
    # (answers, the PromqlUnavailable message after the server's URL)
    ({"parse_query": (200, b"")}, "answered 200 to /api/v1/parse_query"),
    ({"parse_query": (200, json.dumps({"status": "error"}).encode())}, "answered 200 to /api/v1/parse_query"),
    ({"parse_query": (500, json.dumps({"status": "success"}).encode())}, "answered 500 to /api/v1/parse_query"),
    ({"parse_query": (422, json.dumps({"errorType": "bad_data"}).encode())}, "answered 422 to /api/v1/parse_query"),
    (
        {"parse_query": (404, json.dumps({"status": "error"}).encode()), "format_query": OK},
        "answered 404 to /api/v1/parse_query",
    ),
    ({}, "has neither /api/v1/parse_query nor /api/v1/format_query"),
]


@pytest.mark.parametrize(("answers", "message"), UNAVAILABLE)
def test_answers_that_are_no_verdict_make_the_parser_unavailable(
    prometheus: Callable[..., FakePrometheus], answers: dict[str, tuple[int, bytes]], message: str
) -> None:
    server = prometheus(**answers)
    with pytest.raises(PromqlUnavailable) as raised:
        PrometheusParser(server.url).check("up")
    assert str(raised.value) == f"Prometheus at {server.url} {message}"


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # connections complete, no answer ever comes
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        hang_up = threading.Timer(1.5, silent.close)  # a parser without a timeout would wait for this
        hang_up.start()
        started = time.monotonic()
        with pytest.raises(PromqlUnavailable, match=f"^Prometheus at {url} is unreachable: "):
            PrometheusParser(url, timeout=0.2).check("up")
        assert time.monotonic() - started < 1
        hang_up.cancel()
