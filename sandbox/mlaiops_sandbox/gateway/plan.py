"""From API objects to one Gateway's plan and the status the Gateway API asks for (pure: no I/O).

Attachment follows the spec: a route's parentRef names the Gateway (and optionally a listener by
``sectionName`` or ``port``); a listener takes it when its ``allowedRoutes`` admits the route's namespace
(``Same`` by default, ``All``, or a namespace ``Selector``) and kind, and when the hostnames intersect.
Backends are Services in the route's namespace, or in another one that a ReferenceGrant opens to
HTTPRoutes of the route's namespace; their pods come from the Service's Endpoints (ready addresses).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlaiops_sandbox.gateway.model import Backend, Condition, GatewayPlan, Listener, Match, Mirror, Server, Target

JSON = dict[str, Any]
GROUP = "gateway.networking.k8s.io"
CONTROLLER_NAME = "mlaiops.dev/sandbox-gateway"
NGINX_NAME = re.compile(r"[A-Za-z0-9_-]+")
ConditionTuple = tuple[str, str, str, str]  # type, status, reason, message


@dataclass
class RouteParentStatus:
    """Our verdict on one parentRef of a route: (type, status, reason, message) conditions."""

    parent_ref: JSON
    conditions: list[tuple[str, str, str, str]]


@dataclass
class ListenerStatus:
    name: str
    attached: int = 0
    conditions: list[tuple[str, str, str, str]] = field(default_factory=list)


@dataclass
class Cluster:
    """Read access to what the planner needs (the controller passes its informer caches)."""

    routes: list[JSON]
    service: Callable[[str, str], JSON | None]
    endpoints: Callable[[str, str], JSON | None]
    grants: Callable[[str], list[JSON]]  # ReferenceGrants of a namespace
    namespace_labels: Callable[[str], dict[str, str]]
    rejected: dict[str, str] = field(default_factory=dict)  # route key -> why nginx refused it


@dataclass
class Result:
    plan: GatewayPlan
    listeners: list[ListenerStatus]
    routes: dict[str, list[RouteParentStatus]]  # route key -> its parentRefs that name this Gateway
    accepted: bool
    accepted_reason: str
    accepted_message: str


def meta(obj: JSON) -> JSON:
    return obj.get("metadata") or {}


def key_of(obj: JSON) -> str:
    return f"{meta(obj).get('namespace') or ''}/{meta(obj).get('name')}"


# --- listeners ------------------------------------------------------------------------------------------


def listener_problem(listener: JSON) -> tuple[str, str, str] | None:
    """(condition type, reason, message) when the listener cannot be served; None when it can."""
    if listener.get("protocol") != "HTTP":
        return ("Accepted", "UnsupportedProtocol", f"protocol {listener.get('protocol')} is not supported: HTTP only")
    kinds = (listener.get("allowedRoutes") or {}).get("kinds")
    if kinds and not any((k.get("group", GROUP) or "") == GROUP and k.get("kind") == "HTTPRoute" for k in kinds):
        return ("ResolvedRefs", "InvalidRouteKinds", "allowedRoutes.kinds: only HTTPRoute is supported")
    return None


def _selector_matches(selector: JSON, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and present and labels.get(key) in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _namespace_allowed(listener: JSON, gateway_ns: str, route_ns: str, cluster: Cluster) -> bool:
    namespaces = (listener.get("allowedRoutes") or {}).get("namespaces") or {}
    origin = namespaces.get("from") or "Same"
    if origin == "All":
        return True
    if origin == "Selector":
        return _selector_matches(namespaces.get("selector") or {}, cluster.namespace_labels(route_ns))
    return route_ns == gateway_ns


def _host_matches(pattern: str, host: str) -> bool:
    """Gateway API hostname intersection: ``*.example.com`` matches one or more leading labels."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return pattern == host


def hostnames_for(listener: JSON, route: JSON) -> list[str] | None:
    """The hostnames the route serves on this listener (``[""]``: any); None when they do not intersect."""
    own = listener.get("hostname")
    wanted = list((route.get("spec") or {}).get("hostnames") or [])
    if not own:
        return wanted or [""]
    if not wanted:
        return [own]
    out: list[str] = []
    for host in wanted:
        if _host_matches(own, host) or host == own:
            out.append(host)
        elif _host_matches(host, own) or fnmatch.fnmatchcase(own, host):
            out.append(own)
    return sorted(set(out)) or None


