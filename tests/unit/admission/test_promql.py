"""PromQL checks: the local bracket/quote check, and Prometheus's own parser over HTTP (a real server)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlaiops_sandbox.testing import free_port

from mlaiops.admission import PrometheusParser, PromqlUnavailable, local_error
from mlaiops.rollout.analysis import BUILTIN_QUERIES
from tests.profiles import examples

VALID = [
    "up",
    'sum(rate(x{job="a(b"}[5m]))',
    "sum by (le) (rate(x_bucket[1m]))",
    'x{a=~"[a-z]+"}',
    "x # a comment with ( and [\n + y",
    "label_replace(up, `dst`, '$1', 'src', '(.*)')",
    'x{a="say \\"hi\\" ("}',
    *BUILTIN_QUERIES.values(),
]
INVALID = [
    ("sum(rate(x[5m])", "unclosed left parenthesis at position 4"),
    ("x[5m", "unclosed left bracket at position 2"),
    ("x{a='b'", "unclosed left brace at position 2"),
    ('x{a="b}', "unterminated quoted string at position 5"),
    ("x)", "unexpected ')' at position 2"),
    ("(x]", "unexpected ']' at position 3"),
    ("`raw", "unterminated quoted string at position 1"),
]


@pytest.mark.parametrize("query", VALID)
def test_local_check_accepts_valid_promql(query: str) -> None:
    assert local_error(query) is None


@pytest.mark.parametrize(("query", "message"), INVALID)
def test_local_check_finds_unbalanced_promql(query: str, message: str) -> None:
    assert local_error(query) == message


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed")
    from mlaiops_sandbox.runtime.prometheus import Prometheus

    server = Prometheus(Path(tmp_path_factory.mktemp("prometheus")))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.mark.integration
def test_prometheus_parser_accepts_and_rejects_like_prometheus(prometheus: str) -> None:
    parser = PrometheusParser(prometheus)
    assert parser.check("sum(rate(x[5m]))") is None
    assert parser.check("sum(rate(x[5m])") == "1:16: parse error: unclosed left parenthesis"
    # What the local check cannot see: an unknown function and a bad duration.
    assert parser.check("rat(x[5m])") == '1:1: parse error: unknown function with name "rat"'
    assert parser.check("rate(x[5q])") == '1:8: parse error: bad duration syntax: "5"'
    assert parser.check("sum(x) by") == '1:10: parse error: unexpected end of input in grouping opts, expected "("'
    for query in BUILTIN_QUERIES.values():
        assert parser.check(query.replace("{{interval}}", "30s")) is None
    # Debian's 2.42 answers 404 to /api/v1/parse_query; the parser fell back to /api/v1/format_query.
    assert parser._endpoint in ("/api/v1/parse_query", "/api/v1/format_query")


def test_unreachable_prometheus_raises_unavailable() -> None:
    parser = PrometheusParser(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(PromqlUnavailable, match="unreachable"):
        parser.check("up")


TOKENS = ["sum", "rate", "x", "by", "(le)", "(", ")", "[5m]", "[", "]", "{", "}", 'a="b"', "a=~'c.*'", '"', "'", "`"]
TOKENS += ["`r(`", " ", ",", "+", "#", "\n", "1", "5m", "\\", "=", "up"]


@pytest.mark.integration
@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12).map("".join))
def test_local_check_never_refuses_what_prometheus_parses(prometheus: str, query: str) -> None:
    """Soundness of the local check against the real parser: a local error implies a Prometheus error."""
    if local_error(query) is not None:
        assert PrometheusParser(prometheus).check(query) is not None, query
