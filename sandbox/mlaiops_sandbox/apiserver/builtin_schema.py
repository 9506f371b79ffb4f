"""Unknown-field handling for built-in kinds, like the real server's strict decoding into Go types.

Uses the Kubernetes 1.32 JSON schemas that the optional `kubernetes-validate` package ships (a test
extra of this project). Without it, built-in objects are stored as sent and no unknown field is
reported; with it, unknown fields are pruned and reported under fieldValidation Warn/Strict."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

KUBERNETES_VERSION = "v1.32.0"
PACKAGES = {
    "": "io.k8s.api.core",
    "apps": "io.k8s.api.apps",
    "batch": "io.k8s.api.batch",
    "autoscaling": "io.k8s.api.autoscaling",
    "events.k8s.io": "io.k8s.api.events",
    "coordination.k8s.io": "io.k8s.api.coordination",
    "rbac.authorization.k8s.io": "io.k8s.api.rbac",
    "admissionregistration.k8s.io": "io.k8s.api.admissionregistration",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
    "discovery.k8s.io": "io.k8s.api.discovery",
    "networking.k8s.io": "io.k8s.api.networking",
    "storage.k8s.io": "io.k8s.api.storage",
    "scheduling.k8s.io": "io.k8s.api.scheduling",
    "node.k8s.io": "io.k8s.api.node",
    "policy": "io.k8s.api.policy",
    "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration",
}
Schema = dict[str, Any]


@functools.cache
def definitions() -> dict[str, Schema] | None:
    """All definitions of one Kubernetes version, or None when kubernetes-validate is absent."""
    try:
        import kubernetes_validate  # optional: a test extra
    except ImportError:
        return None
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = base / f"{KUBERNETES_VERSION}-local-strict" / "_definitions.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["$defs"]


def _resolve(defs: dict[str, Schema], schema: Schema) -> Schema:
    while "$ref" in schema:
        schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return schema


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _prune(defs: dict[str, Schema], value: Any, schema: Schema, path: str, out: list[str]) -> None:
    schema = _resolve(defs, schema)
    if isinstance(value, dict):
        props: dict[str, Schema] | None = schema.get("properties")
        addl = schema.get("additionalProperties")
        if props is None and not isinstance(addl, dict):
            return  # free-form (RawExtension, JSON): anything goes
        for key in list(value):
            if props is not None and key in props:
                _prune(defs, value[key], props[key], _join(path, key), out)
            elif isinstance(addl, dict):
                _prune(defs, value[key], addl, _join(path, key), out)
            elif addl is not True:
                del value[key]
                out.append(_join(path, key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _prune(defs, item, schema["items"], f"{path}[{i}]", out)


def prune_unknown(group: str, version: str, kind: str, obj: dict[str, Any]) -> list[str]:
    """Remove fields the built-in type does not have (in place); return their paths."""
    defs = definitions()
    package = PACKAGES.get(group)
    if defs is None or package is None:
        return []
    root = defs.get(f"{package}.{version}.{kind}")
    if root is None:
        return []
    removed: list[str] = []
    _prune(defs, obj, root, "", removed)
    return removed
