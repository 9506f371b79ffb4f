"""Helpers for the API server tests: raw HTTP, watch streams, polling with a deadline."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml
from mlaiops_sandbox.testing.wait import wait_for

DATA = Path(__file__).parent / "data"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def load(name: str) -> Any:
    docs = [d for d in yaml.safe_load_all((DATA / name).read_text()) if d]
    return docs[0] if len(docs) == 1 else docs


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def poll(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> Any:
    """The harness's poll loop; an exception from ``check`` fails at once."""
    return wait_for(check, timeout, interval, what or repr(check), ignore=())


class Http:
    """Raw HTTP against the server, for what the typed client hides (status codes, headers, bodies)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def req(self, method: str, path: str, body: Any = None, ctype: str = "application/json", **kw: Any):
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        headers = {"Content-Type": ctype, **kw.pop("headers", {})}
        return self.session.request(method, self.base + path, data=data, headers=headers, timeout=10, **kw)

    def get(self, path: str, **kw: Any):
        return self.req("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any):
        return self.req("POST", path, body, **kw)

    def put(self, path: str, body: Any, **kw: Any):
        return self.req("PUT", path, body, **kw)

    def patch(self, path: str, body: Any, ctype: str = MERGE, **kw: Any):
        return self.req("PATCH", path, body, ctype=ctype, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any):
        return self.req("DELETE", path, body, **kw)

    def watch(self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        """Open a watch; when this returns, the server has registered the watcher."""
        params = {"watch": "true", **(params or {})}
        return WatchStream(
            self.session.get(self.base + path, params=params, stream=True, timeout=(5, 5), headers=headers)
        )


class WatchStream:
    """Read newline-delimited watch events with a deadline."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()

    def next(self) -> dict[str, Any] | None:
        try:
            for line in self.lines:
                if line:
                    return json.loads(line)
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError):
            return None
        return None

    def collect(self, until: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self.next()
            if event is None:
                break
            events.append(event)
            if until(events):
                return events
        raise AssertionError(f"watch condition not met; got {[(e['type'], _name(e)) for e in events]}")

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _name(event: dict[str, Any]) -> str:
    return (event.get("object") or {}).get("metadata", {}).get("name", "")


def names(events: list[dict[str, Any]], type_: str | None = None) -> list[str]:
    return [_name(e) for e in events if type_ is None or e["type"] == type_]


def crd_body(
    group: str, plural: str, kind: str, scope: str = "Namespaced", schema: dict[str, Any] | None = None, **version: Any
) -> dict[str, Any]:
    """A one-version (v1, served and stored) CustomResourceDefinition; ``version`` adds to that version
    (e.g. ``subresources``), ``schema`` is its openAPIV3Schema (any object by default)."""
    body = schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    served = {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": body}, **version}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": scope, "names": {"plural": plural, "kind": kind}, "versions": [served]},
    }


def widget(name: str, **spec: Any) -> dict[str, Any]:
    """A valid Widget (the test CRD's kind) with extra spec fields."""
    return {
        "apiVersion": "test.sandbox.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"image": "img:1", **spec},
    }


def wpath(namespace: str, name: str = "", sub: str = "") -> str:
    path = f"/apis/test.sandbox.dev/v1/namespaces/{namespace}/widgets"
    return path + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")
