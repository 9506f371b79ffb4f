"""/openapi/v3 and its per-group-version documents.

kubectl 1.32 decides from these whether the server validates fields itself: POST and PATCH
operations must carry `x-kubernetes-group-version-kind`, `x-kubernetes-action` and a
`fieldValidation` query parameter; then it sends `fieldValidation=Strict` and needs nothing else.
CRD schemas are published as components, the way kubectl explain finds them. The PATCH request
body never lists the strategic-merge content type: kubectl would then compute strategic patches from
these (schemaless for built-ins) documents; without it, kubectl uses its compiled-in types for
built-ins and a JSON merge patch for custom resources, as with a real server's CRDs."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .resources import Registry, ResourceInfo


def gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _params(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}} for n in names]


def _schema_name(info: ResourceInfo) -> str:
    group = ".".join(reversed(info.group.split("."))) if info.group else "io.k8s.api.core"
    return f"{group}.{info.version}.{info.kind}"


def _operation(info: ResourceInfo, action: str, op_id: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{_schema_name(info)}"}
    return {
        "operationId": f"{op_id}{info.kind}",
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": ref}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": info.group, "version": info.version, "kind": info.kind},
    }


def _paths(info: ResourceInfo) -> dict[str, Any]:
    prefix = "/" + gv_path(info.group, info.version)
    base = f"{prefix}/namespaces/{{namespace}}/{info.plural}" if info.namespaced else f"{prefix}/{info.plural}"
    write = _params("dryRun", "fieldManager", "fieldValidation", "pretty")
    patch = [*write, *_params("force")]
    patch_body = {
        "content": {
            t: {"schema": {"type": "object"}}
            for t in (
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
            )
        },
        "required": True,
    }
    list_params = _params("labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch")
    paths: dict[str, Any] = {
        base: {
            "get": _operation(info, "list", "list", list_params),
            "post": _operation(info, "post", "create", write),
            "delete": _operation(info, "deletecollection", "deleteCollection", list_params),
        },
        f"{base}/{{name}}": {
            "get": _operation(info, "get", "read", []),
            "put": _operation(info, "put", "replace", write),
            "patch": {**_operation(info, "patch", "patch", patch), "requestBody": patch_body},
            "delete": _operation(info, "delete", "delete", _params("dryRun", "propagationPolicy")),
        },
    }
    if info.status:
        paths[f"{base}/{{name}}/status"] = {
            "get": _operation(info, "get", "readStatus", []),
            "put": _operation(info, "put", "replaceStatus", write),
            "patch": {**_operation(info, "patch", "patchStatus", patch), "requestBody": patch_body},
        }
    return paths


def _component(info: ResourceInfo) -> dict[str, Any]:
    body = (
        copy.deepcopy(info.schema) if info.schema else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    )
    props = body.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    props["metadata"] = {"type": "object"}
    body["x-kubernetes-group-version-kind"] = [{"group": info.group, "version": info.version, "kind": info.kind}]
    return body


def gv_json(registry: Registry, group: str, version: str) -> str | None:
    """The group-version document as the server sends it (compact JSON), None if nothing is served there."""

    def build() -> str | None:
        doc = gv_document(registry, group, version)
        return None if doc is None else json.dumps(doc, separators=(",", ":"))

    return registry.derived(("openapi", group, version), build)


def root_json(registry: Registry) -> str:
    """The /openapi/v3 index as the server sends it."""
    return registry.derived(("openapi",), lambda: json.dumps(root_document(registry), separators=(",", ":")))


def gv_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    infos = registry.in_group_version(group, version)
    if not infos:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for info in infos:
        paths.update(_paths(info))
        schemas[_schema_name(info)] = _component(info)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _hash(document: str | None) -> str:
    return hashlib.sha512((document or "").encode()).hexdigest()[:64].upper()


def root_document(registry: Registry) -> dict[str, Any]:
    """Index of group-version documents; the hash changes whenever a document does (kubectl caches)."""
    paths = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            p = gv_path(group, version)
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={_hash(gv_json(registry, group, version))}"}
    return {"paths": paths}
