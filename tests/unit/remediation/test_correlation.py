"""One incident per cause: related objects, Alertmanager groups and flaps join one Incident; notifications are
decided once each from status (a fake clock drives every pass, as in tests/unit/rollout/test_canary.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlaiops.api.incident import IncidentNotification, IncidentStatus
from mlaiops.api.remediationplaybook import ExecutionRecord
from mlaiops.remediation.correlation import (
    Incident,
    Plan,
    Settings,
    followed,
    plan,
    recovered,
    restore_members,
    target_node,
)
from mlaiops.remediation.incidents import Signal
from mlaiops.remediation.topology import Graph, build
from tests.unit.remediation.topology_world import NS, world

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
GRAPH = build(world())


def rule(name: str, minutes: float, target: tuple[str, str] | None = None, **labels: str) -> Signal:
    return Signal(
        "AnomalyRule",
        f"{NS}/{name}",
        f"fp-{name}-{sorted(labels.items())}",
        T0 + timedelta(minutes=minutes),
        labels=labels,
        namespace=NS,
        target_kind=target[0] if target else None,
        target_name=target[1] if target else None,
    )


def alert(name: str, minutes: float, group: str = "", **labels: str) -> Signal:
    return Signal(
        "Alertmanager",
        name,
        f"am-{name}-{sorted(labels.items())}",
        T0 + timedelta(minutes=minutes),
        labels={"alertname": name, "namespace": NS, **labels},
        namespace=NS,
        group=group,
    )


LATENCY = rule("latency", 0, ("ModelDeployment", "fraud"))
CANARY_ERRORS = rule("canary-errors", 1, ("Deployment", "fraud-canary"))
DRIFT = rule("drift", 2, model="fraud-model", version="v2")
POD_ALERT = alert("PodErrors", 1.5, pod="fraud-canary-a")
CACHE_ALERT = alert("CacheDown", 1, deployment="cache")


class Passes:
    """Runs plan() pass after pass as the controller does: what one pass wrote is what the next one reads."""

    def __init__(self, notify: bool = True, graph: Graph = GRAPH, max_hops: int = 3, silenced: str | None = None):
        self.incidents: list[Incident] = []
        self.settings = Settings("fix", NS, WINDOW, max_hops, notify, silenced)
        self.graph = graph
        self.sent: list[tuple[str, str]] = []
        self.others: list[Incident] = []
        """Other playbooks' incidents, as listed."""

    def run(self, signals: list[Signal], minutes: float, deliver: bool = True) -> Plan:
        now = T0 + timedelta(minutes=minutes)
        result = plan(followed(self.incidents, now), signals, self.graph, self.settings, now, self.others)
        for name, event in result.send:
            incident = next(i for i in result.incidents if i.name == name)
            record = next(r for r in incident.status.notifications or [] if r.event == event and r.result == "Sending")
            if deliver:
                record.result = "Succeeded"
                self.sent.append((name, event))
        kept = {i.name: i for i in self.incidents}
        kept.update({i.name: Incident(i.name, i.target, i.status) for i in result.incidents})
        self.incidents = list(kept.values())
        return result


def test_three_related_rules_and_an_alert_make_one_incident_with_the_paths_that_joined_them() -> None:
    world_ = Passes()
    result = world_.run([LATENCY, CANARY_ERRORS, POD_ALERT, DRIFT], 3)
    assert len(result.incidents) == 1
    incident = result.incidents[0]
    assert incident.target == "ModelDeployment/fraud" and incident.name.startswith("fraud-20261127-120000-")
    members = {m.rule: m for m in incident.status.anomalies or []}
    assert members[f"{NS}/latency"].path is None  # it opened the incident
    assert members[f"{NS}/canary-errors"].path == ["ModelDeployment/fraud", "-owns-> Deployment/fraud-canary"]
    assert members["PodErrors"].path == [
        "Deployment/fraud-canary",
        "-selects-> Pod/fraud-canary-a",
    ]
    assert members[f"{NS}/drift"].path == ["ModelDeployment/fraud"]  # its model label names the same object
    assert set(result.membership.values()) == {incident.name}
    assert (incident.status.phase, incident.status.started_at) == ("Open", T0)
    assert world_.sent == [(incident.name, "Opened")]


