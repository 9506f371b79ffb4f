"""Weighted backendRefs on the nginx Gateway: the split a canary step asks for is the split clients get.

Real implementations (Envoy Gateway, NGINX Gateway Fabric, Istio) split each request by the backendRefs'
weights, per request and independently of replica counts; a weight of 0 gets no traffic; a rule whose
weights are all 0 answers 500 (Gateway API HTTPBackendRef.weight). nginx's smooth weighted round-robin is
deterministic, so over whole cycles the split is exact, not merely within noise.
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
REQUESTS = 2000  # per step: 10,000 over the five weights


@pytest.fixture(scope="module")
def split(kube: Kube) -> tuple[str, str]:
    namespace = kube.namespace("weights")
    deploy_track(kube, namespace, "stable", replicas=2)
    deploy_track(kube, namespace, "canary", replicas=2)
    url = gateway(kube, namespace)
    body = route(namespace, "split", [{"backendRefs": [backend("stable", 100), backend("canary", 0)]}])
    kube.create(f"{GATEWAYS}/namespaces/{namespace}/httproutes", body)
    observed(kube, namespace, "split")
    settled(url, {"stable"})
    return namespace, url


def set_weights(kube: Kube, namespace: str, stable: int, canary: int) -> None:
    rules = [{"backendRefs": [backend("stable", stable), backend("canary", canary)]}]
    kube.patch(f"{GATEWAYS}/namespaces/{namespace}/httproutes/split", {"spec": {"rules": rules}})
    observed(kube, namespace, "split")  # written once nginx's new workers serve the new weights


@pytest.mark.parametrize("percent", [1, 5, 25, 50, 100])
def test_measured_split_matches_every_canary_weight(kube: Kube, split: tuple[str, str], percent: int) -> None:
    namespace, url = split
    set_weights(kube, namespace, 100 - percent, percent)
    seen = tracks(url, REQUESTS)
    canary = 100.0 * seen.get("canary", 0) / REQUESTS
    assert set(seen) <= {"stable", "canary"}, seen
    assert abs(canary - percent) <= 1.5, f"{percent}% asked, {canary:.2f}% measured: {seen}"
    # Smooth weighted round-robin: 2,000 requests are whole cycles, so the split is exact.
    assert seen.get("canary", 0) == REQUESTS * percent // 100, seen


def test_replica_count_does_not_change_the_split(kube: Kube, split: tuple[str, str]) -> None:
    """Unlike the replica-ratio split behind one Service: 3 stable pods against 2 canary pods still give
    exactly 5% to the canary."""
    namespace, url = split
    kube.patch(f"/apis/apps/v1/namespaces/{namespace}/deployments/stable", {"spec": {"replicas": 3}})
    from tests.integration.runtime.helpers import wait_for

    def three() -> bool:
        endpoints = kube.get(f"/api/v1/namespaces/{namespace}/endpoints/stable")
        return sum(len(s.get("addresses") or []) for s in endpoints.get("subsets") or []) == 3

    wait_for(three, 60, what="3 ready stable pods")
    set_weights(kube, namespace, 95, 5)
    wait_for(lambda: len(pods_answering(url)) == 5, 30, what="nginx to use the third stable pod")
    seen = tracks(url, 3000)
    assert seen.get("canary", 0) == 150, seen
    kube.patch(f"/apis/apps/v1/namespaces/{namespace}/deployments/stable", {"spec": {"replicas": 2}})


def pods_answering(url: str) -> set[str]:
    from tests.integration.gateway.conftest import Client

    client = Client(url)
    try:
        return {client.get("/")[1] for _ in range(300)}
    finally:
        client.close()


def test_weight_zero_gets_nothing_and_all_zero_answers_500(kube: Kube, split: tuple[str, str]) -> None:
    namespace, url = split
    set_weights(kube, namespace, 100, 0)
    assert tracks(url, 500) == {"stable": 500}
    set_weights(kube, namespace, 0, 0)
    assert tracks(url, 100) == {"<500>": 100}
    set_weights(kube, namespace, 100, 0)


def test_each_pod_of_a_track_gets_its_share(kube: Kube, split: tuple[str, str]) -> None:
    """Weights are per backend (Service), then spread evenly over its ready pods."""
    namespace, url = split
    set_weights(kube, namespace, 50, 50)
    from tests.integration.gateway.conftest import Client

    client = Client(url)
    counts: dict[str, int] = {}
    try:
        for _ in range(1000):
            body = client.get("/")[1]
            counts[body] = counts.get(body, 0) + 1
    finally:
        client.close()
    assert len(counts) == 4, counts
    assert all(count == 250 for count in counts.values()), counts
