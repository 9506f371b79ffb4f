"""Label and field selectors in their query-string syntax, as list and watch accept them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import bad_request

Matcher = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_CMP_RE = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside `in (a,b)` parentheses."""
    terms, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        terms.append("".join(cur))
    return [t for t in terms if t.strip()]


def parse_label_selector(text: str | None) -> Matcher:
    """`=`, `==`, `!=`, `in`, `notin`, `key` (exists), `!key` (does not exist), ANDed by commas."""
    if not text:
        return lambda _labels: True
    checks: list[Matcher] = []
    for term in _split_terms(text):
        if m := _SET_RE.match(term):
            _neg, key, op, vals = m.groups()
            values = {v.strip() for v in vals.split(",") if v.strip()}
            if op == "in":
                checks.append(lambda lb, k=key, vs=values: lb.get(k) in vs)
            else:
                checks.append(lambda lb, k=key, vs=values: lb.get(k) not in vs)
        elif m := _CMP_RE.match(term):
            key, op, val = m.groups()
            if op == "!=":
                checks.append(lambda lb, k=key, v=val: lb.get(k) != v)
            else:
                checks.append(lambda lb, k=key, v=val: lb.get(k) == v)
        elif m := _EXISTS_RE.match(term):
            neg, key = m.groups()
            if neg:
                checks.append(lambda lb, k=key: k not in lb)
            else:
                checks.append(lambda lb, k=key: k in lb)
        else:
            raise bad_request(f'unable to parse requirement: invalid label selector "{text}"')
    return lambda labels: all(c(labels) for c in checks)


def _field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


SUPPORTED_FIELDS = {
    "metadata.name",
    "metadata.namespace",
    "status.phase",
    "spec.nodeName",
    "involvedObject.name",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.uid",
    "type",
    "reason",
    "regarding.name",
}


def parse_field_selector(text: str | None) -> Matcher:
    """`field=value`, `field==value`, `field!=value`; the real server supports only a per-kind set."""
    if not text:
        return lambda _obj: True
    checks: list[Matcher] = []
    for term in _split_terms(text):
        m = re.match(r"^\s*([A-Za-z0-9._-]+)\s*(==|!=|=)\s*(.*?)\s*$", term)
        if not m:
            raise bad_request(f'invalid field selector: "{text}"')
        path, op, val = m.groups()
        if path not in SUPPORTED_FIELDS:
            raise bad_request(f"field label not supported: {path}")
        if op == "!=":
            checks.append(lambda o, p=path, v=val: _field_value(o, p) != v)
        else:
            checks.append(lambda o, p=path, v=val: _field_value(o, p) == v)
    return lambda obj: all(c(obj) for c in checks)


def object_matcher(label_selector: str | None, field_selector: str | None) -> Matcher:
    """One predicate over a whole object combining both selectors."""
    labels = parse_label_selector(label_selector)
    fields = parse_field_selector(field_selector)
    return lambda obj: labels((obj.get("metadata") or {}).get("labels") or {}) and fields(obj)