def test_the_joining_path_is_the_shortest_from_any_member() -> None:
    result = Passes().run([LATENCY, POD_ALERT], 2)  # only the ModelDeployment's rule before it: two hops
    member = next(m for m in result.incidents[0].status.anomalies or [] if m.rule == "PodErrors")
    assert member.path == ["ModelDeployment/fraud", "-owns-> Deployment/fraud-canary", "-selects-> Pod/fraud-canary-a"]


def test_unrelated_objects_open_their_own_incidents() -> None:
    world_ = Passes()
    result = world_.run([LATENCY, CACHE_ALERT], 2)
    assert sorted(i.target for i in result.incidents) == ["Alert/CacheDown", "ModelDeployment/fraud"]
    assert len(world_.sent) == 2  # one notification per incident


def test_the_hop_bound_decides_what_is_related() -> None:
    assert len(Passes(max_hops=0).run([LATENCY, CANARY_ERRORS], 2).incidents) == 2
    assert len(Passes(max_hops=1).run([LATENCY, CANARY_ERRORS], 2).incidents) == 1
    assert len(Passes(max_hops=1).run([LATENCY, POD_ALERT], 2).incidents) == 2
    assert len(Passes(max_hops=2).run([LATENCY, POD_ALERT], 2).incidents) == 1
    same_target = rule("latency2", 1, ("ModelDeployment", "fraud"))
    assert len(Passes(max_hops=0).run([LATENCY, same_target], 2).incidents) == 1  # one target: 0 hops


def test_related_signals_join_only_within_the_window() -> None:
    world_ = Passes()
    world_.run([LATENCY], 1)
    early = rule("early", -11, ("ModelDeployment", "fraud"))  # began long before: not the same trouble
    result = world_.run([LATENCY, early], 2)
    assert len(result.incidents) == 2
    late = rule("late", 40, ("ModelDeployment", "fraud"))
    result = world_.run([LATENCY, late], 41)  # the incident is still open: it joins
    assert len({result.membership[(s.rule, s.fingerprint)] for s in (LATENCY, late)}) == 1


def test_an_alertmanager_group_is_never_split() -> None:
    world_ = Passes(graph=Graph())  # no topology at all: only the group joins them
    first = alert("HighLatency", 0, group="{}:{alertname=~'High.*'}", pod="a")
    second = alert("HighErrors", 1, group="{}:{alertname=~'High.*'}", pod="b")
    other = alert("HighErrors", 1, group="{}:{other}", pod="c")
    result = world_.run([first, second, other], 2)
    assert len(result.incidents) == 2
    grouped = next(i for i in result.incidents if len(i.status.anomalies or []) == 2)
    assert [m.path for m in grouped.status.anomalies or []] == [None, ["Alertmanager group {}:{alertname=~'High.*'}"]]


def test_a_flap_within_the_window_folds_into_the_incident_and_notifies_nothing_new() -> None:
    world_ = Passes()
    name = world_.run([LATENCY], 1).incidents[0].name
    resolved = world_.run([], 3)  # it stops firing
    assert resolved.incidents[0].status.phase == "Resolved" and resolved.send == []
    again = Signal(**{**LATENCY.__dict__, "since": T0 + timedelta(minutes=8)})
    result = world_.run([again], 9)  # fires again 5 minutes after resolving
    assert [i.name for i in result.incidents] == [name]
    member = (result.incidents[0].status.anomalies or [])[0]
    assert (member.flaps, member.since, member.resolved_at, result.incidents[0].status.phase) == (1, T0, None, "Open")
    assert world_.sent == [(name, "Opened")]


def test_a_refire_after_the_window_is_a_new_incident() -> None:
    world_ = Passes()
    first = world_.run([LATENCY], 1).incidents[0].name
    world_.run([], 3)
    world_.run([], 14)  # resolved 11 minutes: announced
    again = Signal(**{**LATENCY.__dict__, "since": T0 + timedelta(minutes=15)})
    result = world_.run([again], 15)
    assert result.membership[(again.rule, again.fingerprint)] != first
    assert [e for _, e in world_.sent] == ["Opened", "Resolved", "Opened"]


