"""The topology graph: which observed objects relate, the paths between them and their distance."""

from __future__ import annotations

from mlaiops.remediation import topology
from mlaiops.remediation.topology import anchors, around, build, describe, distance, path
from tests.unit.remediation.topology_world import NS, obj, world


def n(kind: str, name: str) -> tuple[str, str, str]:
    return (NS, kind, name)


def test_a_model_deployment_links_its_children_rules_policy_and_route() -> None:
    graph = build(world())
    md = graph.neighbours(n("ModelDeployment", "fraud"))
    assert md[n("Deployment", "fraud-stable")] == "owns"
    assert md[n("Deployment", "fraud-canary")] == "owns"
    assert md[n("Service", "fraud")] == "owns"
    assert md[n("HTTPRoute", "fraud-route")] == "routes"
    assert md[n("RetrainPolicy", "nightly")] == "feeds"
    assert md[n("AnomalyRule", "latency")] == "watches"
    assert graph.neighbours(n("HorizontalPodAutoscaler", "fraud"))[n("Deployment", "fraud-stable")] in (
        "scales",
        "owns",
    )
    assert graph.neighbours(n("Pod", "fraud-canary-a")) == {
        n("Deployment", "fraud-canary"): "selects",
        n("Service", "fraud"): "selects",
    }


def test_a_model_deployment_serving_a_policy_s_model_is_fed_by_it() -> None:
    md = obj("ModelDeployment", "scorer", spec={"model": {"source": {"retrainPolicyRef": {"name": "weekly"}}}})
    assert build([md]).neighbours(n("ModelDeployment", "scorer")) == {n("RetrainPolicy", "weekly"): "feeds"}


def test_the_http_route_field_is_optional() -> None:
    graph = build(world(http_route=False))
    assert n("HTTPRoute", "fraud-route") not in graph
    assert distance(graph, {n("Pod", "fraud-canary-a")}, {n("ModelDeployment", "fraud")}, 3) == 2


def test_an_http_route_object_links_its_backends() -> None:
    route = obj("HTTPRoute", "fraud-route", spec={"rules": [{"backendRefs": [{"name": "fraud-canary"}]}]})
    graph = build([*world(), route])
    assert graph.neighbours(n("HTTPRoute", "fraud-route"))[n("Service", "fraud-canary")] == "routes"


def test_workloads_that_are_not_ours_link_through_selectors_and_owner_references() -> None:
    replica_set = obj("ReplicaSet", "cache-1", owner=("Deployment", "cache"))
    pod = obj("Pod", "cache-owned", owner=("ReplicaSet", "cache-1"))
    graph = build([*world(), replica_set, pod])
    assert graph.neighbours(n("Pod", "cache-xyz")) == {
        n("Deployment", "cache"): "selects",
        n("Service", "cache"): "selects",
    }
    assert path(graph, {n("Pod", "cache-owned")}, {n("Deployment", "cache")}, 3) == [
        n("Pod", "cache-owned"),
        n("ReplicaSet", "cache-1"),
        n("Deployment", "cache"),
    ]
    assert n("Service", "cache") in graph.neighbours(n("Deployment", "cache"))  # the Service selects its template


def test_paths_are_shortest_bounded_and_described() -> None:
    graph = build(world())
    route = path(graph, {n("AnomalyRule", "canary-errors")}, {n("AnomalyRule", "latency")}, 4)
    assert route == [
        n("AnomalyRule", "canary-errors"),
        n("Deployment", "fraud-canary"),
        n("ModelDeployment", "fraud"),
        n("AnomalyRule", "latency"),
    ]
    assert describe(graph, route, NS) == [
        "AnomalyRule/canary-errors",
        "-watches-> Deployment/fraud-canary",
        "-owns-> ModelDeployment/fraud",
        "-watches-> AnomalyRule/latency",
    ]
    assert path(graph, {n("AnomalyRule", "canary-errors")}, {n("AnomalyRule", "latency")}, 2) is None  # beyond
    assert distance(graph, {n("Pod", "cache-xyz")}, {n("ModelDeployment", "fraud")}, 6) is None  # unrelated
    assert distance(graph, {n("Pod", "fraud-stable-a")}, {n("Pod", "fraud-stable-a")}, 0) == 0
    assert describe(graph, [], NS) == []


def test_paths_are_the_same_whatever_the_order_of_objects() -> None:
    one, other = build(world()), build(list(reversed(world())))
    start, goal = {n("Pod", "fraud-canary-a")}, {n("Pod", "fraud-stable-a")}
    assert path(one, start, goal, 4) == path(other, start, goal, 4)


