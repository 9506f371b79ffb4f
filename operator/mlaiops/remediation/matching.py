"""Which playbooks an anomaly or alert triggers: Alertmanager matchers, severities, label selectors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mlaiops.api.common import MATCHER_PATTERN, LabelSelector

SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}
_MATCHER = re.compile(MATCHER_PATTERN)


@dataclass(frozen=True)
class Matcher:
    """One Alertmanager matcher, parsed."""

    name: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        match = _MATCHER.match(text)
        if not match:
            raise ValueError(f"invalid matcher {text!r}: use label=value, label!=value, label=~regex or label!~regex")
        name = text.split(match.group(1), 1)[0].strip()
        value = match.group(2)
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        if match.group(1) in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"invalid regex in matcher {text!r}: {error}") from None
        return cls(name, match.group(1), value)  # type: ignore[arg-type]

    def matches(self, labels: dict[str, str]) -> bool:
        """Alertmanager semantics: a missing label is the empty string; regexes are anchored."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found


def matches_all(matchers: list[str] | None, labels: dict[str, str]) -> bool:
    return all(Matcher.parse(text).matches(labels) for text in matchers or [])


def severity_at_least(actual: str | None, minimum: str | None) -> bool:
    if minimum is None:
        return True
    return SEVERITY_ORDER.get(actual or "", -1) >= SEVERITY_ORDER[minimum]


def selector_matches(selector: LabelSelector | None, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics; a missing selector matches nothing, an empty one everything."""
    if selector is None:
        return False
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.match_expressions or []:
        present = requirement.key in labels
        actual = labels.get(requirement.key)
        values = requirement.values or []
        if requirement.operator == "In" and actual not in values:
            return False
        if requirement.operator == "NotIn" and present and actual in values:
            return False
        if requirement.operator == "Exists" and not present:
            return False
        if requirement.operator == "DoesNotExist" and present:
            return False
    return True
