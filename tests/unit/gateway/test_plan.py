"""Route attachment and status verdicts of the sandbox's Gateway implementation (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from mlaiops_sandbox.gateway.plan import Cluster, hostnames_for, plan

pytestmark = pytest.mark.unit
JSON = dict[str, Any]
GATEWAY: JSON = {
    "metadata": {"name": "gw", "namespace": "app"},
    "spec": {"gatewayClassName": "sandbox", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]},
}
SERVICE: JSON = {"spec": {"ports": [{"name": "http", "port": 80}]}}
ENDPOINTS: JSON = {
    "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": 4001}]}],
}


def httproute(namespace: str, refs: list[JSON], parent_ns: str | None = None) -> JSON:
    parent: JSON = {"name": "gw"}
    if parent_ns:
        parent["namespace"] = parent_ns
    return {
        "metadata": {"name": "r", "namespace": namespace, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"parentRefs": [parent], "rules": [{"backendRefs": refs}]},
    }


def cluster(routes: list[JSON], services: dict[str, JSON] | None = None, grants: list[JSON] | None = None) -> Cluster:
    known = services if services is not None else {"app/stable": SERVICE, "shared/stable": SERVICE}
    return Cluster(
        routes=routes,
        service=lambda ns, name: known.get(f"{ns}/{name}"),
        endpoints=lambda ns, name: ENDPOINTS,
        grants=lambda ns: [g for g in grants or [] if g["metadata"]["namespace"] == ns],
        namespace_labels=lambda ns: {},
    )


def verdict(result: Any, kind: str) -> tuple[str, str]:
    [parent] = result.routes["app/r"] if "app/r" in result.routes else next(iter(result.routes.values()))
    found = {c[0]: c for c in parent.conditions}[kind]
    return found[1], found[2]


def test_resolved_route_is_planned_with_the_service_pods() -> None:
    result = plan(GATEWAY, {"http": 8000}, cluster([httproute("app", [{"name": "stable", "port": 80}])]))
    assert verdict(result, "Accepted") == ("True", "Accepted")
    assert verdict(result, "ResolvedRefs") == ("True", "ResolvedRefs")
    assert result.plan.targets["t0"].backends[0].servers == [("127.0.0.1", 4001)]
    assert result.listeners[0].attached == 1


def test_missing_service_and_wrong_port_are_backend_not_found() -> None:
    for ref in ({"name": "nope", "port": 80}, {"name": "stable", "port": 81}):
        result = plan(GATEWAY, {"http": 8000}, cluster([httproute("app", [ref])]))
        assert verdict(result, "ResolvedRefs") == ("False", "BackendNotFound")
        assert result.plan.targets["t0"].backends[0].error == 500


def test_cross_namespace_backend_needs_a_reference_grant() -> None:
    route = httproute("app", [{"name": "stable", "namespace": "shared", "port": 80}])
    assert verdict(plan(GATEWAY, {"http": 8000}, cluster([route])), "ResolvedRefs") == ("False", "RefNotPermitted")
    grant = {
        "metadata": {"name": "g", "namespace": "shared"},
        "spec": {
            "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "app"}],
            "to": [{"group": "", "kind": "Service", "name": "stable"}],
        },
    }
    result = plan(GATEWAY, {"http": 8000}, cluster([route], grants=[grant]))
    assert verdict(result, "ResolvedRefs") == ("True", "ResolvedRefs")
    other = {**grant, "spec": {**grant["spec"], "to": [{"group": "", "kind": "Service", "name": "else"}]}}
    assert verdict(plan(GATEWAY, {"http": 8000}, cluster([route], grants=[other])), "ResolvedRefs")[1] == (
        "RefNotPermitted"
    )


def test_route_from_another_namespace_is_not_allowed_by_default() -> None:
    route = httproute("elsewhere", [{"name": "stable", "port": 80}], parent_ns="app")
    result = plan(GATEWAY, {"http": 8000}, cluster([route]))
    [parent] = result.routes["elsewhere/r"]
    assert parent.conditions[0][:3] == ("Accepted", "False", "NotAllowedByListeners")
    assert result.listeners[0].attached == 0
    everyone = {**GATEWAY, "spec": {**GATEWAY["spec"], "listeners": [
        {"name": "http", "protocol": "HTTP", "port": 80, "allowedRoutes": {"namespaces": {"from": "All"}}}
    ]}}  # fmt: skip
    assert plan(everyone, {"http": 8000}, cluster([route])).listeners[0].attached == 1


def test_listener_hostnames_intersect_with_route_hostnames() -> None:
    listener = {"hostname": "*.example.com"}
    assert hostnames_for(listener, {"spec": {}}) == ["*.example.com"]
    assert hostnames_for(listener, {"spec": {"hostnames": ["a.example.com", "b.other.org"]}}) == ["a.example.com"]
    assert hostnames_for(listener, {"spec": {"hostnames": ["example.com"]}}) is None
    assert hostnames_for({}, {"spec": {}}) == [""]


def test_https_listener_is_not_served() -> None:
    gateway = {**GATEWAY, "spec": {"listeners": [{"name": "tls", "protocol": "HTTPS", "port": 443}]}}
    result = plan(gateway, {}, cluster([]))
    assert not result.accepted and result.accepted_reason == "ListenersNotValid"
    assert result.listeners[0].conditions[0][:3] == ("Accepted", "False", "UnsupportedProtocol")


def test_header_names_nginx_cannot_read_refuse_the_route_naming_the_field() -> None:
    route = httproute("app", [{"name": "stable", "port": 80}])
    route["spec"]["rules"][0]["matches"] = [{"headers": [{"name": "x.tenant", "value": "a"}]}]
    result = plan(GATEWAY, {"http": 8000}, cluster([route]))
    status, reason = verdict(result, "Accepted")
    assert (status, reason) == ("False", "UnsupportedValue")
    [parent] = result.routes["app/r"]
    assert "spec.rules[0].matches[0].headers[0].name" in parent.conditions[0][3]
    assert result.listeners[0].attached == 0


def test_mirror_fraction_and_percent() -> None:
    route = httproute("app", [{"name": "stable", "port": 80}])
    mirror = {"backendRef": {"name": "stable", "port": 80}, "fraction": {"numerator": 1, "denominator": 8}}
    route["spec"]["rules"][0]["filters"] = [{"type": "RequestMirror", "requestMirror": mirror}]
    [target] = plan(GATEWAY, {"http": 8000}, cluster([route])).plan.targets.values()
    assert target.mirrors[0].percent == 12.5
    mirror.pop("fraction")
    mirror["percent"] = 3
    [target] = plan(GATEWAY, {"http": 8000}, cluster([route])).plan.targets.values()
    assert target.mirrors[0].percent == 3
