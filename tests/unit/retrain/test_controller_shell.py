"""The RetrainPolicy controller's shell around the planner: it uses the client it is handed in kopf's memo,
reads pods only once a Job ended, and writes a new run to the server before it creates the run's Job."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest

from mlaiops.controllers import retrainpolicy
from tests.unit.api.helpers import example

JSON = dict[str, Any]


class FakeKube:
    """An in-memory API server that records every call in order."""

    def __init__(self, objects: dict[tuple[str, str], JSON] | None = None) -> None:
        self.objects = objects or {}
        self.calls: list[tuple[str, str, str]] = []

    def get(self, api_version: str, kind: str, namespace: str | None, name: str, sub: str | None = None) -> JSON | None:
        self.calls.append(("get", kind, name))
        return self.objects.get((kind, name))

    def list(self, api_version: str, kind: str, namespace: str | None, selector: str | None = None) -> list[JSON]:
        self.calls.append(("list", kind, selector or ""))
        return [obj for (k, _), obj in self.objects.items() if k == kind]

    def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, body: JSON, sub: str | None = None
    ) -> JSON:
        self.calls.append(("patch", kind, sub or ""))
        return body

    def apply(self, obj: JSON, owner: JSON | None = None, **_: Any) -> tuple[JSON, bool]:
        self.calls.append(("apply", obj["kind"], obj["metadata"]["name"]))
        self.objects[(obj["kind"], obj["metadata"]["name"])] = obj
        return obj, True

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        self.calls.append(("delete", kind, name))
        return self.objects.pop((kind, name), None) is not None


def reconcile(client: FakeKube, annotations: dict[str, str], status: JSON | None = None) -> kopf.Patch:
    obj = example("RetrainPolicy")
    obj["spec"]["triggers"] = {"minInterval": "1m"}
    meta = {**obj["metadata"], "annotations": annotations, "generation": 1, "resourceVersion": "7"}
    meta["creationTimestamp"] = "2026-11-20T00:00:00Z"
    client.objects[("RetrainPolicy", meta["name"])] = {"metadata": {"resourceVersion": "7"}}
    body = kopf.Body({**obj, "metadata": meta, "status": status or {}})
    patch = kopf.Patch()
    retrainpolicy.reconcile(
        body=body,
        spec=body.spec,
        status=body.status,
        meta=body.meta,
        namespace=meta["namespace"],
        name=meta["name"],
        patch=patch,
        logger=logging.getLogger("test"),
        memo=kopf.Memo(kube=client),
    )
    return patch


@pytest.fixture(autouse=True)
def no_events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    posted: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda body, *, type, reason, message: posted.append(reason))
    return posted


def test_a_request_records_the_run_on_the_server_before_creating_its_job(no_events: list[str]) -> None:
    client = FakeKube()
    patch = reconcile(client, {"mlaiops.dev/retrain": "go@1"})
    writes = [call for call in client.calls if call[0] in ("patch", "apply")]
    assert writes[0] == ("patch", "RetrainPolicy", "status") and writes[1][:2] == ("apply", "Job")
    assert ("get", "RetrainPolicy", "fraud-retrain") in client.calls  # the cache was checked before starting
    assert patch["status"]["runs"][0]["phase"] == "Pending" and no_events == ["RunStarted"]


def test_a_running_job_is_read_without_its_pods() -> None:
    client = FakeKube()
    status = reconcile(client, {"mlaiops.dev/retrain": "go@1"})["status"]
    client.calls.clear()
    reconcile(client, {"mlaiops.dev/retrain": "go@1"}, status)
    assert not [call for call in client.calls if call[1] == "Pod"]
    assert not [call for call in client.calls if call[0] in ("apply", "delete")]


class StaleKube(FakeKube):
    """The server already holds a newer RetrainPolicy than the copy kopf handed the handler."""

    def get(self, api_version: str, kind: str, namespace: str | None, name: str, sub: str | None = None) -> JSON | None:
        found = super().get(api_version, kind, namespace, name, sub)
        return {"metadata": {"resourceVersion": "8"}} if kind == "RetrainPolicy" else found


def test_a_stale_cache_starts_nothing() -> None:
    client = StaleKube()
    patch = reconcile(client, {"mlaiops.dev/retrain": "go@1"})
    assert not [call for call in client.calls if call[0] in ("apply", "patch")]
    assert not patch["status"].get("runs") and not patch["status"].get("lastRequest")
