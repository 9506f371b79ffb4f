"""What one Gateway's nginx must do, as plain data: the planner (``plan.py``) builds it from the API
objects and the renderer (``render.py``) turns it into nginx configuration; neither touches a process."""

from __future__ import annotations

from dataclasses import dataclass, field

Server = tuple[str, int]  # host, port of one ready pod


@dataclass
class Backend:
    """One backendRef of a rule: its weight and either its pods or the status its share answers with
    (500 for an invalid reference, 503 for a Service without ready endpoints, as the spec asks)."""

    weight: int
    servers: list[Server] = field(default_factory=list)
    error: int | None = None


@dataclass
class Mirror:
    """A RequestMirror filter: a copy of ``percent`` % of the requests goes to ``servers``; its answer is dropped."""

    servers: list[Server]
    percent: float = 100.0


@dataclass
class Target:
    """What a matched rule does: forward by weight to ``backends`` (and mirror), or answer ``status``."""

    name: str
    backends: list[Backend] = field(default_factory=list)
    mirrors: list[Mirror] = field(default_factory=list)
    status: int | None = None


@dataclass
class Condition:
    """One test on a request besides its path: a header, the method or a query parameter."""

    source: str  # "header", "method" or "query"
    name: str
    kind: str  # "Exact" or "RegularExpression"
    value: str


@dataclass
class Match:
    """One HTTPRouteMatch of an accepted rule, with what decides its precedence among the others."""

    path_type: str  # "Exact" or "PathPrefix" (normalised: no trailing slash except "/")
    path: str
    conditions: list[Condition]
    target: str
    order: tuple[str, str, int, int]  # route creationTimestamp, namespace/name, rule index, match index

    @property
    def has_method(self) -> bool:
        return any(c.source == "method" for c in self.conditions)

    def precedence(self) -> tuple[object, ...]:
        """The Gateway API's tie-breaking order: exact path, longest prefix, method, most headers, most
        query parameters, oldest route, route name, rule order."""
        headers = sum(1 for c in self.conditions if c.source == "header")
        queries = sum(1 for c in self.conditions if c.source == "query")
        return (
            0 if self.path_type == "Exact" else 1,
            -len(self.path),
            0 if self.has_method else 1,
            -headers,
            -queries,
            *self.order,
        )


@dataclass
class Listener:
    """One HTTP listener: its local port and its routes' matches, by hostname (``""``: any host)."""

    name: str
    port: int
    hosts: dict[str, list[Match]] = field(default_factory=dict)


@dataclass
class GatewayPlan:
    listeners: list[Listener] = field(default_factory=list)
    targets: dict[str, Target] = field(default_factory=dict)
