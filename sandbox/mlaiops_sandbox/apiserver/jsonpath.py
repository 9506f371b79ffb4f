"""The small JSONPath subset printer columns and scale paths use: `.a.b`, `[0]`, `[?(@.k=="v")]`."""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"\.([A-Za-z0-9_$-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]|\[\*\]")


def _tokens(path: str) -> list[tuple[str, Any]]:
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path.startswith("$"):
        path = path[1:]
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            raise ValueError(f"unsupported JSONPath {path!r}")
        if m.group(1) is not None:
            out.append(("key", m.group(1)))
        elif m.group(2) is not None:
            out.append(("index", int(m.group(2))))
        elif m.group(3) is not None:
            out.append(("filter", (m.group(3), m.group(4))))
        else:
            out.append(("all", None))
        pos = m.end()
    return out


def _dig(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def find(obj: Any, path: str) -> list[Any]:
    """All values the path selects (filters and `[*]` may select several)."""
    current = [obj]
    for kind, arg in _tokens(path):
        nxt: list[Any] = []
        for value in current:
            if (kind == "key" and isinstance(value, dict) and arg in value) or (
                kind == "index" and isinstance(value, list) and arg < len(value)
            ):
                nxt.append(value[arg])
            elif kind == "filter" and isinstance(value, list):
                key, expected = arg
                nxt.extend(v for v in value if isinstance(v, dict) and str(_dig(v, key)) == expected)
            elif kind == "all" and isinstance(value, list):
                nxt.extend(value)
        current = nxt
    return current


def get(obj: Any, path: str, default: Any = None) -> Any:
    found = find(obj, path)
    return found[0] if found else default


def set_value(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set a plain dotted path, creating maps on the way (used for scale's specReplicasPath)."""
    keys = [arg for kind, arg in _tokens(path) if kind == "key"]
    cur = obj
    for key in keys[:-1]:
        if not isinstance(cur.get(key), dict):
            cur[key] = {}
        cur = cur[key]
    cur[keys[-1]] = value
