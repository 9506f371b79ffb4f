"""Object lifecycle semantics shared by all verbs: create, update, patch, delete, status and scale.

This is the generic registry of the real API server in miniature: metadata rules, generation,
resourceVersion preconditions, status subresource separation, finalizers and deletion."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from . import bootstrap, builtin_schema, celrules, crds, jsonpath, patch, schema
from .errors import ApiError, already_exists, bad_request, conflict, invalid, not_found, success_status
from .resources import Registry, ResourceInfo
from .selectors import object_matcher
from .store import GR, Store

NAMESPACES: GR = ("", "namespaces")
CRDS: GR = ("apiextensions.k8s.io", "customresourcedefinitions")
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIXES = random.Random()
"""generateName's suffixes come from a generator of the server's own, as the real server's do: the global
one belongs to the process, and in a test process Hypothesis checks that nothing draws from it while it
draws an example (a background controller's Pod name did, and Hypothesis warned of `random` in a strategy)."""
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Kinds whose DELETE answers with the deleted object rather than a Status (as the real registry does).
RETURNS_DELETED_OBJECT = {("", "pods"), ("", "services"), ("", "namespaces"), ("", "persistentvolumeclaims")}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WriteOptions:
    """Query parameters every write accepts."""

    field_validation: str = "Warn"  # the real server's default when the client sends none
    dry_run: bool = False
    field_manager: str | None = None
    force: bool = False
    patching: bool = False
    operation: str = "Update"  # recorded in managedFields: Apply for server-side apply


@dataclass
class Result:
    code: int
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def _strip_for_compare(obj: dict[str, Any], drop_status: bool) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k != "metadata" and not (drop_status and k == "status")}
    return out