# --- routes ---------------------------------------------------------------------------------------------


def refs_to(route: JSON, gateway: JSON) -> list[JSON]:
    """The route's parentRefs that name this Gateway."""
    route_ns = meta(route).get("namespace")
    out = []
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        if (ref.get("group", GROUP) or GROUP) != GROUP or (ref.get("kind") or "Gateway") != "Gateway":
            continue
        if ref.get("name") == meta(gateway).get("name") and (ref.get("namespace") or route_ns) == meta(gateway).get(
            "namespace"
        ):
            out.append(ref)
    return out


def unsupported(route: JSON) -> str | None:
    """Why the route uses something this data plane does not implement; None when it does not."""
    for r, rule in enumerate((route.get("spec") or {}).get("rules") or []):
        for m, match in enumerate(rule.get("matches") or []):
            path_type = (match.get("path") or {}).get("type") or "PathPrefix"
            if path_type not in ("Exact", "PathPrefix"):
                return f"spec.rules[{r}].matches[{m}].path.type: {path_type} is not supported (Exact, PathPrefix)"
            for part in ("headers", "queryParams"):
                for i, item in enumerate(match.get(part) or []):
                    if not NGINX_NAME.fullmatch(str(item.get("name") or "")):
                        return (
                            f"spec.rules[{r}].matches[{m}].{part}[{i}].name: {item.get('name')!r} is not supported"
                            " (letters, digits, '-' and '_' only: nginx reads it as a variable)"
                        )
        for f, item in enumerate(rule.get("filters") or []):
            if item.get("type") != "RequestMirror":
                return f"spec.rules[{r}].filters[{f}].type: {item.get('type')} is not supported (RequestMirror)"
        for b, ref in enumerate(rule.get("backendRefs") or []):
            if ref.get("filters"):
                return f"spec.rules[{r}].backendRefs[{b}].filters: backendRef filters are not supported"
    return None


def _grant_allows(cluster: Cluster, route_ns: str, target_ns: str, name: str) -> bool:
    for grant in cluster.grants(target_ns):
        spec = grant.get("spec") or {}
        sources = spec.get("from") or []
        targets = spec.get("to") or []
        source_ok = any(
            s.get("group") == GROUP and s.get("kind") == "HTTPRoute" and s.get("namespace") == route_ns for s in sources
        )
        target_ok = any(
            (t.get("group") or "") == "" and t.get("kind") == "Service" and (not t.get("name") or t.get("name") == name)
            for t in targets
        )
        if source_ok and target_ok:
            return True
    return False


def resolve(ref: JSON, route_ns: str, cluster: Cluster) -> tuple[list[Server], str | None, str]:
    """A backendRef's ready pods, or the ResolvedRefs reason and message that say why it has none.
    A Service without ready pods resolves (reason None) with no servers: its share answers 503."""
    group, kind = ref.get("group") or "", ref.get("kind") or "Service"
    name, namespace = ref.get("name") or "", ref.get("namespace") or route_ns
    if group != "" or kind != "Service":
        return [], "InvalidKind", f"backendRef {name}: kind {group or 'core'}/{kind} is not supported (Service)"
    if namespace != route_ns and not _grant_allows(cluster, route_ns, namespace, name):
        return [], "RefNotPermitted", f"backendRef {namespace}/{name}: no ReferenceGrant in {namespace} allows it"
    service = cluster.service(namespace, name)
    if service is None:
        return [], "BackendNotFound", f"backendRef {namespace}/{name}: Service not found"
    port = ref.get("port")
    ports = [p for p in (service.get("spec") or {}).get("ports") or [] if p.get("port") == port]
    if not ports:
        return [], "BackendNotFound", f"backendRef {namespace}/{name}: Service has no port {port}"
    port_name = ports[0].get("name") or ""
    endpoints = cluster.endpoints(namespace, name) or {}
    servers: list[Server] = []
    for subset in endpoints.get("subsets") or []:
        subset_ports = [p for p in subset.get("ports") or [] if (p.get("name") or "") == port_name]
        if not subset_ports:
            continue
        for address in subset.get("addresses") or []:
            servers.append((str(address.get("ip")), int(subset_ports[0]["port"])))
    return sorted(set(servers)), None, ""


