"""The Gateway API objects as a real implementation reports them.

Upstream's conformance suite pins these: the GatewayClass of an implementation's controllerName is
Accepted; a Gateway is Accepted and Programmed with ``status.addresses`` and each listener's
``attachedRoutes``; an HTTPRoute gets one ``status.parents`` entry per parentRef the controller serves,
with Accepted (NotAllowedByListeners, NoMatchingParent, UnsupportedValue when refused) and ResolvedRefs:
BackendNotFound for a missing Service, RefNotPermitted for a Service in another namespace unless a
ReferenceGrant there allows HTTPRoutes of the route's namespace; requests meant for an invalid backend
answer 500. The CRDs are upstream's, so their CEL rules are enforced by the API server (422).
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
from typing import Any

import pytest
from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.runtime.util import free_port

from tests.integration.gateway.conftest import (
    GATEWAYS,
    Kube,
    backend,
    condition,
    deploy_track,
    gateway,
    observed,
    parent_status,
    route,
    settled,
    tracks,
)
from tests.integration.runtime.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("gateway")]


def test_crds_are_served_and_their_cel_rules_enforced(kube: Kube) -> None:
    resources = {r["name"] for r in kube.get(GATEWAYS)["resources"]}
    assert {"gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants"} <= resources
    assert {"gateways/status", "httproutes/status"} <= resources
    namespace = kube.namespace("cel")
    bad = route(namespace, "bad", [{"backendRefs": [{"name": "stable"}]}])  # a Service ref without port
    with pytest.raises(urllib.error.HTTPError) as refused:
        kube.create(f"{GATEWAYS}/namespaces/{namespace}/httproutes", bad)
    assert refused.value.code == 422
    assert "Must have port for Service reference" in refused.value.read().decode()
    mirror = {"backendRef": backend("canary"), "percent": 5, "fraction": {"numerator": 1}}
    bad = route(namespace, "bad", [{"filters": [{"type": "RequestMirror", "requestMirror": mirror}]}])
    with pytest.raises(urllib.error.HTTPError) as refused:
        kube.create(f"{GATEWAYS}/namespaces/{namespace}/httproutes", bad)
    assert "Only one of percent or fraction may be specified" in refused.value.read().decode()


def test_gateway_class_is_accepted(kube: Kube) -> None:
    def accepted() -> dict[str, Any] | None:
        found = kube.get(f"{GATEWAYS}/gatewayclasses/sandbox")
        return found if condition(found.get("status"), "Accepted") == "True" else None

    found = wait_for(accepted, 10, what="GatewayClass sandbox Accepted")
    assert found["spec"]["controllerName"] == "mlaiops.dev/sandbox-gateway"


def test_gateway_status_addresses_and_a_free_listener_port_honoured(kube: Kube) -> None:
    namespace = kube.namespace("gwstatus")
    port = free_port()
    url = gateway(kube, namespace, port=port)
    assert url == f"http://127.0.0.1:{port}"
    found = kube.get(f"{GATEWAYS}/namespaces/{namespace}/gateways/gw")
    assert found["status"]["addresses"] == [{"type": "IPAddress", "value": "127.0.0.1"}]
    assert condition(found["status"], "Accepted") == "True"
    assert found["metadata"]["annotations"]["sandbox.mlaiops.dev/ports"] == f'{{"http": {port}}}'
    [listener] = found["status"]["listeners"]
    assert listener["attachedRoutes"] == 0
    assert condition(listener, "Programmed") == "True"
    assert tracks(url, 5) == {"<404>": 5}  # nginx answers; no route yet


def test_route_statuses_for_bad_references_and_a_reference_grant(kube: Kube) -> None:
    namespace = kube.namespace("refs")
    other = kube.namespace("refs-backends")
    deploy_track(kube, other, "shared", replicas=1)
    url = gateway(kube, namespace)
    routes = f"{GATEWAYS}/namespaces/{namespace}/httproutes"

    missing = [{"matches": [{"path": {"type": "PathPrefix", "value": "/missing"}}], "backendRefs": [backend("nope")]}]
    kube.create(routes, route(namespace, "missing", missing))
    status = observed(kube, namespace, "missing")
    assert condition(status, "ResolvedRefs") == "False"
    assert condition(status, "ResolvedRefs", "reason") == "BackendNotFound"
    assert tracks(url, 10, "/missing") == {"<500>": 10}

    cross = [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/cross"}}],
            "backendRefs": [backend("shared", namespace=other)],
        }
    ]
    kube.create(routes, route(namespace, "cross", cross))
    status = observed(kube, namespace, "cross")
    assert condition(status, "ResolvedRefs", "reason") == "RefNotPermitted"
    assert tracks(url, 10, "/cross") == {"<500>": 10}

    grant = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "ReferenceGrant",
        "metadata": {"name": "routes-from-refs"},
        "spec": {
            "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": namespace}],
            "to": [{"group": "", "kind": "Service"}],
        },
    }
    kube.create(f"{GATEWAYS}/namespaces/{other}/referencegrants", grant)
    wait_for(lambda: condition(observed(kube, namespace, "cross"), "ResolvedRefs") == "True", 30, what="grant honoured")
    settled(url, {"shared"}, "/cross")
    listener = kube.get(f"{GATEWAYS}/namespaces/{namespace}/gateways/gw")["status"]["listeners"][0]
    assert listener["attachedRoutes"] == 2


def test_routes_the_gateway_refuses(kube: Kube) -> None:
    namespace = kube.namespace("refused")
    elsewhere = kube.namespace("refused-elsewhere")
    deploy_track(kube, namespace, "stable", replicas=1)
    gateway(kube, namespace)
    # The listener's allowedRoutes default is the Gateway's own namespace.
    kube.create(
        f"{GATEWAYS}/namespaces/{elsewhere}/httproutes",
        route(elsewhere, "foreign", [{"backendRefs": [backend("stable")]}], gateway_ns=namespace),
    )
    status = observed(kube, elsewhere, "foreign", accepted=False)
    assert condition(status, "Accepted", "reason") == "NotAllowedByListeners"
    wrong = route(namespace, "section", [{"backendRefs": [backend("stable")]}])
    wrong["spec"]["parentRefs"][0]["sectionName"] = "https"
    kube.create(f"{GATEWAYS}/namespaces/{namespace}/httproutes", wrong)
    assert condition(observed(kube, namespace, "section", accepted=False), "Accepted", "reason") == "NoMatchingParent"
    rewrite = {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/x"}}}
    unsupported = route(namespace, "rewrite", [{"filters": [rewrite], "backendRefs": [backend("stable")]}])
    kube.create(f"{GATEWAYS}/namespaces/{namespace}/httproutes", unsupported)
    status = observed(kube, namespace, "rewrite", accepted=False)
    assert condition(status, "Accepted", "reason") == "UnsupportedValue"
    assert "URLRewrite" in str(condition(status, "Accepted", "message"))
    listener = kube.get(f"{GATEWAYS}/namespaces/{namespace}/gateways/gw")["status"]["listeners"][0]
    assert listener["attachedRoutes"] == 0


def test_kubectl_shows_the_crds_printer_columns(kube: Kube, sandbox: Sandbox) -> None:
    """``kubectl get gateways`` prints upstream's columns (Class, Address, Programmed) from our status."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    namespace = kube.namespace("columns")
    gateway(kube, namespace)
    out = subprocess.run(
        ["kubectl", "--kubeconfig", str(sandbox.kubeconfig_path), "-n", namespace, "get", "gateways"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    assert out[:5] == ["NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"], out
    assert out[5:9] == ["gw", "sandbox", "127.0.0.1", "True"], out


def test_deleting_a_gateway_stops_its_nginx_and_clears_its_route_statuses(kube: Kube) -> None:
    """Deleting a Gateway removes its data plane; implementations drop their ``status.parents`` entry."""
    namespace = kube.namespace("deleted")
    deploy_track(kube, namespace, "stable", replicas=1)
    url = gateway(kube, namespace)
    kube.create(
        f"{GATEWAYS}/namespaces/{namespace}/httproutes", route(namespace, "r", [{"backendRefs": [backend("stable")]}])
    )
    observed(kube, namespace, "r")
    settled(url, {"stable"})
    kube.delete(f"{GATEWAYS}/namespaces/{namespace}/gateways/gw")

    def refused() -> bool:
        try:
            tracks(url, 1)
        except OSError:
            return True
        return False

    wait_for(refused, 20, what="the Gateway's port closed")
    wait_for(lambda: parent_status(kube, namespace, "r") is None, 20, what="the route's parent entry removed")