def test_series_and_alert_labels_anchor_on_the_same_objects() -> None:
    graph = build(world())
    assert anchors(graph, {"namespace": NS, "pod": "fraud-canary-a"}, "x") == {n("Pod", "fraud-canary-a")}
    assert anchors(graph, {"model": "fraud-model", "version": "v2"}, NS) == {
        n("ModelDeployment", "fraud"),
        n("Deployment", "fraud-canary"),
    }
    assert anchors(graph, {"deployment": "cache", "service": "cache"}, NS) == {
        n("Deployment", "cache"),
        n("Service", "cache"),
    }
    assert anchors(graph, {"mlaiops.dev/model-deployment": "fraud"}, NS) == {n("ModelDeployment", "fraud")}
    assert anchors(graph, {"httproute": "fraud-route"}, NS) == {n("HTTPRoute", "fraud-route")}  # known by name
    assert anchors(graph, {"pod": "gone"}, NS) == {n("Pod", "gone")}  # unknown objects are still named
    assert anchors(graph, {"other": "x"}, NS) == set()


def test_bad_objects_are_ignored_not_fatal() -> None:
    graph = build([{"kind": "Pod"}, {"metadata": {"name": "x"}}, "junk", obj("Service", "s", spec={"selector": {}})])  # type: ignore[list-item]
    assert list(graph.edges) == [n("Service", "s")] and graph.neighbours(n("Service", "s")) == {}
    assert topology.node_text(("other", "Pod", "p"), NS) == "other/Pod/p"


def test_around_lists_neighbours_nearest_first_with_their_paths() -> None:
    graph = build(world())
    near = around(graph, n("Deployment", "fraud-canary"), 1)
    assert [node for node, _ in near] == [
        n("AnomalyRule", "canary-errors"),
        n("ModelDeployment", "fraud"),
        n("Pod", "fraud-canary-a"),
        n("Service", "fraud"),
    ]
    two = dict(around(graph, n("Deployment", "fraud-canary"), 2))
    assert two[n("Pod", "fraud-stable-a")] == [
        n("Deployment", "fraud-canary"),
        n("Service", "fraud"),
        n("Pod", "fraud-stable-a"),
    ]
    assert around(graph, n("Pod", "nowhere"), 3) == []


def test_a_url_in_the_env_links_a_workload_to_the_service_it_calls() -> None:
    env = [{"name": "FEATURES_URL", "value": "http://cache:6379/v1"}, {"name": "MODE", "value": "fast"}]
    md = obj("ModelDeployment", "scorer", spec={"runtime": {"env": env}})
    worker = obj(
        "Deployment",
        "worker",
        spec={
            "template": {
                "spec": {"containers": [{"name": "w", "env": [{"name": "U", "value": "grpc://cache.ns.svc"}]}]}
            }
        },
    )
    graph = build([*world(), md, worker])
    assert graph.neighbours(n("ModelDeployment", "scorer"))[n("Service", "cache")] == "calls"
    assert graph.neighbours(n("Deployment", "worker"))[n("Service", "cache")] == "calls"
    # the model's symptom and its dependency's pods are two hops apart: one incident
    assert distance(graph, {n("ModelDeployment", "scorer")}, {n("Deployment", "cache")}, 3) == 2


def test_only_urls_naming_a_service_of_the_namespace_link() -> None:
    def env_of(*values: str) -> set[tuple[str, str]]:
        md = obj("ModelDeployment", "m", spec={"runtime": {"env": [{"name": "X", "value": v} for v in values]}})
        return topology.called_services(md, NS)

    assert env_of("http://cache", "https://cache.other:443", "http://db.ns.svc.cluster.local/x") == {
        (NS, "cache"),
        ("other", "cache"),
        (NS, "db"),
    }
    assert env_of("cache", "http://api.example.com/v1", "not a url", "http://") == set()
    md = obj("ModelDeployment", "m", spec={"runtime": {"env": [{"name": "X", "value": "http://nowhere:80"}]}})
    assert build([md]).neighbours(n("ModelDeployment", "m")) == {}  # no Service called nowhere: no edge


def test_init_containers_count_and_env_entries_without_a_literal_value_are_skipped() -> None:
    init = obj(
        "Deployment",
        "migrator",
        spec={
            "template": {
                "spec": {
                    "containers": [{"name": "m", "env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s"}}}]}],
                    "initContainers": [{"name": "wait", "env": [{"name": "DB", "value": "http://cache:5432"}]}],
                }
            }
        },
    )
    assert topology.called_services(init, NS) == {(NS, "cache")}


def test_a_value_that_is_not_a_url_does_not_hide_the_urls_after_it() -> None:
    md = obj(
        "ModelDeployment",
        "m",
        spec={"runtime": {"env": [{"name": "A", "value": "fast"}, {"name": "B", "value": "http://cache"}]}},
    )
    assert topology.called_services(md, NS) == {(NS, "cache")}
