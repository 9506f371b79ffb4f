"""Details of probable causes that test_causes.py leaves open, pinned after mutation testing.

benchmarks/mutation.py showed which ones no test stated: where each kind of object records a change and
what is said when a field is missing, which Deployments count (not ours; a real new revision), the
look-back and hop bounds at their edges, that one change out of bounds never hides the next, and the
wording of the reasons. A time without a zone used to pass as a naive datetime and crash the comparison
with the anomalies' times; it is now ignored like any other bad time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlaiops.api.incident import Change, IncidentAnomaly
from mlaiops.api.remediationplaybook import ExecutionRecord, StepRecord
from mlaiops.remediation.causes import _ago, _labels, observed_changes, rank, relevant
from mlaiops.remediation.topology import Graph, build

NS = "ns"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def thing(kind: str, name: str = "x", labels: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": NS, "labels": labels or {}}, **fields}


def whats(objects: list[dict[str, Any]], executions: list[ExecutionRecord] | None = None) -> list[str]:
    return [change.what for _, change in observed_changes(objects, executions or [], NS)]


def deployment(kind: str = "Deployment", revision: str | None = "2", **progressing: str) -> dict[str, Any]:
    annotations = {} if revision is None else {"deployment.kubernetes.io/revision": revision}
    obj = thing(
        kind,
        "web",
        spec={"template": {"spec": {"containers": [{"image": "web:2"}, {"image": "sidecar:1"}]}}},
        status={"conditions": [{"type": "Available"}, {"type": "Progressing", **progressing}]},
    )
    obj["metadata"]["annotations"] = annotations
    return obj


# --- where changes are read from ------------------------------------------------------------------------


def test_a_rollout_record_without_a_start_is_dated_by_its_end_and_an_unknown_version_is_a_question_mark() -> None:
    md = thing(
        "ModelDeployment",
        "m",
        status={
            "history": [{"outcome": "RolledBack", "reason": "AnalysisFailed", "finishedAt": "2026-11-27T11:50:00Z"}]
        },
    )
    [(node, change)] = observed_changes([md], [], NS)
    assert (node, change.at) == ((NS, "ModelDeployment", "m"), at(-10))
    assert change.what == "rollout of ? on ModelDeployment/m (RolledBack: AnalysisFailed)"
    md["status"] = {"rolloutStartedAt": "2026-11-27T11:55:00Z"}
    assert whats([md]) == ["rollout of ? on ModelDeployment/m (in progress)"]


def test_a_promotion_without_a_version_is_a_retrained_model() -> None:
    policy = thing("RetrainPolicy", "p", status={"promoted": {"promotedAt": "2026-11-27T11:45:00Z"}})
    assert whats([policy]) == ["RetrainPolicy p promoted a retrained model"]


def test_deployments_and_stateful_sets_not_ours_record_their_new_revisions() -> None:
    changed = deployment(lastUpdateTime="2026-11-27T11:58:00Z")
    assert whats([changed]) == ["Deployment/web template changed (revision 2; image web:2, sidecar:1)"]
    transition_only = deployment("StatefulSet", lastTransitionTime="2026-11-27T11:57:00Z")
    [(_, change)] = observed_changes([transition_only], [], NS)
    assert (change.what, change.at) == ("StatefulSet/web template changed (revision 2; image web:2, sidecar:1)", at(-3))
    bare = deployment(lastUpdateTime="2026-11-27T11:58:00Z")
    bare["spec"] = {}
    assert whats([bare]) == ["Deployment/web template changed (revision 2; image ?)"]


def test_deployments_without_a_real_new_revision_or_its_time_are_not_changes() -> None:
    time = {"lastUpdateTime": "2026-11-27T11:58:00Z"}
    assert whats([deployment(revision=None, **time)]) == []  # no annotation: its first revision
    assert whats([deployment(revision="1", **time)]) == []  # created, not changed
    assert whats([deployment(revision="", **time)]) == []
    assert whats([deployment(revision="3")]) == []  # no Progressing time
    ours = deployment(**time)
    ours["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "mlaiops"}  # ours: the rollouts say it
    assert whats([ours]) == []
    other = deployment(**time)
    other["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "helm"}
    assert len(whats([other])) == 1


def test_a_scale_event_of_any_autoscaler_is_a_change_with_its_replicas_when_known() -> None:
    hpa = thing("HorizontalPodAutoscaler", "h", status={"lastScaleTime": "2026-11-27T11:59:00Z"})
    assert whats([hpa]) == ["HorizontalPodAutoscaler/h scaled to ? replicas"]


def test_running_and_succeeded_steps_are_changes_failed_ones_and_unstarted_ones_are_not() -> None:
    steps = [
        StepRecord(action="scale-out", result="Running", started_at=at(-2), message="to 4"),
        StepRecord(action="restart", result="Failed", started_at=at(-3), message="denied"),
        StepRecord(action="rollback", result="Succeeded", message="not started"),
    ]
    execution = ExecutionRecord(id="e", target="ModelDeployment/m", state="Running", steps=steps)
    assert [(node, c.what) for node, c in observed_changes([], [execution], NS)] == [
        ((NS, "ModelDeployment", "m"), "scale-out: to 4")
    ]
    untargeted = ExecutionRecord(id="f", state="Running", steps=steps[:1])
    assert [node for node, _ in observed_changes([], [untargeted], NS)] == [(NS, "", "")]


def test_an_object_without_a_namespace_or_a_name_keeps_them_empty() -> None:
    hpa = {"kind": "HorizontalPodAutoscaler", "metadata": {}, "status": {"lastScaleTime": "2026-11-27T11:59:00Z"}}
    [(node, change)] = observed_changes([hpa], [], NS)
    assert node == ("", "HorizontalPodAutoscaler", "") and change.what.startswith("HorizontalPodAutoscaler/ scaled")


def test_bad_times_are_ignored() -> None:
    for bad in (12345, "", "yesterday", "2026-11-27T11:58:00", "2026-11-27Z"):  # no zone: not comparable
        hpa = thing("HorizontalPodAutoscaler", "h", status={"lastScaleTime": bad})
        assert whats([hpa]) == [], bad
    hpa = thing("HorizontalPodAutoscaler", "h", status={"lastScaleTime": "2026-11-27T11:58:00+01:00"})
    assert [c.at for _, c in observed_changes([hpa], [], NS)] == [at(-62)]


def test_a_time_without_a_zone_does_not_crash_the_ranking() -> None:
    md = thing("ModelDeployment", "m", status={"history": [{"version": "v1", "startedAt": "2026-11-27T11:57:00"}]})
    changes = relevant(observed_changes([md], [], NS), build([md]), {(NS, "ModelDeployment", "m")}, T0, 3, NS)
    assert changes == []


# --- which changes are relevant -------------------------------------------------------------------------


def chain(length: int) -> Graph:
    graph = Graph()
    for i in range(length):
        graph.link((NS, "Pod", f"p{i}"), (NS, "Pod", f"p{i + 1}"), "related")
    return graph


def change(what: str, minutes: float, kind: str = "Config") -> Change:
    return Change(kind=kind, what=what, at=at(minutes))  # type: ignore[arg-type]


def test_relevant_changes_reach_max_hops_plus_one_and_exactly_the_look_back() -> None:
    graph, symptom = chain(5), {(NS, "Pod", "p0")}
    found = [
        ((NS, "Pod", "p5"), change("too far", -1)),
        ((NS, "Pod", "p4"), change("farthest", -1)),
        ((NS, "Pod", "p1"), change("too old", -60.01)),
        ((NS, "Pod", "p1"), change("oldest", -60)),
    ]
    kept = relevant(found, graph, symptom, T0, 3, NS)
    assert [(c.what, c.distance, c.object) for c in kept] == [("oldest", 1, "Pod/p1"), ("farthest", 4, "Pod/p4")]


def test_one_change_out_of_bounds_never_hides_the_next() -> None:
    graph, symptom = chain(2), {(NS, "Pod", "p0")}
    found = [
        ((NS, "Pod", "elsewhere"), change("unrelated", -1)),
        ((NS, "Pod", "p1"), change("too old", -120)),
        ((NS, "Pod", "p1"), change("kept", -2)),
    ]
    assert [c.what for c in relevant(found, graph, symptom, T0, 3, NS)] == ["kept"]


# --- ranking --------------------------------------------------------------------------------------------


def anomaly(minutes: float = 0, labels: dict[str, str] | None = None) -> IncidentAnomaly:
    return IncidentAnomaly(rule="ns/latency", fingerprint="f", since=at(minutes), labels=labels)


def test_changes_from_the_first_anomaly_back_to_exactly_the_look_back_are_ranked() -> None:
    changes = [change("after", 0.01), change("at the anomaly", 0), change("an hour before", -60), change("older", -61)]
    causes = [c.cause for c in rank([anomaly()], changes)]
    assert "Config: at the anomaly" in causes and "Config: an hour before" in causes
    assert "Config: after" not in causes and "Config: older" not in causes


def test_a_change_after_the_first_anomaly_never_hides_the_next() -> None:
    causes = [c.cause for c in rank([anomaly()], [change("after", 5), change("before", -5)])]
    assert "Config: before" in causes


def test_at_most_ten_causes_by_default() -> None:
    changes = [change(f"c{i:02d}", -i - 1) for i in range(12)]
    assert len(rank([anomaly()], changes)) == 10
    assert len(rank([anomaly()], changes, limit=3)) == 3


def test_the_reason_names_the_kind_the_object_the_time_and_the_distance() -> None:
    rollout = Change(kind="Rollout", what="v2", at=at(-3))
    placed = Change(kind="Scale", what="h", at=at(-3), object="HorizontalPodAutoscaler/h", distance=2)
    whys = {c.cause: c.why for c in rank([anomaly()], [rollout, placed])}
    assert whys["Rollout: v2"] == (
        "rollout change 3m before the first anomaly and 0 hop(s) from an anomaly's object"
        " (weight 1, decaying with time and distance)"
    )
    assert whys["Scale: h"].startswith(
        "scale change on HorizontalPodAutoscaler/h, 3m before the first anomaly and 2 hop(s)"
    )


def test_equal_scores_are_ordered_by_cause() -> None:
    causes = rank([anomaly()], [change("b", -5), change("a", -5)])
    assert [c.cause for c in causes][:2] == ["Config: a", "Config: b"]


def test_an_anomaly_is_shown_with_at_most_four_labels_in_order_or_none() -> None:
    assert _labels({"e": "5", "d": "4", "c": "3", "b": "2", "a": "1"}) == "a=1, b=2, c=3, d=4"
    assert _labels(None) == "no labels" and _labels({}) == "no labels"
    causes = rank([anomaly(labels={"pod": "a", "app": "b"})], [])
    assert causes[0].cause == "Anomaly: ns/latency (app=b, pod=a)"


def test_durations_are_seconds_below_two_minutes_minutes_below_two_hours_then_hours() -> None:
    seconds = [119, 120, 7199, 7200, 10799, 10800]
    assert [_ago(timedelta(seconds=s)) for s in seconds] == ["119s", "2m", "119m", "2h", "2h", "3h"]
