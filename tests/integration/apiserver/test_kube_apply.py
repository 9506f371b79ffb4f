"""The controllers' apply helper with a cached copy: requests only for what differs (counted in the audit)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import kubernetes
import pytest
from apiserver_support import Http, unique
from kubernetes.client.exceptions import ApiException

from mlaiops.kube import Kube


def service(namespace: str, name: str, port: int = 80) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"selector": {"app": name}, "ports": [{"port": port}]},
    }


def requests_for(http: Http, namespace: str, name: str) -> list[str]:
    return [
        r["verb"]
        for r in http.get("/sandbox/audit").json()["items"]
        if r["namespace"] == namespace and r["resource"] == "services" and r["name"] in (name, "")
    ]


@contextmanager
def faults(http: Http, verb: str, namespace: str, status: int, count: int) -> Iterator[None]:
    """One fault rule on the namespace's Services while the body runs, with the audit cleared first."""
    rule = {"verb": verb, "resource": "services", "namespace": namespace, "statusCode": status, "count": count}
    http.post("/sandbox/faults", {"rules": [rule]})
    http.delete("/sandbox/audit")
    try:
        yield
    finally:
        http.delete("/sandbox/faults")


def test_apply_with_a_cached_copy(http: Http, api_client: kubernetes.client.ApiClient, namespace: str) -> None:
    kube = Kube(api_client)
    name = unique("svc")
    http.delete("/sandbox/audit")

    created, changed = kube.apply(service(namespace, name), current=None)  # known missing: no read first
    assert changed and requests_for(http, namespace, name) == ["create"]

    http.delete("/sandbox/audit")
    _, changed = kube.apply(service(namespace, name), current=created)  # cache says as desired: no request
    assert not changed and requests_for(http, namespace, name) == []

    http.delete("/sandbox/audit")
    _, changed = kube.apply(service(namespace, name), current=None)  # stale cache: 409, read, nothing to change
    # ... read back by a field-selected list: a cache's owner holds list and watch, maybe not get.
    assert not changed and requests_for(http, namespace, name) == ["create", "list"]

    http.delete("/sandbox/audit")
    patched, changed = kube.apply(service(namespace, name, port=81), current=created)  # differs: one patch
    assert changed and requests_for(http, namespace, name) == ["patch"]
    assert patched["spec"]["ports"][0]["port"] == 81

    http.delete("/sandbox/audit")
    _, changed = kube.apply(service(namespace, name, port=81))  # no cache: read, then nothing to change
    assert not changed and requests_for(http, namespace, name) == ["get"]


def test_a_conflict_with_nothing_there_is_raised_not_patched(
    http: Http, api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    """409 on create although the object is missing (deleted meanwhile): the caller retries; no blind patch."""
    kube = Kube(api_client)
    name = unique("svc")
    with faults(http, "create", namespace, 409, 1), pytest.raises(ApiException) as raised:
        kube.apply(service(namespace, name), current=None)
    assert raised.value.status == 409
    assert requests_for(http, namespace, name) == ["create", "list"]
    created, changed = kube.apply(service(namespace, name), current=None)  # the next pass succeeds
    assert changed and created["metadata"]["name"] == name


def test_a_conflict_without_a_cache_is_read_back_by_name(
    http: Http, api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    """No cached copy (a kind the caller does not watch): the object that appeared between the read and
    the create is read back by name, as it was looked up."""
    kube = Kube(api_client)
    name = unique("svc")
    kube.apply(service(namespace, name), current=None)
    with faults(http, "get", namespace, 404, 1):
        _, changed = kube.apply(service(namespace, name))  # 404 (not there yet), then 409 on create
    assert not changed and requests_for(http, namespace, name) == ["get", "create", "get"]


def test_reads_are_retried_on_transient_errors(
    http: Http, api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    """Two 500s on a GET are absorbed by retries; a third would reach the caller."""
    kube = Kube(api_client)
    name = unique("svc")
    kube.apply(service(namespace, name), current=None)
    with faults(http, "get", namespace, 500, 2):
        found = kube.get("v1", "Service", namespace, name)
    assert found is not None and found["metadata"]["name"] == name
    assert requests_for(http, namespace, name) == ["get", "get", "get"]
    with faults(http, "get", namespace, 500, 3), pytest.raises(ApiException) as raised:
        kube.get("v1", "Service", namespace, name)
    assert raised.value.status == 500
