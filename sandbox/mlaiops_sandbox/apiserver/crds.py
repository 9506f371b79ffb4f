"""CustomResourceDefinitions: validating them, defaulting them, and turning them into served resources."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from . import celrules
from .resources import Column, ResourceInfo, ScaleSpec

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_crd(crd: dict[str, Any]) -> None:
    """The defaults apiextensions fills in (singular, listKind, conversion, served/storage flags)."""
    spec = crd.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", f"{names['kind']}List")
    spec.setdefault("conversion", {"strategy": "None"})
    for version in spec.get("versions") or []:
        version.setdefault("served", True)
        version.setdefault("storage", False)


def validate_crd(crd: dict[str, Any]) -> list[dict[str, Any]]:
    """The subset of CRD validation that catches real mistakes in our manifests."""
    causes: list[dict[str, Any]] = []
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group")

    def req(field: str) -> None:
        causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": field})

    if not group:
        req("spec.group")
    if not names.get("plural"):
        req("spec.names.plural")
    if not names.get("kind"):
        req("spec.names.kind")
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            {
                "reason": "FieldValueNotSupported",
                "message": f'Unsupported value: "{spec.get("scope", "")}": supported values: "Cluster", "Namespaced"',
                "field": "spec.scope",
            }
        )
    versions = spec.get("versions") or []
    if not versions:
        req("spec.versions")
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": 'Invalid value: "array": must have exactly one version marked as storage version',
                "field": "spec.versions",
            }
        )
    expected = f"{names.get('plural')}.{group}"
    name = (crd.get("metadata") or {}).get("name")
    if group and names.get("plural") and name != expected:
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                "field": "metadata.name",
            }
        )
    causes += celrules.crd_problems(crd)  # a rule that does not compile is refused with the CRD
    return causes


def crd_status(crd: dict[str, Any], terminating: bool = False) -> dict[str, Any]:
    """What the apiextensions controllers write soon after a CRD is stored; done synchronously here."""
    spec = crd["spec"]
    old = {c.get("type"): c for c in (crd.get("status") or {}).get("conditions") or []}

    def cond(type_: str, status: str, reason: str, message: str) -> dict[str, Any]:
        prev = old.get(type_)
        when = prev["lastTransitionTime"] if prev and prev.get("status") == status else now_iso()
        return {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": when,
        }

    conditions = [
        cond("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
        cond("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
    ]
    if terminating:
        conditions.append(
            cond("Terminating", "True", "InstanceDeletionInProgress", "CustomResource deletion is in progress")
        )
    stored = list((crd.get("status") or {}).get("storedVersions") or [])
    for version in spec.get("versions") or []:
        if version.get("storage") and version["name"] not in stored:
            stored.append(version["name"])
    return {"acceptedNames": copy.deepcopy(spec["names"]), "conditions": conditions, "storedVersions": stored}


def resources_for(crd: dict[str, Any]) -> list[ResourceInfo]:
    """One ResourceInfo per served version, storage version first (preferred in discovery)."""
    spec = crd["spec"]
    names = spec["names"]
    infos: list[ResourceInfo] = []
    versions = sorted(spec.get("versions") or [], key=lambda v: not v.get("storage"))
    for version in versions:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        scale = None
        if "scale" in subresources:
            s = subresources["scale"] or {}
            scale = ScaleSpec(
                spec_replicas_path=s.get("specReplicasPath", ".spec.replicas"),
                status_replicas_path=s.get("statusReplicasPath", ".status.replicas"),
                label_selector_path=s.get("labelSelectorPath"),
            )
        columns = [
            Column(
                name=c["name"],
                json_path=c["jsonPath"],
                type=c.get("type", "string"),
                description=c.get("description", ""),
                priority=c.get("priority", 0),
                format=c.get("format", ""),
            )
            for c in version.get("additionalPrinterColumns") or []
        ]
        infos.append(
            ResourceInfo(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(),
                namespaced=spec.get("scope") == "Namespaced",
                short_names=list(names.get("shortNames") or []),
                categories=list(names.get("categories") or []),
                status="status" in subresources,
                scale=scale,
                generation=True,
                builtin=False,
                schema=((version.get("schema") or {}).get("openAPIV3Schema")),
                columns=columns,
                storage_version=bool(version.get("storage")),
            )
        )
    return infos
