"""Fault injection and request audit for reliability and least-privilege tests."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import bad_request

VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"}


@dataclass
class FaultRule:
    """Fail (or slow down) a share of matching requests. `*` matches anything; `count` limits how
    many requests the rule affects (0 = unlimited)."""

    verb: str = "*"
    resource: str = "*"
    group: str = "*"
    subresource: str = "*"
    namespace: str = "*"
    errorRate: float = 1.0
    statusCode: int = 500
    latencySeconds: float = 0.0
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


@dataclass
class Decision:
    latency: float = 0.0
    status: int | None = None


@dataclass
class Faults:
    rules: list[FaultRule] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    audit: list[AuditRecord] = field(default_factory=list)
    audit_limit: int = 100000

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
            if rule.statusCode and decision.status is None and rule.statusCode >= 400:
                decision.status = rule.statusCode
        return decision

    def record(self, rec: AuditRecord) -> None:
        if len(self.audit) >= self.audit_limit:
            del self.audit[: self.audit_limit // 10]
        self.audit.append(rec)
