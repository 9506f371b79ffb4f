"""The nginx configuration a GatewayPlan renders to: exact weights, precedence, escaping (pure)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlaiops_sandbox.gateway.model import Backend, Condition, GatewayPlan, Listener, Match, Mirror, Target
from mlaiops_sandbox.gateway.render import literal_regex, render

pytestmark = pytest.mark.unit
ERRORS = (9500, 9503)


def conf(targets: list[Target], matches: list[Match]) -> str:
    plan = GatewayPlan([Listener("http", 8000, {"": matches})], {t.name: t for t in targets})
    return render(plan, Path("/state/gw"), ERRORS)


def upstream(text: str, name: str) -> dict[str, int]:
    block = re.search(r"upstream " + name + r" \{(.*?)\}", text, re.S)
    assert block is not None, text
    return {m[0]: int(m[1]) for m in re.findall(r"server (\S+) weight=(\d+);", block.group(1))}


def match(target: str, path: str = "/", kind: str = "PathPrefix", conditions: list[Condition] | None = None) -> Match:
    return Match(kind, path, conditions or [], target, ("2026-01-01T00:00:00Z", "ns/r", 0, 0))


def test_weights_are_exact_per_pod_whatever_the_replica_counts() -> None:
    stable = Backend(95, [("127.0.0.1", 1), ("127.0.0.1", 2), ("127.0.0.1", 3)])
    canary = Backend(5, [("127.0.0.1", 4), ("127.0.0.1", 5)])
    text = conf([Target("t0", [stable, canary])], [match("t0")])
    weights = upstream(text, "gw_t0")
    # lcm(3, 2) = 6: stable pods 95*6/3 = 190, canary pods 5*6/2 = 15; divided by gcd 5.
    assert weights == {"127.0.0.1:1": 38, "127.0.0.1:2": 38, "127.0.0.1:3": 38, "127.0.0.1:4": 3, "127.0.0.1:5": 3}
    canary_share = (3 + 3) / sum(weights.values())
    assert canary_share == pytest.approx(0.05)


def test_weight_zero_is_left_out_and_all_zero_answers_500() -> None:
    text = conf(
        [
            Target("t0", [Backend(100, [("127.0.0.1", 1)]), Backend(0, [("127.0.0.1", 2)])]),
            Target("t1", [Backend(0, [("127.0.0.1", 1)])], status=500),
        ],
        [match("t0", "/a"), match("t1", "/b")],
    )
    assert upstream(text, "gw_t0") == {"127.0.0.1:1": 1}
    assert "gw_t1" not in text
    assert re.search(r"location = /__sandbox_gateway__/t1 \{\s+internal;\s+return 500;", text)


def test_invalid_backend_share_goes_to_the_500_server_and_podless_to_503() -> None:
    backends = [Backend(50, [("127.0.0.1", 1)]), Backend(25, error=500), Backend(25, [])]
    weights = upstream(conf([Target("t0", backends)], [match("t0")]), "gw_t0")
    assert weights == {"127.0.0.1:1": 2, "127.0.0.1:9500": 1, "127.0.0.1:9503": 1}


def test_location_lists_applicable_matches_in_precedence_order() -> None:
    header = Condition("header", "X-Canary", "Exact", "yes")
    text = conf(
        [Target("t0", [Backend(1, [("127.0.0.1", 1)])]), Target("t1", [Backend(1, [("127.0.0.1", 2)])])],
        [match("t0", "/"), match("t1", "/", conditions=[header])],
    )
    # The header match comes first; the match without tests is the default.
    selector = re.search(r'map "(\$gw_c\d+)" (\$gw_sel\d+) \{\s+"~\^1" t1;\s+default t0;', text)
    assert selector is not None, text
    assert f"map $http_x_canary {selector.group(1)}" in text


def test_prefix_matches_whole_path_elements() -> None:
    text = conf([Target("t0", [Backend(1, [("127.0.0.1", 1)])])], [match("t0", "/v1")])
    assert 'location = "/v1"' in text and 'location "/v1/"' in text
    assert re.search(r'location "/" \{\s+rewrite \^ /__sandbox_gateway__/404 last;', text)


def test_exact_values_are_escaped_literals() -> None:
    assert literal_regex("a.b") == "^a\\x2eb$"
    assert re.fullmatch(literal_regex('x"y$z'), 'x"y$z')
    assert not re.fullmatch(literal_regex("a.b"), "axb")
    header = Condition("header", "x-q", "Exact", 'say "hi"')
    text = conf([Target("t0", [Backend(1, [("127.0.0.1", 1)])])], [match("t0", conditions=[header])])
    assert '"~^say\\\\x20\\\\x22hi\\\\x22$" 1;' in text


def test_mirror_percent_has_at_most_two_decimals() -> None:
    target = Target("t0", [Backend(1, [("127.0.0.1", 1)])], [Mirror([("127.0.0.1", 2)], 100 / 3)])
    text = conf([target], [match("t0")])
    assert "33.33% 1;" in text
    assert "mirror /__sandbox_gateway__/t0_m0;" in text
    none = conf([Target("t0", [Backend(1, [("127.0.0.1", 1)])], [Mirror([("127.0.0.1", 2)], 0.001)])], [match("t0")])
    assert "mirror " not in none
