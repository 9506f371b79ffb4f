"""The playbook's Events, exactly once: stable keys from the planner, pending records, deterministic names."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from mlaiops.api.remediationplaybook import PendingEvent
from mlaiops.remediation import events
from mlaiops.remediation.planner import Event
from tests.unit.remediation.test_planner import Cluster, make_spec

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
BOOK = {
    "apiVersion": "mlaiops.dev/v1alpha1",
    "kind": "RemediationPlaybook",
    "metadata": {"name": "fix", "namespace": "shop", "uid": "u1"},
}
RULE = {
    "apiVersion": "mlaiops.dev/v1alpha1",
    "kind": "AnomalyRule",
    "metadata": {"name": "latency", "namespace": "shop"},
}


def test_every_event_of_an_escalating_execution_has_its_own_key() -> None:
    cluster = Cluster(make_spec())
    cluster.fire()
    for _ in range(4):
        cluster.tick(31)
    keys = [e.key for e in cluster.events]
    execution = cluster.execution().id
    assert keys == [
        f"{execution}/ExecutionStarted",
        f"{execution}/0/StepSucceeded",
        f"{execution}/1/StepSucceeded",
        f"{execution}/ExecutionFailed",
    ]


def test_keys_do_not_depend_on_the_pass_that_decided_them() -> None:
    """The same history played with different pass timings gives the same keys (the controller's names)."""
    played = []
    for seconds in (10, 29):
        cluster = Cluster(make_spec())
        cluster.fire()
        cluster.tick(0)
        cluster.tick(seconds)
        cluster.resolve()
        cluster.tick()
        played.append([e.key for e in cluster.events])
    assert played[0] == played[1] and len(set(played[0])) == 3


def test_refusals_approval_and_the_breaker_are_keyed_too() -> None:
    cluster = Cluster(make_spec(approval={"required": True, "timeout": "1m"}))
    cluster.fire()
    cluster.tick(61)
    cluster.tick()
    assert [e.key.split("/", 1)[1] for e in cluster.events] == ["AwaitingApproval", "ApprovalExpired"]
    assert all(e.key for e in cluster.events)


def test_pending_adds_only_new_keys_keeps_the_oldest_time_and_is_none_when_empty() -> None:
    started = Event(
        "Normal",
        "ExecutionStarted",
        "execution e1 on Deployment/web",
        ("rule:shop/latency",),
        key="e1/ExecutionStarted",
    )
    first = events.pending(None, [started], T0)
    assert first == [
        PendingEvent(
            key="e1/ExecutionStarted",
            type="Normal",
            reason="ExecutionStarted",
            message="execution e1 on Deployment/web",
            about=["rule:shop/latency"],
            time=T0,
        )
    ]
    step = Event("Warning", "StepFailed", "e1 scale-out: 422", key="e1/0/StepFailed")
    again = events.pending(first, [started, step], T0 + timedelta(seconds=5))
    assert [(p.key, p.time) for p in again or []] == [
        ("e1/ExecutionStarted", T0),
        ("e1/0/StepFailed", T0 + timedelta(seconds=5)),
    ]
    assert events.pending(None, [], T0) is None


def test_pending_is_bounded_and_long_messages_are_cut() -> None:
    many = [Event("Normal", "X", "m", key=f"k{i}") for i in range(events.MAX_PENDING + 5)]
    kept = events.pending(None, many, T0) or []
    assert len(kept) == events.MAX_PENDING and kept[0].key == "k5"
    long = events.pending(None, [Event("Normal", "X", "a" * 5000, key="k")], T0) or []
    assert len(long[0].message) <= events.MAX_MESSAGE and " ... " in long[0].message


def test_an_event_without_a_key_is_keyed_by_its_content() -> None:
    one, two = Event("Normal", "X", "same"), Event("Normal", "X", "other")
    assert events.key_of(one) == events.key_of(Event("Normal", "X", "same")) != events.key_of(two)


def test_event_names_are_deterministic_per_transition_object_and_playbook() -> None:
    name = events.event_name("u1", "e1/ExecutionStarted", BOOK)
    assert name == events.event_name("u1", "e1/ExecutionStarted", BOOK) and name.startswith("fix.")
    assert DNS_SUBDOMAIN.match(name) and len(name) <= 253
    assert events.event_name("u1", "e1/ExecutionStarted", RULE) != name
    assert events.event_name("u2", "e1/ExecutionStarted", BOOK) != name  # a re-created playbook
    assert events.event_name("u1", "e1/0/StepSucceeded", BOOK) != name
    long = {"kind": "Deployment", "metadata": {"name": "a" * 253, "namespace": "shop"}}
    assert len(events.event_name("u1", "k", long)) <= 253


def test_the_event_object_names_its_object_and_keeps_the_transition_time() -> None:
    record = PendingEvent(key="e1/ExecutionStarted", type="Normal", reason="ExecutionStarted", message="m", time=T0)
    body = events.event_object(record, "u1", BOOK)
    assert body["metadata"] == {"name": events.event_name("u1", record.key, BOOK), "namespace": "shop"}
    assert body["involvedObject"] == {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "RemediationPlaybook",
        "name": "fix",
        "namespace": "shop",
        "uid": "u1",
    }
    assert (body["type"], body["reason"], body["message"], body["count"]) == ("Normal", "ExecutionStarted", "m", 1)
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2026-11-27T12:00:00Z"