def _percent(mirror: JSON) -> float:
    if mirror.get("percent") is not None:
        return float(mirror["percent"])
    fraction = mirror.get("fraction")
    if fraction:
        return 100.0 * float(fraction.get("numerator", 0)) / float(fraction.get("denominator") or 100)
    return 100.0


def _path(match: JSON) -> tuple[str, str]:
    path = match.get("path") or {}
    kind, value = path.get("type") or "PathPrefix", path.get("value") or "/"
    if kind == "PathPrefix" and value != "/":
        value = value.rstrip("/") or "/"
    return kind, value


def _conditions(match: JSON) -> list[Condition]:
    out = [
        Condition("header", h["name"], h.get("type") or "Exact", h.get("value", "")) for h in match.get("headers") or []
    ]
    out += [
        Condition("query", q["name"], q.get("type") or "Exact", q.get("value", ""))
        for q in match.get("queryParams") or []
    ]
    if match.get("method"):
        out.append(Condition("method", "method", "Exact", match["method"]))
    return out


def route_targets(
    route: JSON, cluster: Cluster, first_index: int
) -> tuple[list[tuple[Target, JSON]], list[tuple[str, str]]]:
    """One Target per rule (with the rule) and the ResolvedRefs problems (reason, message) found."""
    route_ns = meta(route).get("namespace") or ""
    problems: list[tuple[str, str]] = []
    out: list[tuple[Target, JSON]] = []
    for r, rule in enumerate((route.get("spec") or {}).get("rules") or []):
        target = Target(name=f"t{first_index + r}")
        for ref in rule.get("backendRefs") or []:
            servers, reason, message = resolve(ref, route_ns, cluster)
            weight = int(ref["weight"]) if ref.get("weight") is not None else 1
            if reason is not None:
                problems.append((reason, message))
                target.backends.append(Backend(weight=weight, error=500))
            else:
                target.backends.append(Backend(weight=weight, servers=servers))
        for item in rule.get("filters") or []:
            mirror = item.get("requestMirror") or {}
            servers, reason, message = resolve(mirror.get("backendRef") or {}, route_ns, cluster)
            if reason is not None:
                problems.append((reason, message))
            else:
                target.mirrors.append(Mirror(servers=servers, percent=_percent(mirror)))
        if not target.backends or all(b.weight == 0 for b in target.backends):
            target.status = 500
        out.append((target, rule))
    return out, problems


