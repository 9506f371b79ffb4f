"""RequestMirror on the nginx Gateway: what a ``setMirrorRoute`` (shadow) canary step relies on.

Real implementations (Envoy's request_mirror_policies, NGINX Gateway Fabric's ``mirror``, Istio) send a
copy of each matched request to the mirror backend and drop its answer: the client only ever gets the
primary backend's response. ``percent`` mirrors that share of the requests.
"""

from __future__ import annotations

import urllib.request

import pytest

from tests.integration.gateway.conftest import (
    GATEWAYS,
    Kube,
    backend,
    deploy_track,
    gateway,
    observed,
    received,
    route,
    settled,
    tracks,
)
from tests.integration.runtime.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("gateway")]


@pytest.fixture(scope="module")
def shadow(kube: Kube) -> tuple[str, str]:
    namespace = kube.namespace("mirror")
    deploy_track(kube, namespace, "stable", replicas=2)
    deploy_track(kube, namespace, "canary", replicas=2)
    url = gateway(kube, namespace)
    kube.create(f"{GATEWAYS}/namespaces/{namespace}/httproutes", route(namespace, "shadow", mirror_rules(None)))
    observed(kube, namespace, "shadow")
    settled(url, {"stable"})
    return namespace, url


def mirror_rules(percent: int | None) -> list[dict[str, object]]:
    mirror: dict[str, object] = {"backendRef": backend("canary")}
    if percent is not None:
        mirror["percent"] = percent
    return [{"backendRefs": [backend("stable")], "filters": [{"type": "RequestMirror", "requestMirror": mirror}]}]


def test_mirrored_requests_reach_the_canary_and_clients_only_see_stable(kube: Kube, shadow: tuple[str, str]) -> None:
    namespace, url = shadow
    before = received(kube, namespace, "canary")
    assert tracks(url, 1000) == {"stable": 1000}
    wait_for(lambda: received(kube, namespace, "canary") - before == 1000, 10, what="1000 mirrored requests")


def test_mirror_percent_copies_that_share(kube: Kube, shadow: tuple[str, str]) -> None:
    namespace, url = shadow
    kube.patch(f"{GATEWAYS}/namespaces/{namespace}/httproutes/shadow", {"spec": {"rules": mirror_rules(20)}})
    observed(kube, namespace, "shadow")
    before = received(kube, namespace, "canary")
    assert tracks(url, 2000) == {"stable": 2000}
    # nginx picks mirrored requests by a hash of the random $request_id: 20% +- 3 points over 2,000.
    wait_for(lambda: 340 <= received(kube, namespace, "canary") - before <= 460, 10, what="about 400 mirrored")
    kube.patch(f"{GATEWAYS}/namespaces/{namespace}/httproutes/shadow", {"spec": {"rules": mirror_rules(None)}})
    observed(kube, namespace, "shadow")


def test_a_client_that_closes_at_once_still_has_its_request_mirrored(kube: Kube, shadow: tuple[str, str]) -> None:
    """Envoy sends the copy whatever the client does next; nginx cancels a mirror subrequest when the client's
    connection closes first, unless the mirror location ignores client aborts (the renderer sets it)."""
    namespace, url = shadow
    before = received(kube, namespace, "canary")
    for _ in range(100):  # one connection per request, closed as soon as the answer is read
        with urllib.request.urlopen(f"{url}/", timeout=5) as answer:
            assert answer.read().split(b" ", 1)[0] == b"stable"
    wait_for(lambda: received(kube, namespace, "canary") - before == 100, 10, what="100 mirrored requests")
