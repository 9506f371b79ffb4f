"""A rule's Events are posted at once under a name derived from their transition, so a pass that repeats
a transition after a SIGKILL (its status write lost) finds the Event there instead of posting another."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from mlaiops.controllers.anomalyrule import post_event

RULE = {
    "apiVersion": "mlaiops.dev/v1alpha1",
    "kind": "AnomalyRule",
    "metadata": {"name": "latency", "namespace": "shop", "uid": "uid-1"},
}
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class EventStore:
    """The Events part of the API: create, and 409 AlreadyExists for a name already taken."""

    def __init__(self, fail: ApiException | None = None) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.fail = fail

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        name = obj["metadata"]["name"]
        if name in self.events:
            raise ApiException(status=409, reason="AlreadyExists")
        self.events[name] = obj
        return obj


def test_the_same_transition_posted_twice_is_one_event_and_another_is_a_second() -> None:
    kube = EventStore()
    for _ in range(2):  # the pass, and the same pass again after a restart
        post_event(kube, RULE, "Warning", "AnomalyFiring", "value 100", "abc/Firing/3", NOW)  # type: ignore[arg-type]
    assert len(kube.events) == 1
    (event,) = kube.events.values()
    assert event["reason"] == "AnomalyFiring" and event["type"] == "Warning" and event["message"] == "value 100"
    assert event["involvedObject"] == {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "AnomalyRule",
        "name": "latency",
        "namespace": "shop",
        "uid": "uid-1",
    }
    assert event["metadata"]["namespace"] == "shop" and event["metadata"]["name"].startswith("latency.")
    post_event(kube, RULE, "Normal", "AnomalyResolved", "back to normal", "abc/Resolved/3", NOW)  # type: ignore[arg-type]
    post_event(kube, RULE, "Warning", "AnomalyFiring", "value 100", "abc/Firing/4", NOW)  # type: ignore[arg-type]
    assert sorted(e["reason"] for e in kube.events.values()) == ["AnomalyFiring", "AnomalyFiring", "AnomalyResolved"]


def test_an_api_error_is_logged_not_raised() -> None:
    """The rule's evaluation goes on: an Event the API refuses must not stop the daemon."""
    kube = EventStore(fail=ApiException(status=403, reason="Forbidden"))
    post_event(kube, RULE, "Warning", "AnomalyFiring", "value 100", "abc/Firing/1", NOW)  # type: ignore[arg-type]
    assert kube.events == {}
