"""Route changes reach nginx by graceful reload, and one bad route never takes the others down.

nginx's reload (SIGHUP) starts workers with the new configuration and lets the old ones finish the
requests they hold; idle keep-alive connections of old workers are closed, which HTTP clients handle by
reopening (the test client does, as urllib3 and browsers do). Real implementations behave the same way
(NGINX Gateway Fabric reloads nginx; Envoy drains listeners). A route nginx cannot load (here an invalid
header regular expression) is reported on that route (Accepted False) while every other route keeps
being served and further edits still apply, as conformance asks of partially invalid configuration.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from mlaiops_sandbox.cluster import Sandbox

from tests.integration.gateway.conftest import (
    GATEWAYS,
    Client,
    Kube,
    backend,
    condition,
    deploy_track,
    gateway,
    observed,
    route,
    settled,
    tracks,
)
from tests.integration.runtime.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("gateway")]


@pytest.fixture(scope="module")
def live(kube: Kube) -> tuple[str, str]:
    namespace = kube.namespace("reload")
    deploy_track(kube, namespace, "stable", replicas=2)
    deploy_track(kube, namespace, "canary", replicas=2)
    url = gateway(kube, namespace)
    kube.create(
        f"{GATEWAYS}/namespaces/{namespace}/httproutes",
        route(namespace, "main", [{"backendRefs": [backend("stable", 100), backend("canary", 0)]}]),
    )
    observed(kube, namespace, "main")
    settled(url, {"stable"})
    return namespace, url


def set_weights(kube: Kube, namespace: str, stable: int, canary: int) -> None:
    rules = [{"backendRefs": [backend("stable", stable), backend("canary", canary)]}]
    kube.patch(f"{GATEWAYS}/namespaces/{namespace}/httproutes/main", {"spec": {"rules": rules}})
    observed(kube, namespace, "main")


def test_requests_in_flight_finish_across_route_edits(kube: Kube, live: tuple[str, str]) -> None:
    namespace, url = live

    def slow(_: int) -> tuple[int, str, float]:
        client = Client(url)
        try:
            return (*client.get("/slow"), time.monotonic())
        finally:
            client.close()

    stop = threading.Event()
    answers: list[int] = []
    reconnects = [0]

    def steady() -> None:
        client = Client(url)
        try:
            while not stop.is_set():
                answers.append(client.get("/")[0])
        finally:
            reconnects[0] += client.reconnects
            client.close()

    with ThreadPoolExecutor(12) as pool:
        loaders = [pool.submit(steady) for _ in range(2)]
        in_flight = [pool.submit(slow, i) for i in range(8)]  # each takes 3 s at the backend
        time.sleep(0.2)  # the slow requests are at the backends
        set_weights(kube, namespace, 90, 10)
        reloaded = time.monotonic()
        for canary in (50, 0, 25, 0):
            set_weights(kube, namespace, 100 - canary, canary)
        stop.set()
        results = [f.result(timeout=30) for f in in_flight]
        for loader in loaders:
            loader.result(timeout=30)
    assert all(status == 200 and body.startswith("stable ") for status, body, _ in results), results
    assert reloaded < min(done for _, _, done in results), "the first reload came after the slow requests"
    assert len(answers) > 100
    assert set(answers) == {200}, {s: answers.count(s) for s in set(answers)}
    print(f"{len(answers)} requests across 5 reloads, all 200; {reconnects[0]} idle connections reopened")


def test_a_route_nginx_refuses_leaves_the_others_serving(kube: Kube, live: tuple[str, str]) -> None:
    namespace, url = live
    bad = [
        {
            "matches": [{"headers": [{"name": "x-bad", "type": "RegularExpression", "value": "(unclosed"}]}],
            "backendRefs": [backend("canary")],
        }
    ]
    kube.create(f"{GATEWAYS}/namespaces/{namespace}/httproutes", route(namespace, "bad", bad))
    status = observed(kube, namespace, "bad", accepted=False)
    assert condition(status, "Accepted", "reason") == "UnsupportedValue"
    assert "nginx refused the route" in str(condition(status, "Accepted", "message"))
    assert tracks(url, 200) == {"stable": 200}
    assert tracks(url, 50, headers={"x-bad": "("}) == {"stable": 50}
    set_weights(kube, namespace, 50, 50)  # a later edit of the good route still applies
    assert tracks(url, 200) == {"stable": 100, "canary": 100}
    gw = kube.get(f"{GATEWAYS}/namespaces/{namespace}/gateways/gw")
    assert condition(gw["status"], "Programmed") == "True"
    assert gw["status"]["listeners"][0]["attachedRoutes"] == 1
    kube.delete(f"{GATEWAYS}/namespaces/{namespace}/httproutes/bad")


def test_a_dead_nginx_is_started_again(kube: Kube, sandbox: Sandbox, live: tuple[str, str]) -> None:
    """A real data plane's proxy runs in a Deployment that restarts it; the sandbox's controller starts a
    Gateway's nginx again within its resync period (5 s), on the same port."""
    namespace, url = live
    assert sandbox.gateway is not None
    server = sandbox.gateway.controller.nginx[f"{namespace}/gw"]
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGKILL)

    def serving() -> bool:
        try:
            return server.running and set(tracks(url, 20)) <= {"stable", "canary"}
        except OSError:
            return False

    wait_for(serving, 20, what="nginx serving again")
