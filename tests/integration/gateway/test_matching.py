"""Header and path matches on the nginx Gateway: what a ``setHeaderRoute`` canary step relies on.

In real implementations (Envoy Gateway, NGINX Gateway Fabric, Istio) a rule with a header match takes
every request carrying that header value and no other request; Exact header values are case-sensitive
(header names are not); among matching rules the more specific wins: Exact path over prefix, longer
prefix over shorter, more header matches over fewer; a PathPrefix matches whole path elements only
(``/v1`` matches ``/v1`` and ``/v1/x``, not ``/v10``); a request no rule matches answers 404.
"""

from __future__ import annotations

import pytest

from tests.integration.gateway.conftest import (
    GATEWAYS,
    Kube,
    backend,
    deploy_track,
    gateway,
    observed,
    route,
    settled,
    tracks,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("gateway")]


@pytest.fixture(scope="module")
def url(kube: Kube) -> str:
    namespace = kube.namespace("matching")
    for name in ("stable", "canary", "other"):
        deploy_track(kube, namespace, name, replicas=2 if name != "other" else 1)
    found = gateway(kube, namespace)
    rules = [
        {
            "matches": [
                {"path": {"type": "PathPrefix", "value": "/"}, "headers": [{"name": "X-Canary", "value": "yes"}]}
            ],
            "backendRefs": [backend("canary")],
        },
        {
            "matches": [
                {
                    "path": {"type": "PathPrefix", "value": "/"},
                    "headers": [{"name": "x-tenant", "type": "RegularExpression", "value": "^beta-[0-9]+$"}],
                }
            ],
            "backendRefs": [backend("canary")],
        },
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [backend("stable")]},
    ]
    kube.create(f"{GATEWAYS}/namespaces/{namespace}/httproutes", route(namespace, "ab", rules))
    paths = [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/v1/"}}], "backendRefs": [backend("other")]},
        {"matches": [{"path": {"type": "Exact", "value": "/v1/exact"}}], "backendRefs": [backend("canary")]},
    ]
    kube.create(f"{GATEWAYS}/namespaces/{namespace}/httproutes", route(namespace, "paths", paths))
    observed(kube, namespace, "ab")
    observed(kube, namespace, "paths")
    settled(found, {"stable"})
    settled(found, {"canary"}, headers={"X-Canary": "yes"})
    return found


def test_header_route_sends_every_matching_request_to_the_canary_and_no_other(url: str) -> None:
    assert tracks(url, 1000, headers={"X-Canary": "yes"}) == {"canary": 1000}
    assert tracks(url, 1000) == {"stable": 1000}
    assert tracks(url, 200, headers={"X-Canary": "no"}) == {"stable": 200}


def test_exact_header_values_are_case_sensitive_and_names_are_not(url: str) -> None:
    assert tracks(url, 100, headers={"x-canary": "yes"}) == {"canary": 100}
    assert tracks(url, 100, headers={"X-Canary": "YES"}) == {"stable": 100}
    assert tracks(url, 100, headers={"X-Canary": "ye"}) == {"stable": 100}


def test_regular_expression_header_match(url: str) -> None:
    assert tracks(url, 100, headers={"X-Tenant": "beta-42"}) == {"canary": 100}
    assert tracks(url, 100, headers={"X-Tenant": "beta-x"}) == {"stable": 100}


def test_path_prefix_matches_whole_elements_and_exact_wins(url: str) -> None:
    assert tracks(url, 50, "/v1") == {"other": 50}
    assert tracks(url, 50, "/v1/models/x") == {"other": 50}
    assert tracks(url, 50, "/v10") == {"stable": 50}  # not under /v1: the "/" rule takes it
    assert tracks(url, 50, "/v1/exact") == {"canary": 50}
    assert tracks(url, 50, "/v1/exact/more") == {"other": 50}
    assert tracks(url, 50, "/v1/x?user=1") == {"other": 50}


def test_longer_prefix_wins_over_a_header_match_on_a_shorter_one(url: str) -> None:
    """Precedence is path first: /v1/ (longer prefix) beats "/" with a header."""
    assert tracks(url, 50, "/v1/x", headers={"X-Canary": "yes"}) == {"other": 50}


def test_no_matching_rule_answers_404(kube: Kube) -> None:
    namespace = kube.namespace("nomatch")
    deploy_track(kube, namespace, "stable", replicas=1)
    found = gateway(kube, namespace)
    rules = [{"matches": [{"path": {"type": "Exact", "value": "/only"}}], "backendRefs": [backend("stable")]}]
    kube.create(f"{GATEWAYS}/namespaces/{namespace}/httproutes", route(namespace, "only", rules))
    observed(kube, namespace, "only")
    settled(found, {"stable"}, "/only")
    assert tracks(found, 20, "/other") == {"<404>": 20}
    assert tracks(found, 20, "/only/") == {"<404>": 20}


def test_route_hostnames_match_the_host_header(kube: Kube) -> None:
    """A route with ``hostnames`` serves only requests for those hosts (a ``*.`` wildcard covers any
    subdomain); a route without hostnames serves the other hosts. As with Envoy's virtual hosts, the most
    specific hostname decides first: a request for ``models.example.com`` only meets that host's routes."""
    namespace = kube.namespace("hosts")
    deploy_track(kube, namespace, "stable", replicas=1)
    deploy_track(kube, namespace, "canary", replicas=1)
    found = gateway(kube, namespace)
    named = route(namespace, "named", [{"backendRefs": [backend("canary")]}])
    named["spec"]["hostnames"] = ["models.example.com", "*.beta.example.com"]
    kube.create(f"{GATEWAYS}/namespaces/{namespace}/httproutes", named)
    kube.create(
        f"{GATEWAYS}/namespaces/{namespace}/httproutes", route(namespace, "any", [{"backendRefs": [backend("stable")]}])
    )
    observed(kube, namespace, "named")
    observed(kube, namespace, "any")
    settled(found, {"canary"}, headers={"Host": "models.example.com"})
    assert tracks(found, 50, headers={"Host": "models.example.com"}) == {"canary": 50}
    assert tracks(found, 50, headers={"Host": "a.beta.example.com"}) == {"canary": 50}
    assert tracks(found, 50, headers={"Host": "other.example.com"}) == {"stable": 50}
    assert tracks(found, 50) == {"stable": 50}
