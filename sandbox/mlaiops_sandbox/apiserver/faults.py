"""Fault injection and request audit for reliability and least-privilege tests."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from .errors import bad_request

VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"}


@dataclass
class FaultRule:
    """Fail (or slow down) a share of matching requests. `*` matches anything; `count` limits how
    many requests the rule affects (0 = unlimited).

    On watches, `statusCode: 410` answers like the watch cache for an expired resourceVersion (200,
    then one ERROR event with a 410 `Expired` Status) and `dropAfterSeconds` makes the server end the
    stream after that many seconds, as a restarting API server or a load balancer would. Both apply to
    watches opened after the rule is set: `POST /sandbox/watches/drop` ends the open ones."""

    verb: str = "*"
    resource: str = "*"
    group: str = "*"
    subresource: str = "*"
    namespace: str = "*"
    userAgent: str = "*"  # a substring of the User-Agent: aim at one client (kopf, kubectl, ...)
    errorRate: float = 1.0
    statusCode: int = 500
    latencySeconds: float = 0.0
    dropAfterSeconds: float = 0.0
    count: int = 0
    hits: int = 0

    def matches(self, rec: AuditRecord) -> bool:
        pairs = (
            (self.verb, rec.verb),
            (self.resource, rec.resource),
            (self.group, rec.group),
            (self.subresource, rec.subresource),
            (self.namespace, rec.namespace),
        )
        if self.dropAfterSeconds > 0 and rec.verb != "watch":
            return False  # dropping is about open streams only
        if self.userAgent != "*" and self.userAgent not in rec.userAgent:
            return False
        return all(want == "*" or want == have for want, have in pairs)


@dataclass
class AuditRecord:
    verb: str
    group: str
    version: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int = 0
    userAgent: str = ""
    client: str = ""
    user: str = ""  # the authenticated (or impersonated) user name


@dataclass
class Decision:
    latency: float = 0.0
    status: int | None = None
    expire: bool = False  # a watch: answer with an ERROR event carrying 410 Expired
    drop_after: float | None = None  # a watch: end the stream after this many seconds


@dataclass
class Faults:
    rules: list[FaultRule] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    audit: list[AuditRecord] = field(default_factory=list)
    audit_limit: int = 100000
    audit_dropped: int = 0  # records evicted by the bound: a reader of the audit must know it is incomplete
    audit_cleared: int = 0  # records removed on request (DELETE /sandbox/audit)

    def configure(self, payload: Any) -> dict[str, Any]:
        """POST body: `{"seed": 1, "rules": [...]}` replaces all rules; `{"rules": []}` clears."""
        if not isinstance(payload, dict):
            raise bad_request("fault configuration must be an object")
        if "seed" in payload:
            self.rng = random.Random(payload["seed"])
        rules = []
        for raw in payload.get("rules") or []:
            try:
                rule = FaultRule(**{k: v for k, v in raw.items() if k != "hits"})
            except TypeError as exc:
                raise bad_request(f"invalid fault rule: {exc}") from exc
            if rule.verb not in VERBS:
                raise bad_request(f"invalid verb {rule.verb!r}")
            if not 0.0 <= rule.errorRate <= 1.0 or rule.latencySeconds < 0 or rule.dropAfterSeconds < 0:
                raise bad_request("errorRate must be within [0, 1]; latencySeconds, dropAfterSeconds >= 0")
            rules.append(rule)
        self.rules = rules
        return self.describe()

    def describe(self) -> dict[str, Any]:
        return {"rules": [asdict(r) for r in self.rules]}

    def decide(self, rec: AuditRecord) -> Decision:
        decision = Decision()
        for rule in self.rules:
            if not rule.matches(rec) or (rule.count and rule.hits >= rule.count):
                continue
            if self.rng.random() >= rule.errorRate:
                continue
            rule.hits += 1
            decision.latency += rule.latencySeconds
            if rec.verb == "watch" and rule.dropAfterSeconds > 0:
                drop = rule.dropAfterSeconds
                decision.drop_after = drop if decision.drop_after is None else min(decision.drop_after, drop)
                continue
            if rec.verb == "watch" and rule.statusCode == 410:
                decision.expire = True
            elif rule.statusCode and decision.status is None and rule.statusCode >= 400:
                decision.status = rule.statusCode
        return decision

    def record(self, rec: AuditRecord) -> None:
        if len(self.audit) >= self.audit_limit:
            evicted = max(1, self.audit_limit // 10)
            del self.audit[:evicted]
            self.audit_dropped += evicted
        self.audit.append(rec)

    def clear_audit(self) -> None:
        self.audit_cleared += len(self.audit)
        self.audit.clear()


FAULT = web.RequestKey("fault", Decision)  # the decision for this request, read by serve_watch