def test_resolution_is_announced_once_after_staying_resolved_for_the_window() -> None:
    world_ = Passes()
    name = world_.run([LATENCY, CANARY_ERRORS], 2).incidents[0].name
    world_.run([CANARY_ERRORS], 3)  # one member resolves: still open
    assert world_.incidents[0].status.phase == "Open"
    world_.run([], 4)
    assert world_.incidents[0].status.resolved_at == T0 + timedelta(minutes=4)
    assert world_.run([], 13.9).send == []  # not yet quiet for the window
    assert world_.run([], 14).send == [(name, "Resolved")]
    assert world_.run([], 20).send == []  # once
    assert world_.sent == [(name, "Opened"), (name, "Resolved")]


def test_a_send_interrupted_by_a_restart_is_marked_failed_not_repeated() -> None:
    world_ = Passes()
    world_.run([LATENCY], 1, deliver=False)  # recorded Sending; the operator died before the POST's result
    result = world_.run([LATENCY], 2)
    records = result.incidents[0].status.notifications or []
    assert [(r.event, r.result) for r in records] == [("Opened", "Failed")]
    assert "not repeated" in records[0].message and result.send == []


def test_no_notify_setting_sends_nothing_but_incidents_still_form() -> None:
    world_ = Passes(notify=False)
    result = world_.run([LATENCY, CANARY_ERRORS], 2)
    assert len(result.incidents) == 1 and result.send == [] and result.incidents[0].status.notifications is None


def test_a_silence_suppresses_notifications_and_says_why() -> None:
    world_ = Passes(silenced="silence upgrade (until 2026-11-27T13:00:00+00:00)")
    result = world_.run([LATENCY], 1)
    records = result.incidents[0].status.notifications or []
    assert result.send == [] and [(r.event, r.result, r.message) for r in records] == [
        ("Opened", "Suppressed", "silence upgrade (until 2026-11-27T13:00:00+00:00)")
    ]
    world_.settings = Settings("fix", NS, WINDOW, 3, True, None)  # the silence ended
    world_.run([], 2)
    result = world_.run([], 13)
    records = result.incidents[0].status.notifications or []
    assert result.send == [] and [r.result for r in records] == ["Suppressed", "Suppressed"]
    assert records[1].message == "its opening was suppressed (silence upgrade (until 2026-11-27T13:00:00+00:00))"


def test_a_member_missed_by_one_read_is_seen_firing_again() -> None:
    world_ = Passes()
    world_.run([LATENCY], 1)
    world_.run([], 2)
    result = world_.run([LATENCY], 3)  # same episode (same since): not a flap
    member = (result.incidents[0].status.anomalies or [])[0]
    assert (member.resolved_at, member.flaps, result.incidents[0].status.phase) == (None, None, "Open")


def test_followed_keeps_open_and_recently_resolved_incidents() -> None:
    world_ = Passes()
    world_.run([LATENCY], 1)
    world_.run([], 2)
    assert followed(world_.incidents, T0 + timedelta(minutes=61)) != []
    assert followed(world_.incidents, T0 + timedelta(minutes=63)) == []
    done = IncidentNotification(event="Opened", result="Succeeded", at=T0)
    assert done.event == "Opened"


def test_an_incident_opened_by_a_rule_without_a_target_is_about_that_rule() -> None:
    result = Passes().run([rule("pod-latency", 0, pod="cache-xyz")], 1)
    assert [(i.target, i.name.startswith("pod-latency-20261127-120000-")) for i in result.incidents] == [
        ("AnomalyRule/pod-latency", True)
    ]


def execution(name: str, signal: Signal, started_minutes: float, **fields: object) -> ExecutionRecord:
    kind = "alert" if signal.source == "Alertmanager" else "rule"
    return ExecutionRecord.model_validate(
        {
            "id": f"fix-{started_minutes}",
            "trigger": f"{kind}:{signal.rule}",
            "fingerprint": signal.fingerprint,
            "since": signal.since,
            "incident": name,
            "target": signal.target,
            "state": "Succeeded",
            "startedAt": T0 + timedelta(minutes=started_minutes),
            **fields,
        }
    )