def plan(gateway: JSON, ports: dict[str, int], cluster: Cluster) -> Result:
    """Plan one Gateway: ``ports`` maps each HTTP listener's name to its local port."""
    gateway_ns = meta(gateway).get("namespace") or ""
    listeners = (gateway.get("spec") or {}).get("listeners") or []
    result = Result(GatewayPlan(), [], {}, True, "Accepted", "accepted by the sandbox's nginx data plane")
    statuses = {item["name"]: ListenerStatus(item["name"]) for item in listeners}
    served: dict[str, Listener] = {}
    for item in listeners:
        problem = listener_problem(item)
        status = statuses[item["name"]]
        if problem is None and item["name"] in ports:
            served[item["name"]] = Listener(item["name"], ports[item["name"]])
            result.plan.listeners.append(served[item["name"]])
        status.conditions = _listener_conditions(problem)
    if not served:
        result.accepted, result.accepted_reason = False, "ListenersNotValid"
        result.accepted_message = "no listener can be served (HTTP listeners only)"
    addresses = (gateway.get("spec") or {}).get("addresses") or []
    if any(a.get("value") not in (None, "127.0.0.1") for a in addresses):
        result.accepted, result.accepted_reason = False, "UnsupportedAddress"
        result.accepted_message = "spec.addresses: the sandbox's Gateways listen on 127.0.0.1 only"
        served.clear()
        result.plan.listeners.clear()
    routes = sorted(cluster.routes, key=lambda r: (meta(r).get("creationTimestamp") or "", key_of(r)))
    next_index = 0
    for route in routes:
        refs = refs_to(route, gateway)
        if not refs:
            continue
        key = key_of(route)
        route_ns = meta(route).get("namespace") or ""
        refusal = unsupported(route) or cluster.rejected.get(key)
        targets, ref_problems = route_targets(route, cluster, next_index)
        next_index += len(targets)
        resolved: ConditionTuple = (
            ("ResolvedRefs", "False", ref_problems[0][0], ref_problems[0][1])
            if ref_problems
            else ("ResolvedRefs", "True", "ResolvedRefs", "all references resolved")
        )
        parents: list[RouteParentStatus] = []
        for ref in refs:
            attached: list[tuple[Listener, list[str]]] = []
            reason, message = (
                "NoMatchingParent",
                f"no listener of Gateway {gateway_ns}/{meta(gateway).get('name')} matches",
            )
            for item in listeners:
                if ref.get("sectionName") and ref["sectionName"] != item["name"]:
                    continue
                if ref.get("port") and ref["port"] != item.get("port"):
                    continue
                if item["name"] not in served:
                    continue
                kinds = (item.get("allowedRoutes") or {}).get("kinds")
                if not _namespace_allowed(item, gateway_ns, route_ns, cluster) or (
                    kinds and not any(k.get("kind") == "HTTPRoute" for k in kinds)
                ):
                    reason, message = "NotAllowedByListeners", f"listener {item['name']} does not allow this route"
                    continue
                hosts = hostnames_for(item, route)
                if hosts is None:
                    reason, message = (
                        "NoMatchingListenerHostname",
                        f"no hostname in common with listener {item['name']}",
                    )
                    continue
                attached.append((served[item["name"]], hosts))
            accepted: ConditionTuple
            if refusal is not None:
                accepted = ("Accepted", "False", "UnsupportedValue", refusal)
            elif attached:
                accepted = ("Accepted", "True", "Accepted", "accepted")
            else:
                accepted = ("Accepted", "False", reason, message)
            parents.append(RouteParentStatus(ref, [accepted, resolved]))
            if refusal is not None or not attached:
                continue
            for listener, hosts in attached:
                statuses[listener.name].attached += 1
                _add_matches(listener, hosts, route, targets, result.plan)
        result.routes[key] = parents
    result.listeners = [statuses[item["name"]] for item in listeners]
    return result


def _add_matches(
    listener: Listener, hosts: list[str], route: JSON, targets: list[tuple[Target, JSON]], plan_: GatewayPlan
) -> None:
    created = meta(route).get("creationTimestamp") or ""
    for r, (target, rule) in enumerate(targets):
        plan_.targets[target.name] = target
        for m, match in enumerate(rule.get("matches") or [{}]):
            kind, path = _path(match)
            item = Match(kind, path, _conditions(match), target.name, (created, key_of(route), r, m))
            for host in hosts:
                listener.hosts.setdefault(host, []).append(item)


def _listener_conditions(problem: tuple[str, str, str] | None) -> list[tuple[str, str, str, str]]:
    if problem is None:
        return [
            ("Accepted", "True", "Accepted", "listener accepted"),
            ("Programmed", "True", "Programmed", "listener served by nginx"),
            ("ResolvedRefs", "True", "ResolvedRefs", "route kinds resolved"),
            ("Conflicted", "False", "NoConflicts", "no conflicts"),
        ]
    kind, reason, message = problem
    accepted = (
        ("Accepted", "False", reason, message) if kind == "Accepted" else ("Accepted", "True", "Accepted", "accepted")
    )
    resolved = (
        ("ResolvedRefs", "False", reason, message)
        if kind == "ResolvedRefs"
        else ("ResolvedRefs", "True", "ResolvedRefs", "route kinds resolved")
    )
    return [
        accepted,
        ("Programmed", "False", "Invalid", message),
        resolved,
        ("Conflicted", "False", "NoConflicts", "no conflicts"),
    ]
