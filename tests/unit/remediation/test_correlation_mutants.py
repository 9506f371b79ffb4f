"""Details of incident correlation that test_correlation.py leaves open, pinned after mutation testing.

benchmarks/mutation.py showed which ones no test stated: the window's exact edges, which incident wins
when several could take a signal, the names of incidents opened by odd alert names, what a new member
records, the bounds on members, notifications and followed incidents, and that a pass never changes the
incidents it was given.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mlaiops.api.incident import IncidentAnomaly, IncidentNotification, IncidentStatus
from mlaiops.remediation.correlation import (
    Incident,
    Settings,
    anchors_of,
    followed,
    joinable,
    plan,
    signal_anchors,
)
from mlaiops.remediation.incidents import Signal, incident_name
from mlaiops.remediation.topology import Graph
from tests.unit.remediation.test_correlation import (
    CANARY_ERRORS,
    GRAPH,
    LATENCY,
    POD_ALERT,
    T0,
    WINDOW,
    Passes,
    alert,
    rule,
)
from tests.unit.remediation.topology_world import NS

SETTINGS = Settings("fix", NS, WINDOW)


def minutes(value: float) -> datetime:
    return T0 + timedelta(minutes=value)


def member(rule_: str, since: datetime, resolved_at: datetime | None = None, **labels: str) -> IncidentAnomaly:
    return IncidentAnomaly(
        rule=rule_, fingerprint=f"fp-{rule_}", since=since, resolved_at=resolved_at, labels=labels or None
    )


def incident(name: str, started: datetime, *members: IncidentAnomaly, **status: object) -> Incident:
    fields: dict[str, object] = {"phase": "Open", "started_at": started, "anomalies": list(members), **status}
    return Incident(name, f"Thing/{name}", IncidentStatus(**fields))  # type: ignore[arg-type]


def firing(*members: IncidentAnomaly) -> list[Signal]:
    """The signals that keep ``members`` firing (same rule, fingerprint and start)."""
    return [Signal("AnomalyRule", m.rule, m.fingerprint, m.since, labels=m.labels or {}, namespace=NS) for m in members]


def home_of(result_membership: dict[tuple[str, str], str], signal: Signal) -> str:
    return result_membership[(signal.rule, signal.fingerprint)]


# --- the window's edges ---------------------------------------------------------------------------------


def test_a_signal_may_join_from_exactly_one_window_before_the_start_to_one_window_after_the_resolution() -> None:
    open_ = incident("i", T0)
    assert joinable(open_, T0, WINDOW)
    assert joinable(open_, T0 - WINDOW, WINDOW)
    assert not joinable(open_, T0 - WINDOW - timedelta(seconds=1), WINDOW)
    resolved = incident("i", T0, phase="Resolved", resolved_at=minutes(5))
    assert joinable(resolved, minutes(15), WINDOW)
    assert not joinable(resolved, minutes(15) + timedelta(seconds=1), WINDOW)


def test_an_open_incident_is_joinable_whatever_resolution_time_its_status_still_carries() -> None:
    stale = incident("i", T0, resolved_at=minutes(1))  # phase Open: the resolution is over
    assert joinable(stale, minutes(30), WINDOW)


def test_a_flap_exactly_one_window_after_resolving_still_folds() -> None:
    world_ = Passes()
    world_.run([LATENCY], 1)
    world_.run([], 3)  # resolved at minute 3
    again = Signal(**{**LATENCY.__dict__, "since": minutes(13)})
    result = world_.run([again], 13)
    [member_] = result.incidents[0].status.anomalies or []
    assert (member_.flaps, member_.resolved_at, result.incidents[0].status.phase) == (1, None, "Open")


def test_a_flap_of_a_later_member_folds_too() -> None:
    world_ = Passes()
    world_.run([LATENCY, CANARY_ERRORS], 2)
    world_.run([LATENCY], 3)  # canary-errors resolves; latency (the first member) keeps firing
    again = Signal(**{**CANARY_ERRORS.__dict__, "since": minutes(5)})
    result = world_.run([LATENCY, again], 6)
    members = {m.rule: m for m in result.incidents[0].status.anomalies or []}
    assert len(result.incidents[0].status.anomalies or []) == 2
    assert (members[f"{NS}/canary-errors"].flaps, members[f"{NS}/canary-errors"].resolved_at) == (1, None)


def test_an_episode_that_began_before_the_member_is_not_a_flap_of_it() -> None:
    world_ = Passes()
    world_.run([LATENCY], 1)
    world_.run([], 3)
    earlier = Signal(**{**LATENCY.__dict__, "since": T0 - timedelta(minutes=1)})
    result = world_.run([earlier], 4)
    members = result.incidents[0].status.anomalies or []
    assert [(m.since, m.flaps) for m in members] == [(T0 - timedelta(minutes=1), None), (T0, None)]


# --- which objects a signal or member concerns ----------------------------------------------------------


def test_a_rule_signal_without_a_target_concerns_its_rule_and_what_the_rule_watches() -> None:
    signal = Signal("AnomalyRule", f"{NS}/canary-errors", "fp", T0, namespace=NS)
    assert signal_anchors(GRAPH, signal, NS) == {
        (NS, "AnomalyRule", "canary-errors"),
        (NS, "Deployment", "fraud-canary"),
    }
    half = Signal("AnomalyRule", f"{NS}/x", "fp", T0, namespace=NS, target_kind="Deployment")
    assert signal_anchors(GRAPH, half, NS) == {(NS, "AnomalyRule", "x")}  # a kind without a name names nothing


def test_a_signal_s_own_namespace_places_its_target_and_labels() -> None:
    signal = Signal(
        "Alertmanager", "Down", "fp", T0, labels={"pod": "p"}, namespace="other", target_kind="Pod", target_name="q"
    )
    assert signal_anchors(GRAPH, signal, NS) == {("other", "Pod", "p"), ("other", "Pod", "q")}


def test_an_alert_name_with_a_slash_is_not_an_anomaly_rule() -> None:
    assert anchors_of(GRAPH, "Alertmanager", f"{NS}/latency", {}, NS) == set()
    assert anchors_of(GRAPH, "AnomalyRule", "latency", {}, NS) == set()  # not namespace/name: no rule node


def test_a_signal_without_a_namespace_is_placed_in_the_playbook_s() -> None:
    bare = Signal("AnomalyRule", "ns/bare", "fp-bare", minutes(1), target_kind="ModelDeployment", target_name="fraud")
    result = Passes(max_hops=0).run([LATENCY, bare], 2)
    assert len(result.incidents) == 1


def test_unrelated_alerts_without_targets_stay_apart() -> None:
    result = Passes().run([alert("One", 0), alert("Two", 1)], 2)
    assert len(result.incidents) == 2


def test_a_member_s_labels_relate_it() -> None:
    other = alert("PodLatency", 2, pod="fraud-canary-a")
    result = Passes(max_hops=0).run([POD_ALERT, other], 3)  # two alerts on one pod: 0 hops through labels
    assert len(result.incidents) == 1
    assert (result.incidents[0].status.anomalies or [])[1].path == ["Pod/fraud-canary-a"]


def test_a_member_s_labels_without_a_namespace_are_in_the_playbook_s() -> None:
    drift = rule("drift", 1, model="fraud-model", version="v2")  # no namespace label: the canary Deployment
    result = Passes(max_hops=1).run([drift, POD_ALERT], 2)
    assert len(result.incidents) == 1


# --- which incident takes a signal ----------------------------------------------------------------------


def test_an_alertmanager_group_outranks_a_topology_path_even_of_zero_hops() -> None:
    grouped = IncidentAnomaly(
        source="Alertmanager",
        rule="CacheDown",
        fingerprint="c",
        since=minutes(1),
        labels={"deployment": "cache"},
        group="g",
    )
    topo = member(f"{NS}/latency", T0)  # the rule watches ModelDeployment/fraud
    earlier, later = incident("b-topology", T0, topo), incident("a-group", minutes(1), grouped)
    signal = alert("ModelErrors", 2, group="g", modeldeployment="fraud")
    keep = [*firing(topo), Signal("Alertmanager", "CacheDown", "c", minutes(1), group="g", namespace=NS)]
    result = plan([earlier, later], [*keep, signal], GRAPH, SETTINGS, minutes(3))
    assert home_of(result.membership, signal) == "a-group"


def chain(*links: tuple[str, str]) -> Graph:
    graph = Graph()
    for a, b in links:
        graph.link((NS, "Pod", a), (NS, "Pod", b), "related")
    return graph


def test_of_two_incidents_as_near_the_one_that_started_first_takes_the_signal() -> None:
    graph = chain(("s", "x"), ("c", "x"))
    s, c = member(f"{NS}/s", T0, pod="s"), member(f"{NS}/c", minutes(1), pod="c")
    first, second = incident("zz-first", T0, s), incident("aa-second", minutes(1), c)
    signal = alert("X", 2, pod="x")
    result = plan([second, first], [*firing(s, c), signal], graph, SETTINGS, minutes(3))
    assert home_of(result.membership, signal) == "zz-first"


def test_the_nearest_incident_takes_the_signal_whatever_their_order() -> None:
    graph = chain(("s", "y"), ("y", "x"), ("c", "x"))
    s, c = member(f"{NS}/s", T0, pod="s"), member(f"{NS}/c", minutes(1), pod="c")
    farther, nearer = incident("a-farther", T0, s), incident("b-nearer", minutes(1), c)
    signal = alert("X", 2, pod="x")
    result = plan([farther, nearer], [*firing(s, c), signal], graph, SETTINGS, minutes(3))
    assert home_of(result.membership, signal) == "b-nearer"


def test_an_incident_too_old_to_join_does_not_hide_a_later_one() -> None:
    old = member(f"{NS}/latency", T0 - timedelta(hours=1), resolved_at=T0 - timedelta(minutes=30))
    gone = incident("a-old", T0 - timedelta(hours=1), old, phase="Resolved", resolved_at=T0 - timedelta(minutes=30))
    live_member = member(f"{NS}/canary-errors", T0)
    live = incident("b-live", T0, live_member)
    signal = rule("errors", 1, ("ModelDeployment", "fraud"))
    result = plan([gone, live], [*firing(live_member), signal], GRAPH, SETTINGS, minutes(2))
    assert home_of(result.membership, signal) == "b-live"


# --- what a pass returns --------------------------------------------------------------------------------


def test_incidents_come_back_earliest_first_with_their_targets_and_new_ones_marked() -> None:
    later, earlier = incident("a", minutes(5)), incident("b", T0)
    result = plan([later, earlier], [alert("Other", 6)], Graph(), SETTINGS, minutes(7))
    assert [(i.name, i.target, i.new) for i in result.incidents[:2]] == [
        ("b", "Thing/b", False),
        ("a", "Thing/a", False),
    ]
    opened = result.incidents[2]
    assert opened.new is True and opened.name == incident_name("fix", "other", minutes(6))


def test_a_pass_never_changes_the_incidents_it_was_given() -> None:
    given = incident("i", T0, member(f"{NS}/latency", T0))
    plan([given], [], GRAPH, SETTINGS, minutes(1))  # the member stopped firing: resolved in the copy only
    assert given.status.phase == "Open" and (given.status.anomalies or [])[0].resolved_at is None


def test_an_incident_without_members_keeps_its_start() -> None:
    result = plan([incident("i", T0)], [], GRAPH, SETTINGS, minutes(1))
    assert result.incidents[0].status.started_at == T0


def test_a_new_member_records_where_it_came_from() -> None:
    signal = alert("PodErrors", 1, group="g1", pod="fraud-canary-a")
    result = Passes().run([signal, rule("quiet", 2, ("ModelDeployment", "fraud"))], 3)
    members = {m.rule: m for m in result.incidents[0].status.anomalies or []}
    assert (members["PodErrors"].source, members["PodErrors"].group) == ("Alertmanager", "g1")
    assert members["PodErrors"].labels == {"alertname": "PodErrors", "namespace": NS, "pod": "fraud-canary-a"}
    assert (members[f"{NS}/quiet"].source, members[f"{NS}/quiet"].labels, members[f"{NS}/quiet"].group) == (
        "AnomalyRule",
        None,
        None,
    )


def test_an_incident_keeps_its_fifty_latest_members() -> None:
    signals = [alert(f"A{i}", i, group="g", pod=f"p{i}") for i in range(51)]
    result = Passes(graph=Graph()).run(signals, 60)
    [only] = result.incidents
    members = only.status.anomalies or []
    assert len(members) == 50 and members[0].rule == "A1" and members[-1].rule == "A50"
    assert only.status.started_at == T0  # the earliest member still dates the incident


# --- names of incidents opened by alerts ----------------------------------------------------------------


def test_an_incident_opened_by_an_alert_is_named_after_its_alert_name_made_dns_safe() -> None:
    cases = {"High_Latency.p99": "high-latency-p99", "_Down_": "down", "???": "incident", "team/api/Down": "down"}
    for name, expected in cases.items():
        [opened] = Passes().run([alert(name, 0)], 1).incidents
        assert opened.name.startswith(f"{expected}-20261127-120000-"), (name, opened.name)
    [opened] = Passes().run([alert("team/api/Down", 0)], 1).incidents
    assert opened.target == "Alert/Down"


# --- notifications --------------------------------------------------------------------------------------


def test_an_interrupted_send_is_explained_and_kept_when_notifications_are_turned_off() -> None:
    world_ = Passes()
    world_.run([LATENCY], 1, deliver=False)
    world_.settings = Settings("fix", NS, WINDOW, 3, notify=False)
    result = world_.run([LATENCY], 2)
    assert [(r.event, r.result, r.message) for r in result.incidents[0].status.notifications or []] == [
        ("Opened", "Failed", "interrupted: the operator stopped while sending; not repeated")
    ]


def test_an_incident_keeps_its_ten_latest_notifications() -> None:
    records = [IncidentNotification(event="Opened", result="Failed", at=minutes(i)) for i in range(10)]
    gone = member(f"{NS}/latency", T0, resolved_at=minutes(1))
    resolved = incident("i", T0, gone, phase="Resolved", resolved_at=minutes(1), notifications=records)
    result = plan([resolved], [], GRAPH, Settings("fix", NS, WINDOW, notify=True), minutes(20))
    kept = result.incidents[0].status.notifications or []
    assert result.send == [("i", "Resolved")]
    assert len(kept) == 10 and kept[0].at == minutes(1) and (kept[-1].event, kept[-1].result) == ("Resolved", "Sending")


# --- which incidents are followed -----------------------------------------------------------------------


def test_an_incident_resolved_exactly_an_hour_ago_is_no_longer_followed() -> None:
    resolved = incident("i", T0, phase="Resolved", resolved_at=minutes(2))
    assert followed([resolved], minutes(62) - timedelta(seconds=1)) == [resolved]
    assert followed([resolved], minutes(62)) == []
    undated = incident("j", T0, phase="Resolved")  # resolved, but when is not recorded: still followed
    assert followed([undated], minutes(600)) == [undated]


def test_followed_keeps_the_twenty_newest_newest_first() -> None:
    many = [incident(f"i{n:02d}", minutes(n)) for n in (5, 0, 12, 3, *range(13, 30))]
    undated = Incident("undated", "Thing/undated", IncidentStatus(phase="Open"))
    kept = followed([*many, undated], minutes(60))
    assert [i.name for i in kept] == ["undated", *[f"i{n:02d}" for n in range(29, 12, -1)], "i12", "i05"]