def test_an_incident_whose_create_was_lost_is_rebuilt_from_its_execution_and_resolves() -> None:
    world_ = Passes()
    opened = world_.run([LATENCY], 1).incidents[0]
    world_.incidents = []  # the create failed: the API holds nothing, the execution names it
    now = T0 + timedelta(minutes=5)
    lost = recovered(set(), [execution(opened.name, LATENCY, 1)], now)
    assert [(i.name, i.target, i.new) for i in lost] == [(opened.name, "ModelDeployment/fraud", True)]
    world_.incidents = lost
    result = world_.run([], 5)  # the anomaly stopped meanwhile: the incident is still written, resolved
    again = result.incidents[0]
    assert again.name == opened.name and again.status.phase == "Resolved"
    assert [(m.source, m.rule, m.fingerprint, m.since) for m in again.status.anomalies or []] == [
        ("AnomalyRule", LATENCY.rule, LATENCY.fingerprint, LATENCY.since)
    ]


def test_an_incident_whose_first_status_write_was_lost_gets_its_members_back_and_resolves() -> None:
    """Created, then the operator stopped before writing its status: no member, so nothing would ever resolve it."""
    world_ = Passes()
    opened = world_.run([LATENCY], 1).incidents[0]
    memberless = Incident(opened.name, opened.target, IncidentStatus(phase="Open"))
    records = [execution(opened.name, LATENCY, 1)]
    world_.incidents = [memberless]
    assert world_.run([], 5).incidents[0].status.phase == "Open"  # as it was: Open for good
    now = T0 + timedelta(minutes=5)
    restored = restore_members([memberless], records, now)
    assert restored[0].new is False and memberless.status.anomalies is None  # updated, not created; input kept
    world_.incidents = restored
    again = world_.run([], 5).incidents[0]
    assert again.name == opened.name and again.status.phase == "Resolved"
    assert [(m.rule, m.fingerprint, m.since) for m in again.status.anomalies or []] == [
        (LATENCY.rule, LATENCY.fingerprint, LATENCY.since)
    ]
    held = Incident("other", opened.target, IncidentStatus(anomalies=again.status.anomalies))
    assert restore_members([held], [execution("other", CANARY_ERRORS, 1)], now)[0] is held  # members kept as held
    assert restore_members([memberless], [], now)[0] is memberless  # no execution names it: nothing to rebuild


def test_a_rebuilt_incident_takes_its_signal_back_while_it_still_fires() -> None:
    name = Passes().run([POD_ALERT], 2).incidents[0].name
    world_ = Passes()
    world_.incidents = recovered(set(), [execution(name, POD_ALERT, 2)], T0 + timedelta(minutes=3))
    result = world_.run([POD_ALERT], 3)
    assert [i.name for i in result.incidents] == [name] and result.membership == {
        (POD_ALERT.rule, POD_ALERT.fingerprint): name
    }
    assert (
        result.incidents[0].status.phase == "Open" and result.incidents[0].status.anomalies[0].source == "Alertmanager"
    )  # type: ignore[index]


def test_only_recent_executions_of_incidents_the_api_lacks_are_rebuilt() -> None:
    now = T0 + timedelta(minutes=30)
    records = [
        execution("held", LATENCY, 1),
        execution("old", LATENCY, 30 - 60),
        execution("refused", LATENCY, 1, incident=None),
        execution("unstarted", LATENCY, 1, startedAt=None),
        execution("unknown-since", LATENCY, 1, since=None),
        execution("no-fingerprint", LATENCY, 1, fingerprint=None),
        execution("twice", LATENCY, 2),
        execution("twice", LATENCY, 3),
        execution("twice", CANARY_ERRORS, 4),
    ]
    lost = recovered({"held"}, [*records, execution("untargeted", alert("odd:name", 5), 5, target=None)], now)
    assert [(i.name, i.target) for i in lost] == [("twice", "ModelDeployment/fraud"), ("untargeted", "")]
    assert [m.rule for m in lost[0].status.anomalies or []] == [LATENCY.rule, CANARY_ERRORS.rule]
    assert [(m.source, m.rule) for m in lost[1].status.anomalies or []] == [("Alertmanager", "odd:name")]
    assert recovered(set(), [execution("edge", LATENCY, 30 - 60 + 0.001)], now)[0].name == "edge"


