"""What relates to what, pure: a small undirected graph built from the objects the operator observed.

Why: Alertmanager's ``group_by`` cannot know that a latency rule on a ModelDeployment, an error-rate
alert on one of its pods and a drift rule on its canary are one problem. Incidents join signals whose
objects are close in this graph (``remediation/correlation.py``) and rank changes by how far they are
from the symptoms (``remediation/causes.py``).

Nodes are ``(namespace, kind, name)``. Edges, each with the reason it exists:
- ``owns``: an ownerReference (any kind, ours or not), and the ``mlaiops.dev/owner`` label of our children;
- ``selects``: a Service or a Deployment/StatefulSet selector matching a Pod's labels (workloads not ours
  have no other link), a Service matching a workload's pod template;
- ``scales``: a HorizontalPodAutoscaler's scaleTargetRef;
- ``routes``: a ModelDeployment's ``spec.rollout.trafficRouting.gatewayAPI.httpRoute`` (when the field
  exists), an HTTPRoute's backendRefs;
- ``feeds``: a RetrainPolicy's modelDeploymentRef, a ModelDeployment's ``model.source.retrainPolicyRef``;
- ``watches``: an AnomalyRule's ``target``;
- ``calls``: a workload's container env (or a ModelDeployment's ``spec.runtime.env``) holding a URL whose host
  is a Service of the namespace (``http://features:8080``, ``features.ns.svc``): the model server's
  dependencies, which nothing else links (a failing dependency and the model's latency are one problem).
Signal labels (``namespace``, ``pod``, ``model``, ``version``, ``deployment``, ``service``, ...) map
onto the same nodes with ``anchors``.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]
Node = tuple[str, str, str]
"""(namespace, kind, name)."""

OWNER_LABEL = "mlaiops.dev/owner"
MODEL_LABEL = "mlaiops.dev/model-deployment"
VERSION_LABEL = "mlaiops.dev/version"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
LABEL_KINDS = {
    "pod": "Pod",
    "deployment": "Deployment",
    "statefulset": "StatefulSet",
    "service": "Service",
    "horizontalpodautoscaler": "HorizontalPodAutoscaler",
    "httproute": "HTTPRoute",
    "modeldeployment": "ModelDeployment",
    "model_deployment": "ModelDeployment",
    "anomalyrule": "AnomalyRule",
}
"""Series and alert labels that name an object directly (kube-state-metrics and our own names)."""


def node_text(node: Node, namespace: str = "") -> str:
    """``Kind/name``, with the namespace in front when it is not ``namespace``."""
    ns, kind, name = node
    return f"{kind}/{name}" if ns == namespace else f"{ns}/{kind}/{name}"


@dataclass
class Graph:
    """Undirected, labelled edges between observed objects, plus what label values point at."""

    edges: dict[Node, dict[Node, str]] = field(default_factory=dict)
    models: dict[tuple[str, str], set[Node]] = field(default_factory=dict)
    """(namespace, model name) -> the ModelDeployments serving it (by its name or spec.model.name)."""
    versions: dict[tuple[str, str], set[Node]] = field(default_factory=dict)
    """(namespace, model version) -> the workloads whose pod template carries it."""

    def add(self, node: Node) -> None:
        self.edges.setdefault(node, {})

    def link(self, a: Node, b: Node, why: str) -> None:
        """An edge both ways; the first reason given for a pair is kept."""
        if a == b:
            return
        self.edges.setdefault(a, {}).setdefault(b, why)
        self.edges.setdefault(b, {}).setdefault(a, why)

    def neighbours(self, node: Node) -> dict[Node, str]:
        return dict(self.edges.get(node, {}))

    def __contains__(self, node: object) -> bool:
        return node in self.edges


def _meta(obj: JSON) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(obj.get("kind") or ""), str(meta.get("name") or "")


def _matches(selector: Mapping[str, Any] | None, labels: Mapping[str, Any]) -> bool:
    """matchLabels semantics (a plain map, as a Service's selector); an empty selector matches nothing."""
    if not selector:
        return False
    return all(labels.get(key) == value for key, value in selector.items())


def _pod_selector(obj: JSON) -> Mapping[str, Any] | None:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Service":
        selector: Mapping[str, Any] | None = spec.get("selector")
        return selector
    match = (spec.get("selector") or {}).get("matchLabels")
    return match if isinstance(match, Mapping) else None


_URL_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://([a-z0-9]([-a-z0-9.]*[a-z0-9])?)(?=[:/?#]|$)", re.IGNORECASE)


def _env_values(obj: JSON) -> list[str]:
    """The literal env values of a workload's containers (or of a ModelDeployment's runtime)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "ModelDeployment":
        envs = [(spec.get("runtime") or {}).get("env")]
    else:
        pod = (spec.get("template") or {}).get("spec") or {}
        envs = [c.get("env") for c in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]]
    return [str(e["value"]) for env in envs for e in env or [] if isinstance(e, dict) and e.get("value")]


def called_services(obj: JSON, namespace: str) -> set[tuple[str, str]]:
    """(namespace, Service name) of every URL in the object's env: ``name``, ``name.ns``, ``name.ns.svc...``."""
    found = set()
    for value in _env_values(obj):
        match = _URL_HOST.match(value.strip())
        if not match:
            continue
        parts = match.group(1).lower().split(".")
        if len(parts) <= 2 or parts[2] == "svc":  # name, name.ns, name.ns.svc[.cluster.local]
            found.add((parts[1] if len(parts) > 1 else namespace, parts[0]))
    return found


def _template_labels(obj: JSON) -> Mapping[str, Any]:
    labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
    return labels if isinstance(labels, Mapping) else {}


def build(objects: Iterable[JSON]) -> Graph:
    """The graph of ``objects`` (any mix of kinds; unknown kinds become nodes linked by ownerReferences)."""
    graph = Graph()
    items = [o for o in objects if isinstance(o, dict) and _meta(o)[1] and _meta(o)[2]]
    for obj in items:
        graph.add(_meta(obj))
    pods = [o for o in items if o.get("kind") == "Pod"]
    for obj in items:
        node = ns, kind, name = _meta(obj)
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        labels = meta.get("labels") or {}
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") and ref.get("name"):
                graph.link(node, (ns, ref["kind"], ref["name"]), "owns")
        owner_kind, _, owner_name = str(labels.get(OWNER_LABEL) or "").partition(".")
        if owner_kind and owner_name and kind != "Pod":
            graph.link(node, (ns, owner_kind, owner_name), "owns")
        if kind in (*WORKLOADS, "Service"):
            selector = _pod_selector(obj)
            for pod in pods:
                pod_ns, _, _ = _meta(pod)
                if pod_ns == ns and _matches(selector, (pod.get("metadata") or {}).get("labels") or {}):
                    graph.link(node, _meta(pod), "selects")
        if kind == "Service":
            for workload in items:
                w_ns, w_kind, _ = _meta(workload)
                if w_kind in WORKLOADS and w_ns == ns and _matches(spec.get("selector"), _template_labels(workload)):
                    graph.link(node, _meta(workload), "selects")
        if kind in WORKLOADS:
            version = _template_labels(obj).get(VERSION_LABEL)
            if version:
                graph.versions.setdefault((ns, str(version)), set()).add(node)
        if kind == "HorizontalPodAutoscaler":
            target = spec.get("scaleTargetRef") or {}
            if target.get("kind") and target.get("name"):
                graph.link(node, (ns, target["kind"], target["name"]), "scales")
        if kind == "HTTPRoute":
            for rule in spec.get("rules") or []:
                for backend in rule.get("backendRefs") or []:
                    if backend.get("name"):
                        graph.link(node, (ns, backend.get("kind") or "Service", backend["name"]), "routes")
        if kind == "ModelDeployment":
            graph.models.setdefault((ns, name), set()).add(node)
            source = ((spec.get("model") or {}).get("source") or {}).get("retrainPolicyRef") or {}
            if source.get("name"):
                graph.link(node, (ns, "RetrainPolicy", source["name"]), "feeds")
            model = (spec.get("model") or {}).get("name")
            if model:
                graph.models.setdefault((ns, str(model)), set()).add(node)
            route = (((spec.get("rollout") or {}).get("trafficRouting") or {}).get("gatewayAPI") or {}).get("httpRoute")
            route_name = route.get("name") if isinstance(route, dict) else route
            if isinstance(route_name, str) and route_name:
                graph.link(node, (ns, "HTTPRoute", route_name), "routes")
        if kind == "RetrainPolicy":
            target_name = (spec.get("modelDeploymentRef") or {}).get("name")
            if target_name:
                graph.link(node, (ns, "ModelDeployment", target_name), "feeds")
        if kind == "AnomalyRule":
            target = spec.get("target") or {}
            if target.get("name"):
                graph.link(node, (ns, target.get("kind") or "ModelDeployment", target["name"]), "watches")
        if kind in (*WORKLOADS, "ModelDeployment"):
            for service_ns, service in called_services(obj, ns):
                if (service_ns, "Service", service) in graph:  # a host that is no Service of ours is no edge
                    graph.link(node, (service_ns, "Service", service), "calls")
    return graph


def anchors(graph: Graph, labels: Mapping[str, str], namespace: str) -> set[Node]:
    """The nodes a series' or an alert's labels name (in their ``namespace`` label's namespace, else ``namespace``)."""
    ns = labels.get("namespace") or namespace
    found: set[Node] = set()
    for label, kind in LABEL_KINDS.items():
        if labels.get(label):
            found.add((ns, kind, labels[label]))
    if labels.get(MODEL_LABEL):
        found.add((ns, "ModelDeployment", labels[MODEL_LABEL]))
    if labels.get("model"):
        found |= graph.models.get((ns, labels["model"]), set())
    if labels.get("version"):
        found |= graph.versions.get((ns, labels["version"]), set())
    return {node for node in found if node in graph} or found


def path(graph: Graph, start: Iterable[Node], goal: Iterable[Node], max_hops: int) -> list[Node] | None:
    """The shortest path from any of ``start`` to any of ``goal`` within ``max_hops`` edges (breadth first,
    ties broken by node order so the answer is the same every pass), or None."""
    goals = set(goal)
    queue: deque[list[Node]] = deque([[node] for node in sorted(set(start))])
    seen = {p[0] for p in queue}
    while queue:
        route = queue.popleft()
        if route[-1] in goals:
            return route
        if len(route) - 1 >= max_hops:
            continue
        for nxt in sorted(graph.edges.get(route[-1], {})):
            if nxt not in seen:
                seen.add(nxt)
                queue.append([*route, nxt])
    return None


def distance(graph: Graph, start: Iterable[Node], goal: Iterable[Node], max_hops: int) -> int | None:
    """Edges on the shortest path between the two sets, or None beyond ``max_hops``."""
    found = path(graph, start, goal, max_hops)
    return None if found is None else len(found) - 1


def describe(graph: Graph, route: list[Node], namespace: str = "") -> list[str]:
    """A path for people: ``Kind/name``, then ``-reason-> Kind/name`` per edge."""
    if not route:
        return []
    text = [node_text(route[0], namespace)]
    for before, after in itertools.pairwise(route):
        text.append(f"-{graph.edges.get(before, {}).get(after, 'related')}-> {node_text(after, namespace)}")
    return text


def around(graph: Graph, node: Node, max_hops: int) -> list[tuple[Node, list[Node]]]:
    """Every node within ``max_hops`` of ``node`` with the shortest path to it, nearest first (then by name)."""
    found: list[tuple[Node, list[Node]]] = []
    queue: deque[list[Node]] = deque([[node]])
    seen = {node}
    while queue:
        route = queue.popleft()
        if len(route) > 1:
            found.append((route[-1], route))
        if len(route) - 1 >= max_hops:
            continue
        for nxt in sorted(graph.edges.get(route[-1], {})):
            if nxt not in seen:
                seen.add(nxt)
                queue.append([*route, nxt])
    return found
