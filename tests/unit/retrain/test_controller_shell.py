"""The RetrainPolicy controller's shell around the planner: it uses the client it is handed in kopf's memo,
plans on the server's copy (never kopf's cached body), reads pods only once a Job ended, and writes a new
run to the server before it creates the run's Job."""

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
        stored = self.objects.setdefault((kind, name), {"metadata": {}})
        if sub == "status":
            stored["status"] = {**(stored.get("status") or {}), **body["status"]}
        return stored

    def apply(self, obj: JSON, owner: JSON | None = None, **_: Any) -> tuple[JSON, bool]:
        self.calls.append(("apply", obj["kind"], obj["metadata"]["name"]))
        self.objects[(obj["kind"], obj["metadata"]["name"])] = obj
        return obj, True

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        self.calls.append(("delete", kind, name))
        return self.objects.pop((kind, name), None) is not None


def reconcile(client: FakeKube, annotations: dict[str, str], cached_status: JSON | None = None) -> JSON:
    """One pass; kopf's body carries ``cached_status`` (possibly stale), the server its own. Returns the
    status the server holds afterwards."""
    obj = example("RetrainPolicy")
    obj["spec"]["triggers"] = {"minInterval": "1m"}
    meta = {**obj["metadata"], "annotations": annotations, "generation": 1, "resourceVersion": "7"}
    meta["creationTimestamp"] = "2026-11-20T00:00:00Z"
    stored = client.objects.setdefault(("RetrainPolicy", meta["name"]), {"status": {}})
    stored["metadata"] = meta
    body = kopf.Body({**obj, "metadata": meta, "status": cached_status or {}})
    retrainpolicy.reconcile(
        body=body,
        spec=body.spec,
        status=body.status,
        meta=body.meta,
        namespace=meta["namespace"],
        name=meta["name"],
        patch=kopf.Patch(),
        logger=logging.getLogger("test"),
        memo=kopf.Memo(kube=client),
    )
    status: JSON = client.objects[("RetrainPolicy", meta["name"])].get("status") or {}
    return status


@pytest.fixture(autouse=True)
def no_events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    posted: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda body, *, type, reason, message: posted.append(reason))
    return posted


def test_a_request_records_the_run_on_the_server_before_creating_its_job(no_events: list[str]) -> None:
    client = FakeKube()
    status = reconcile(client, {"mlaiops.dev/retrain": "go@1"})
    writes = [call for call in client.calls if call[0] in ("patch", "apply")]
    assert writes[0] == ("patch", "RetrainPolicy", "status") and writes[1][:2] == ("apply", "Job")
    assert client.calls[0] == ("get", "RetrainPolicy", "fraud-retrain")  # the server's copy, first
    assert status["runs"][0]["phase"] == "Pending" and no_events == ["RunStarted"]


def test_a_running_job_is_read_without_its_pods() -> None:
    client = FakeKube()
    status = reconcile(client, {"mlaiops.dev/retrain": "go@1"})
    client.calls.clear()
    after = reconcile(client, {"mlaiops.dev/retrain": "go@1"}, status)
    assert after["runs"][0]["phase"] == "Running"  # seen by the next pass
    assert not [call for call in client.calls if call[1] == "Pod"]
    assert not [call for call in client.calls if call[0] in ("apply", "delete")]


def test_a_stale_cached_body_neither_stalls_nor_repeats_a_run(no_events: list[str]) -> None:
    """kopf's body still lacks the run the previous pass recorded (a dropped watch, a conflict on its
    patch): the pass follows the server's run instead of starting a second one or waiting for the cache."""
    client = FakeKube()
    reconcile(client, {"mlaiops.dev/retrain": "go@1"})
    client.calls.clear()
    status = reconcile(client, {"mlaiops.dev/retrain": "go@1"}, cached_status={})
    assert len(status["runs"]) == 1 and status["runs"][0]["phase"] == "Running"
    assert no_events == ["RunStarted"]
    assert not [call for call in client.calls if call[0] == "apply"]