def other_playbook(notify: bool = True) -> Passes:
    world_ = Passes(notify=notify)
    world_.settings = Settings("other", NS, WINDOW, 3, notify, None)
    return world_


def owned_by(playbook: str, incidents: list[Incident]) -> list[Incident]:
    return [Incident(i.name, i.target, i.status, playbook=playbook) for i in incidents]


def test_a_related_incident_of_another_playbook_is_linked_and_the_cause_announced_once() -> None:
    fix, other = Passes(), other_playbook()
    fix.run([LATENCY], 0.5)
    [first] = fix.incidents
    other.others = owned_by("fix", fix.incidents)
    result = other.run([CANARY_ERRORS], 1.5)
    [linked] = result.incidents
    assert linked.name != first.name and result.send == [] and other.sent == []
    related = linked.status.related
    assert related is not None and (related.name, related.playbook) == (first.name, "fix")
    assert related.path == ["ModelDeployment/fraud", "-owns-> Deployment/fraud-canary"]
    [opened] = linked.status.notifications or []
    assert (opened.event, opened.result, opened.message) == (
        "Opened",
        "Suppressed",
        f"announced by incident {first.name} of playbook fix",
    )
    other.run([], 2)  # resolved; its resolution is not announced either
    result = other.run([], 2 + WINDOW.total_seconds() / 60)
    records = result.incidents[0].status.notifications or []
    assert result.send == [] and [(r.event, r.result) for r in records] == [
        ("Opened", "Suppressed"),
        ("Resolved", "Suppressed"),
    ]
    assert records[1].message == f"its opening was suppressed (announced by incident {first.name} of playbook fix)"


def test_a_related_incident_that_announced_nothing_is_linked_but_does_not_silence_this_one() -> None:
    quiet, other = Passes(notify=False), other_playbook()
    quiet.run([LATENCY], 0.5)
    other.others = owned_by("fix", quiet.incidents)
    result = other.run([CANARY_ERRORS], 1.5)
    assert result.incidents[0].status.related is not None and other.sent == [(result.incidents[0].name, "Opened")]


def test_only_related_recent_incidents_of_other_playbooks_are_linked() -> None:
    fix = Passes()
    fix.run([LATENCY], 0.5)
    unrelated, own, stale = other_playbook(), other_playbook(), other_playbook()
    unrelated.others = owned_by("fix", fix.incidents)
    assert unrelated.run([CACHE_ALERT], 1).incidents[0].status.related is None  # nothing in between
    own.others = owned_by("other", fix.incidents)  # its own playbook's incident is not "another's"
    assert own.run([CANARY_ERRORS], 1).incidents[0].status.related is None
    fix.run([], 1)  # LATENCY resolved at minute 1; a signal beginning more than a window later is a new cause
    stale.others = owned_by("fix", fix.incidents)
    late = rule("canary-errors", 1 + WINDOW.total_seconds() / 60 + 1, ("Deployment", "fraud-canary"))
    assert stale.run([late], 13).incidents[0].status.related is None


def test_the_nearest_related_incident_is_linked_and_a_shared_alertmanager_group_is_nearest() -> None:
    near, far = Passes(), Passes()
    near.run([rule("canary-latency", 0.5, ("Deployment", "fraud-canary"))], 0.5)
    far.run([LATENCY], 0.2)
    other = other_playbook()
    other.others = owned_by("near", near.incidents) + owned_by("far", far.incidents)
    linked = other.run([POD_ALERT], 2).incidents[0].status.related
    assert linked is not None and linked.playbook == "near" and len(linked.path or []) == 2
    grouped, other = Passes(), other_playbook()
    grouped.run([alert("Billing", 0.5, group="g1", deployment="cache")], 0.5)
    other.others = owned_by("near", near.incidents) + owned_by("grouped", grouped.incidents)
    linked = other.run([alert("PodErrors", 1.5, group="g1", pod="fraud-canary-a")], 2).incidents[0].status.related
    assert linked is not None and (linked.playbook, linked.path) == ("grouped", ["Alertmanager group g1"])


