"""Details of the topology graph that test_topology.py leaves open, pinned after mutation testing.

benchmarks/mutation.py showed which ones no test stated: the reason on each kind of edge, the defaults
of references without a kind, malformed references skipped rather than fatal, label anchors that mix
known and unknown objects, cluster-scoped objects, and that ``around`` lists each node once.
"""

from __future__ import annotations

from mlaiops.remediation.topology import Graph, anchors, around, build, describe, node_text
from tests.unit.remediation.topology_world import NS, obj, ours, world


def n(kind: str, name: str, namespace: str = NS) -> tuple[str, str, str]:
    return (namespace, kind, name)


def test_a_link_between_new_nodes_goes_both_ways_with_its_first_reason() -> None:
    graph = Graph()
    graph.link(n("Pod", "a"), n("Pod", "b"), "selects")
    graph.link(n("Pod", "b"), n("Pod", "a"), "owns")  # the first reason given for the pair is kept
    assert graph.neighbours(n("Pod", "a")) == {n("Pod", "b"): "selects"}
    assert graph.neighbours(n("Pod", "b")) == {n("Pod", "a"): "selects"}


def test_the_owner_label_alone_is_an_owns_edge_and_keeps_dots_in_the_name() -> None:
    service = obj("Service", "s", ours("fraud"))
    dotted = obj("ConfigMap", "c", {"mlaiops.dev/owner": "ModelDeployment.fraud.v2"})
    graph = build([service, dotted])
    assert graph.neighbours(n("Service", "s")) == {n("ModelDeployment", "fraud"): "owns"}
    assert graph.neighbours(n("ConfigMap", "c")) == {n("ModelDeployment", "fraud.v2"): "owns"}


def test_a_service_selects_a_workload_by_its_pod_template() -> None:
    graph = build(world())
    assert graph.neighbours(n("Service", "cache"))[n("Deployment", "cache")] == "selects"


def test_references_without_a_kind_take_the_kind_they_default_to() -> None:
    rule = obj("AnomalyRule", "r", spec={"target": {"name": "fraud"}})
    route = obj(
        "HTTPRoute",
        "web",
        spec={"rules": [{"backendRefs": [{"name": "svc"}, {"name": "imp", "kind": "ServiceImport"}]}]},
    )
    graph = build([rule, route])
    assert graph.neighbours(n("AnomalyRule", "r")) == {n("ModelDeployment", "fraud"): "watches"}
    assert graph.neighbours(n("HTTPRoute", "web")) == {
        n("Service", "svc"): "routes",
        n("ServiceImport", "imp"): "routes",
    }


def test_an_http_route_reference_may_be_an_object_with_a_name() -> None:
    md = obj("ModelDeployment", "m", spec={"rollout": {"trafficRouting": {"gatewayAPI": {"httpRoute": {"name": "r"}}}}})
    assert build([md]).neighbours(n("ModelDeployment", "m")) == {n("HTTPRoute", "r"): "routes"}


def test_malformed_references_are_skipped_not_fatal() -> None:
    objects = [
        obj("Pod", "half-owned", owner=("ReplicaSet", "")),  # an ownerReference without a name
        obj("HorizontalPodAutoscaler", "h", spec={"scaleTargetRef": {"name": "web"}}),  # no kind
        obj("HorizontalPodAutoscaler", "k", spec={"scaleTargetRef": {"kind": "Deployment"}}),  # no name
        obj("ModelDeployment", "m", spec={"rollout": {"trafficRouting": {"gatewayAPI": {"httpRoute": 5}}}}),
        obj("Deployment", "d", spec={"selector": {"matchLabels": ["app", "x"]}}),  # not a map
        obj("Pod", "p", {"app": "x"}),
    ]
    objects[0]["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet"}]
    graph = build(objects)
    assert all(graph.neighbours(node) == {} for node in graph.edges), graph.edges


def test_a_cluster_scoped_object_has_an_empty_namespace_and_is_named_without_one() -> None:
    node = {"kind": "Node", "metadata": {"name": "worker-1"}}
    graph = build([node])
    assert list(graph.edges) == [("", "Node", "worker-1")]
    assert node_text(("", "Node", "worker-1")) == "Node/worker-1"
    assert node_text((NS, "Pod", "p")) == f"{NS}/Pod/p"
    assert describe(graph, [("", "Node", "worker-1"), (NS, "Pod", "p")]) == ["Node/worker-1", f"-related-> {NS}/Pod/p"]


def test_a_path_step_without_a_recorded_edge_is_described_as_related() -> None:
    assert describe(Graph(), [n("Pod", "a"), n("Pod", "b")], NS) == ["Pod/a", "-related-> Pod/b"]


def test_a_model_label_names_a_model_deployment_by_its_own_name_too() -> None:
    graph = build(world())
    assert anchors(graph, {"model": "fraud"}, NS) == {n("ModelDeployment", "fraud")}


def test_labels_naming_known_and_unknown_objects_anchor_on_the_known_ones() -> None:
    graph = build(world())
    assert anchors(graph, {"pod": "fraud-canary-a", "service": "gone"}, NS) == {n("Pod", "fraud-canary-a")}
    assert anchors(graph, {"pod": "fraud-canary-a", "model": "fraud-model", "version": "v1"}, NS) == {
        n("Pod", "fraud-canary-a"),
        n("ModelDeployment", "fraud"),
        n("Deployment", "fraud-stable"),
    }
    assert anchors(graph, {"model": "unknown", "version": "v9", "pod": "p"}, NS) == {n("Pod", "p")}
    assert graph.models[(NS, "fraud-model")] == {n("ModelDeployment", "fraud")}  # the graph is not changed


def test_around_lists_each_node_once_by_its_shortest_path() -> None:
    graph = Graph()
    for a, b in (("x", "a"), ("x", "b"), ("a", "c"), ("b", "c")):
        graph.link(n("Pod", a), n("Pod", b), "related")
    near = around(graph, n("Pod", "x"), 3)
    assert [node for node, _ in near] == [n("Pod", "a"), n("Pod", "b"), n("Pod", "c")]
    assert near[2][1] == [n("Pod", "x"), n("Pod", "a"), n("Pod", "c")]