class Cluster:
    """The registry of resources and the store, with the semantics of every write."""

    def __init__(self, history_size: int = 10000, root_ca: str = "") -> None:
        self.registry = Registry()
        self.store = Store(history_size=history_size)
        self._ip_counter = 10
        self.root_ca = root_ca  # published in every namespace's kube-root-ca.crt (bootstrap.py)
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.ensure("", "namespaces", None, {"metadata": {"name": name}})
        for role in bootstrap.cluster_roles():
            self.ensure(bootstrap.RBAC, "clusterroles", None, role)
        for binding in bootstrap.cluster_role_bindings():
            self.ensure(bootstrap.RBAC, "clusterrolebindings", None, binding)
        for priority in bootstrap.priority_classes():
            self.ensure("scheduling.k8s.io", "priorityclasses", None, priority)

    def ensure(self, group: str, plural: str, namespace: str | None, body: dict[str, Any]) -> None:
        """Create ``body`` unless an object of that name exists (what the built-in controllers do)."""
        info = next(iter(self.registry.by_group_plural(group, plural)))
        if self.store.get(info.gr, namespace or "", body["metadata"]["name"]) is None:
            self.create(info, namespace, body, WriteOptions())

    def _namespace_defaults(self, namespace: str) -> None:
        """The ServiceAccount controller's ``default`` account and the root-CA publisher's ConfigMap."""
        self.ensure("", "serviceaccounts", namespace, bootstrap.default_service_account(namespace))
        self.ensure("", "configmaps", namespace, bootstrap.root_ca_config_map(namespace, self.root_ca))

    # --- lookup --------------------------------------------------------------------------------

    def info(self, group: str, version: str, plural: str) -> ResourceInfo:
        info = self.registry.get(group, version, plural)
        if info is None:
            raise ApiError(404, "the server could not find the requested resource", details={})
        return info

    def get(self, info: ResourceInfo, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self.store.get(info.gr, namespace or "", name)
        if obj is None:
            raise not_found(info.plural, info.group, name)
        return obj

    def list(
        self,
        info: ResourceInfo,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """A `<Kind>List`; `continue` is an opaque token holding the last key returned."""
        matcher = object_matcher(label_selector, field_selector)
        items = [o for o in self.store.list(info.gr, namespace) if matcher(o)]
        if continue_token:
            try:
                start = json.loads(base64.urlsafe_b64decode(continue_token.encode()))["start"]
            except (ValueError, KeyError) as exc:
                raise bad_request("continue key is not valid: invalid token") from exc
            items = [o for o in items if [_ns(o), o["metadata"]["name"]] > start]
        meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        if limit and len(items) > limit:
            last = items[limit - 1]
            token = {"rv": self.store.rv, "start": [_ns(last), last["metadata"]["name"]]}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {"kind": info.list_kind, "apiVersion": info.api_version, "metadata": meta, "items": items}

    # --- create --------------------------------------------------------------------------------

    def create(self, info: ResourceInfo, namespace: str | None, body: Any, opts: WriteOptions) -> Result:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        obj = copy.deepcopy(body)
        self._check_kind(info, obj)
        obj["apiVersion"], obj["kind"] = info.api_version, info.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if info.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            namespace = namespace or meta.get("namespace")
            if not namespace:
                raise bad_request("the namespace of the object must be set")
            self._require_namespace(namespace)
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        if not meta.get("name"):
            if meta.get("generateName"):
                suffix = "".join(_SUFFIXES.choice(_SUFFIX_ALPHABET) for _ in range(5))
                meta["name"] = meta["generateName"] + suffix
            else:
                raise invalid(
                    info.kind,
                    info.group,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: name or generateName is required",
                            "field": "metadata.name",
                        }
                    ],
                )
        self._check_name(info, meta["name"])
        for key in ("uid", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        if info.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if info.status:
            obj.pop("status", None)
        warnings = self._kind_specific_create(info, obj)
        warnings += self._schema(info, obj, None, opts)
        if self.store.get(info.gr, namespace or "", meta["name"]) is not None:
            raise already_exists(info.plural, info.group, meta["name"])
        if opts.field_manager:
            meta["managedFields"] = [_managed(opts.field_manager, opts.operation, info)]
        if not opts.dry_run:
            self.store.commit(info.gr, obj, "ADDED")
            if info.gr == CRDS:
                self.register_crd(obj)
            if info.gr == NAMESPACES:
                self._namespace_defaults(meta["name"])
        return Result(201, obj, warnings)

    def _kind_specific_create(self, info: ResourceInfo, obj: dict[str, Any]) -> list[str]:
        meta = obj["metadata"]
        if info.gr == NAMESPACES:
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        elif info.gr == ("", "secrets"):
            obj.setdefault("type", "Opaque")  # SetDefaults_Secret
        elif info.gr == ("", "pods"):
            obj["status"] = {"phase": "Pending"}
        elif info.gr == ("", "services"):
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            if spec.get("clusterIP") is None and spec["type"] != "ExternalName":
                self._ip_counter += 1
                spec["clusterIP"] = f"10.96.{self._ip_counter // 250}.{self._ip_counter % 250 + 1}"
                spec["clusterIPs"] = [spec["clusterIP"]]
            obj["status"] = {"loadBalancer": {}}
        elif info.gr == CRDS:
            crds.default_crd(obj)
            causes = crds.validate_crd(obj)
            if causes:
                raise invalid(info.kind, info.group, meta["name"], causes)
            finalizers = meta.setdefault("finalizers", [])
            if crds.CLEANUP_FINALIZER not in finalizers:
                finalizers.append(crds.CLEANUP_FINALIZER)
            obj["status"] = crds.crd_status(obj)
        return []

    # --- update / patch ------------------------------------------------------------------------

    def update(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        body: Any,
        opts: WriteOptions,
        subresource: str | None = None,
    ) -> Result:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON object")
        old = self.get(info, namespace, name)
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        self._check_kind(info, body)
        return self._update(info, old, copy.deepcopy(body), opts, subresource)

    def patch(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        content_type: str,
        raw: bytes,
        opts: WriteOptions,
        subresource: str | None = None,
    ) -> Result:
        if content_type not in patch.PATCH_TYPES or (content_type == patch.STRATEGIC and not info.builtin):
            accepted = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
            if info.builtin:
                accepted += ", application/strategic-merge-patch+json"
            raise ApiError(
                415,
                f"the body of the request was in an unknown format - accepted media types include: {accepted}",
            )
        try:
            doc = patch.load_yaml(raw) if content_type == patch.APPLY else json.loads(raw or b"null")
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"error decoding patch: {exc}") from exc
        old = self.store.get(info.gr, namespace or "", name)
        if content_type == patch.APPLY:
            if not opts.field_manager:
                raise bad_request("PATCH request for server-side apply must have fieldManager")
            if not isinstance(doc, dict):
                raise bad_request("apply patch must be an object")
            if old is None:
                if subresource:
                    raise not_found(info.plural, info.group, name)
                doc.setdefault("metadata", {})["name"] = name
                return self.create(info, namespace, doc, dataclasses.replace(opts, operation="Apply"))
        if old is None:
            raise not_found(info.plural, info.group, name)
        if content_type == patch.JSON_PATCH:
            patched = patch.json_patch(old, doc)
        elif content_type == patch.MERGE:
            patched = patch.merge_patch(old, doc)
        elif content_type == patch.STRATEGIC:
            patched = patch.strategic_merge(old, doc)
        else:
            merge = patch.strategic_merge if info.builtin else patch.merge_patch
            patched = merge(old, doc)
            managers = [
                m
                for m in (patched.get("metadata") or {}).get("managedFields") or []
                if m.get("manager") != opts.field_manager
            ]
            patched.setdefault("metadata", {})["managedFields"] = [
                *managers,
                _managed(opts.field_manager or "", "Apply", info),
            ]
        if not isinstance(patched, dict):
            raise bad_request("the patch result is not an object")
        return self._update(info, old, patched, dataclasses.replace(opts, patching=True), subresource)

    def _update(
        self,
        info: ResourceInfo,
        old: dict[str, Any],
        new: dict[str, Any],
        opts: WriteOptions,
        subresource: str | None,
    ) -> Result:
        """Apply the update rules to `new` (a full object the client wants) and commit."""
        old_meta = old["metadata"]
        new_meta = new.get("metadata") if isinstance(new.get("metadata"), dict) else {}
        name = old_meta["name"]
        rv = new_meta.get("resourceVersion")
        if rv and rv != old_meta["resourceVersion"]:
            raise conflict(
                info.plural,
                info.group,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        if subresource == "status":
            result = copy.deepcopy(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        else:
            result = new
            result["metadata"] = meta = dict(new_meta)
            for key in (
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
            ):
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            if info.status:
                if "status" in old:
                    result["status"] = copy.deepcopy(old["status"])
                else:
                    result.pop("status", None)
        result["apiVersion"], result["kind"] = old["apiVersion"], old["kind"]
        meta = result["metadata"]
        warnings = self._schema(info, result, old, opts)
        if info.gr == CRDS and subresource != "status":
            crds.default_crd(result)
            causes = crds.validate_crd(result)
            if causes:
                raise invalid(info.kind, info.group, name, causes)
            result["status"] = crds.crd_status(result, terminating=bool(meta.get("deletionTimestamp")))
        if old_meta.get("deletionTimestamp"):
            added = [f for f in meta.get("finalizers") or [] if f not in (old_meta.get("finalizers") or [])]
            if added:
                raise invalid(
                    info.kind,
                    info.group,
                    name,
                    [
                        {
                            "reason": "FieldValueForbidden",
                            "message": "Forbidden: no new finalizers can be added if the object is being "
                            f"deleted, found new finalizers {json.dumps(added)}",
                            "field": "metadata.finalizers",
                        }
                    ],
                )
        if info.generation and "generation" in old_meta:
            drop_status = info.status
            if _strip_for_compare(result, drop_status) != _strip_for_compare(old, drop_status):
                meta["generation"] = old_meta["generation"] + 1
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        if result == old:
            return Result(200, old, warnings)  # no-op: the real server writes nothing, no new version
        if opts.dry_run:
            return Result(200, result, warnings)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and info.gr != NAMESPACES:
            self._remove(info.gr, result)
            return Result(200, result, warnings)
        self.store.commit(info.gr, result, "MODIFIED", old)
        if info.gr == CRDS:
            self.register_crd(result)
        return Result(200, result, warnings)

    def _schema(
        self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None, opts: WriteOptions
    ) -> list[str]:
        """Prune, default and validate a custom resource against its CRD's openAPIV3Schema;
        for built-ins only drop (and report) fields their type does not have."""
        if info.builtin:
            unknown = builtin_schema.prune_unknown(info.group, info.version, info.kind, obj)
        elif info.schema is None:
            return []
        else:
            unknown = schema.prune(obj, info.schema)
        warnings: list[str] = []
        if unknown and opts.field_validation == "Strict":
            listed = ", ".join(f'unknown field "{u}"' for u in unknown)
            # Create and update fail while decoding the body, which the real server words as below;
            # patches fail after applying the patch, with the bare strict decoding error.
            prefix = (
                ""
                if old is not None and opts.patching
                else (f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: ')
            )
            raise bad_request(f"{prefix}strict decoding error: {listed}")
        if unknown and opts.field_validation == "Warn":
            warnings = [f'unknown field "{u}"' for u in unknown]
        if info.builtin or info.schema is None:
            return warnings
        schema.apply_defaults(obj, info.schema)
        causes = schema.validate(obj, info.schema)
        if celrules.has_rules(info.schema):  # x-kubernetes-validations, as the real server runs them
            if any(cause["reason"] in celrules.BLOCKING for cause in causes):
                causes.append(celrules.NOT_CHECKED)
            else:
                failed, ratcheted = celrules.validate(obj, info.schema, old)
                causes += failed
                warnings += ratcheted
        if causes:
            raise invalid(info.kind, info.group, obj["metadata"].get("name", ""), causes)
        return warnings

    # --- delete --------------------------------------------------------------------------------

    def delete(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        options: dict[str, Any],
        dry_run: bool = False,
    ) -> Result:
        obj = self.get(info, namespace, name)
        pre = options.get("preconditions") or {}
        meta = obj["metadata"]
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise conflict(
                info.plural,
                info.group,
                name,
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise conflict(
                info.plural,
                info.group,
                name,
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {meta['resourceVersion']}",
            )
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        policy = policy or info.default_propagation
        if policy not in ("Background", "Foreground", "Orphan"):
            raise bad_request(f"unsupported propagationPolicy {policy!r}")
        if dry_run:
            return Result(200, obj)
        return self.delete_object(info.gr, obj, policy)

    def delete_object(self, gr: GR, obj: dict[str, Any], policy: str = "Background") -> Result:
        """Delete now, or mark for deletion when finalizers (or namespace contents) remain."""
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return Result(200, obj)
        if policy == "Orphan":
            self._orphan_dependents(meta["uid"])
        new = copy.deepcopy(obj)
        new_meta = new["metadata"]
        if policy == "Foreground":
            new_meta["finalizers"] = [*(new_meta.get("finalizers") or []), FOREGROUND]
        if gr == NAMESPACES:
            new_meta["deletionTimestamp"] = now_iso()
            new_meta["deletionGracePeriodSeconds"] = 0
            new["status"] = {**(new.get("status") or {}), "phase": "Terminating"}
            self.store.commit(gr, new, "MODIFIED", obj)
            return Result(200, new)
        if new_meta.get("finalizers"):
            new_meta["deletionTimestamp"] = now_iso()
            new_meta["deletionGracePeriodSeconds"] = 0
            if new_meta.get("generation"):
                new_meta["generation"] += 1
            if gr == CRDS:
                new["status"] = crds.crd_status(new, terminating=True)
            self.store.commit(gr, new, "MODIFIED", obj)
            return Result(200, new)
        self._remove(gr, new)
        self._restore_default(gr, new_meta)
        if gr in RETURNS_DELETED_OBJECT or not self._is_builtin(gr):
            return Result(200, new)
        return Result(
            200,
            success_status({"name": new_meta["name"], "group": gr[0], "kind": gr[1], "uid": new_meta["uid"]}),
        )

    def _restore_default(self, gr: GR, meta: dict[str, Any]) -> None:
        """The controllers put back a deleted ``default`` ServiceAccount or root-CA ConfigMap at once,
        unless the namespace is going away."""
        default = (gr, meta["name"]) in (
            (("", "serviceaccounts"), bootstrap.DEFAULT_ACCOUNT),
            (("", "configmaps"), bootstrap.ROOT_CA),
        )
        ns = self.store.get(NAMESPACES, "", meta.get("namespace", "")) if default else None
        if ns is not None and not ns["metadata"].get("deletionTimestamp"):
            self._namespace_defaults(meta["namespace"])

    def _is_builtin(self, gr: GR) -> bool:
        infos = self.registry.by_group_plural(*gr)
        return bool(infos) and infos[0].builtin

    def _remove(self, gr: GR, obj: dict[str, Any]) -> None:
        self.store.commit(gr, obj, "DELETED")
        if gr == CRDS:
            self.unregister_crd(obj)

    def _orphan_dependents(self, owner_uid: str) -> None:
        for gr, dep in self.store.all_objects():
            refs = dep["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == owner_uid for r in refs):
                new = copy.deepcopy(dep)
                kept = [r for r in refs if r.get("uid") != owner_uid]
                if kept:
                    new["metadata"]["ownerReferences"] = kept
                else:
                    new["metadata"].pop("ownerReferences", None)
                self.store.commit(gr, new, "MODIFIED", dep)

    def delete_collection(
        self,
        info: ResourceInfo,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        options: dict[str, Any],
        dry_run: bool = False,
    ) -> Result:
        matcher = object_matcher(label_selector, field_selector)
        deleted = []
        for obj in self.store.list(info.gr, namespace):
            if matcher(obj):
                result = self.delete(info, _ns(obj) or None, obj["metadata"]["name"], options, dry_run)
                deleted.append(result.body if result.body.get("kind") != "Status" else obj)
        return Result(
            200,
            {
                "kind": info.list_kind,
                "apiVersion": info.api_version,
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": deleted,
            },
        )

    # --- scale ---------------------------------------------------------------------------------

    def get_scale(self, info: ResourceInfo, namespace: str | None, name: str) -> dict[str, Any]:
        if info.scale is None:
            raise ApiError(404, "the server could not find the requested resource", details={})
        obj = self.get(info, namespace, name)
        return self._to_scale(info, obj)

    def _to_scale(self, info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        assert info.scale is not None
        meta = obj["metadata"]
        status: dict[str, Any] = {"replicas": jsonpath.get(obj, info.scale.status_replicas_path, 0) or 0}
        if info.builtin:
            labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            if labels:
                status["selector"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        elif info.scale.label_selector_path:
            selector = jsonpath.get(obj, info.scale.label_selector_path)
            if selector:
                status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
            },
            "spec": {"replicas": jsonpath.get(obj, info.scale.spec_replicas_path, 0) or 0},
            "status": status,
        }

    def update_scale(
        self, info: ResourceInfo, namespace: str | None, name: str, scale: Any, opts: WriteOptions
    ) -> Result:
        if info.scale is None:
            raise ApiError(404, "the server could not find the requested resource", details={})
        old = self.get(info, namespace, name)
        if not isinstance(scale, dict):
            raise bad_request("the body of the request must be a Scale")
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise bad_request("Scale.spec.replicas must be an integer")
        if info.builtin and replicas < 0:
            raise invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "message": f"Invalid value: {replicas}: must be greater than or equal to 0",
                        "field": "spec.replicas",
                    }
                ],
            )
        new = copy.deepcopy(old)
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        new["metadata"]["resourceVersion"] = rv or old["metadata"]["resourceVersion"]
        jsonpath.set_value(new, info.scale.spec_replicas_path, replicas)
        result = self._update(info, old, new, opts, None)
        return Result(200, self._to_scale(info, result.body), result.warnings)

    def patch_scale(
        self,
        info: ResourceInfo,
        namespace: str | None,
        name: str,
        content_type: str,
        raw: bytes,
        opts: WriteOptions,
    ) -> Result:
        current = self.get_scale(info, namespace, name)
        doc = json.loads(raw or b"null")
        if content_type == patch.JSON_PATCH:
            patched = patch.json_patch(current, doc)
        elif content_type in (patch.MERGE, patch.STRATEGIC):
            patched = patch.merge_patch(current, doc)
        else:
            raise ApiError(415, f"the body of the request was in an unknown format: {content_type}")
        return self.update_scale(info, namespace, name, patched, opts)

    # --- CRDs ----------------------------------------------------------------------------------

    def register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        self.registry.remove_group_plural(spec["group"], spec["names"]["plural"])
        for info in crds.resources_for(crd):
            self.registry.add(info)

    def unregister_crd(self, crd: dict[str, Any]) -> None:
        gr = (crd["spec"]["group"], crd["spec"]["names"]["plural"])
        self.registry.remove_group_plural(*gr)
        self.store.drop_resource(gr)

    # --- helpers -------------------------------------------------------------------------------

    def _check_kind(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        kind = obj.get("kind")
        if kind and kind != info.kind:
            raise bad_request(f"the kind of the object ({kind}) does not match the expected kind ({info.kind})")

    def _require_namespace(self, namespace: str) -> None:
        ns = self.store.get(NAMESPACES, "", namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f"unable to create new content in namespace {namespace} because it is being terminated",
                reason="Forbidden",
                details={"name": namespace, "kind": "namespaces"},
            )

    def _check_name(self, info: ResourceInfo, name: str) -> None:
        label = info.gr == NAMESPACES
        pattern = _DNS1123_LABEL if label else _DNS1123_SUBDOMAIN
        limit = 63 if label else 253
        if pattern.match(name) and len(name) <= limit:
            return
        what = "RFC 1123 label" if label else "RFC 1123 subdomain"
        raise invalid(
            info.kind,
            info.group,
            name,
            [
                {
                    "reason": "FieldValueInvalid",
                    "message": f'Invalid value: "{name}": a lowercase {what} must consist of lower case '
                    "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                    "field": "metadata.name",
                }
            ],
        )


def _ns(obj: dict[str, Any]) -> str:
    return obj["metadata"].get("namespace") or ""


def _managed(manager: str, operation: str, info: ResourceInfo) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": info.api_version,
        "time": now_iso(),
        "fieldsType": "FieldsV1",
        "fieldsV1": {},
    }