def test_an_announced_incident_is_never_linked_later() -> None:
    fix, other = Passes(), other_playbook()
    other.run([CANARY_ERRORS], 0.5)  # announced on its own, before the other playbook's incident existed
    fix.run([LATENCY], 1)
    other.others = owned_by("fix", fix.incidents)
    result = other.run([CANARY_ERRORS], 2)
    assert result.incidents[0].status.related is None and other.sent == [(result.incidents[0].name, "Opened")]


def test_target_node_is_the_object_an_incident_is_about() -> None:
    assert target_node("Deployment/web", NS) == (NS, "Deployment", "web")
    assert target_node("other/Deployment/web", NS) == ("other", "Deployment", "web")
    for about_itself in ("Alert/PodErrors", "AnomalyRule/latency", "", "Deployment/", "/web", "Deployment", "a/b/c/d"):
        assert target_node(about_itself, NS) is None, about_itself


def linked_to(ours: list[Signal], others: list[Incident], minutes: float = 2) -> str | None:
    other = other_playbook()
    other.others = others
    related = other.run(ours, minutes).incidents[0].status.related
    return related.name if related is not None else None


def test_a_link_is_found_from_each_member_rule_and_the_target_of_the_new_incident() -> None:
    fix = Passes()
    fix.run([LATENCY], 0.5)
    [first] = owned_by("fix", fix.incidents)
    # from a member's rule (no target on the signal): canary-errors watches the canary Deployment
    assert linked_to([rule("canary-errors", 1)], [first]) == first.name
    # from the target only (a rule the topology does not know)
    assert linked_to([rule("unknown", 1, ("Deployment", "fraud-canary"))], [first]) == first.name
    # from a member's labels read in the playbook's namespace (the drift rule's series name the model)
    assert linked_to([DRIFT], [first]) == first.name
    # from any member, not only the last: the pod alert links, the cache alert does not
    grouped = [
        alert("PodErrors", 1, group="g", pod="fraud-canary-a"),
        alert("CacheDown", 1.2, group="g", deployment="cache"),
    ]
    assert linked_to(grouped, [first]) == first.name


def test_an_incident_without_members_links_nothing() -> None:
    fix = Passes()
    fix.run([LATENCY], 0.5)
    other = other_playbook()
    other.incidents = [Incident("empty", "Deployment/fraud-canary", IncidentStatus(started_at=T0))]
    other.others = owned_by("fix", fix.incidents)
    assert other.run([], 1).incidents[0].status.related is None


def test_candidates_are_ranked_by_hops_then_start_then_name_skipping_own_and_unjoinable() -> None:
    fix = Passes()
    fix.run([LATENCY], 0.5)
    [first] = owned_by("fix", fix.incidents)
    own = Incident("own", first.target, first.status, playbook="other")
    assert linked_to([CANARY_ERRORS], [own, first]) == first.name  # its own is skipped, not the end of the search
    pod = Passes()
    pod.run([rule("pod-latency", 0.1, ("Pod", "fraud-canary-a"))], 0.1)  # 0 hops from the pod, earliest
    grouped = Passes()
    grouped.run([alert("Billing", 0.5, group="g1", deployment="cache")], 0.5)
    near, shared = owned_by("a", pod.incidents)[0], owned_by("b", grouped.incidents)[0]
    assert linked_to([alert("PodErrors", 1.5, group="g1", pod="fraud-canary-a")], [near, shared]) == shared.name
    early = Incident("zz-early", first.target, first.status, playbook="p1")
    late_status = first.status.model_copy(update={"started_at": T0 + timedelta(minutes=0.2)})
    late = Incident("aa-late", first.target, late_status, playbook="p2")
    assert linked_to([CANARY_ERRORS], [late, early]) == "zz-early"
