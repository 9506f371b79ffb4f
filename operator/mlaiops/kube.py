"""A small, uniform REST layer over the kubernetes client for the objects the controllers own.

The typed client has one API class per group and one method per verb and kind; the
controllers only need get/list/create/patch/delete of a handful of kinds, so they go through
``ApiClient.call_api`` with paths built here. Applying a child is level-triggered: create it
when missing, patch it only when the desired fields differ from what the server has.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION
from mlaiops.api import KINDS

JSON = dict[str, Any]


# Reads and merge patches are idempotent: a transient server error (5xx, 429) is retried at once a
# couple of times instead of failing the whole reconcile pass, which with ten requests a pass and a
# flaky API server would make progress rare. Creates and deletes are left to the next pass.
RETRIED_METHODS = ("GET", "PATCH")
RETRIES = 2
RETRY_DELAY = 0.2
# (connect, read) seconds for one request: a server that never answers fails the pass (kopf retries it)
# instead of holding a handler thread, and with it every later pass of that object, forever.
REQUEST_TIMEOUT = (10.0, 60.0)


def _transient(error: ApiException) -> bool:
    return error.status is not None and (error.status >= 500 or error.status == 429)


class Unknown:
    """Marks "not looked up yet", as opposed to None for "known not to exist"."""


UNKNOWN = Unknown()

PLURALS: dict[tuple[str, str], str] = {
    ("apps/v1", "Deployment"): "deployments",
    ("apps/v1", "StatefulSet"): "statefulsets",
    ("v1", "Service"): "services",
    ("v1", "Pod"): "pods",
    ("v1", "Secret"): "secrets",
    ("v1", "Event"): "events",
    ("v1", "ConfigMap"): "configmaps",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "subjectaccessreviews",
    ("batch/v1", "Job"): "jobs",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "horizontalpodautoscalers",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproutes",
    ("gateway.networking.k8s.io/v1", "Gateway"): "gateways",
    ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"): "referencegrants",
    **{(API_VERSION, info.kind): info.plural for info in KINDS},
}


def load_api_client() -> client.ApiClient:
    """In-cluster configuration when running in a pod, else the kubeconfig (as kubectl does)."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def owner_reference(owner: JSON) -> JSON:
    """An ownerReference that makes ``owner`` the controller of a child (garbage collected with it)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_subset(desired: Any, actual: Any) -> bool:
    """Whether every field we set is already present with our value (the server may add defaults)."""
    if isinstance(desired, dict):
        return isinstance(actual, dict) and all(
            key in actual and is_subset(value, actual[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(desired) == len(actual)
            and all(is_subset(d, a) for d, a in zip(desired, actual, strict=True))
        )
    if isinstance(desired, (int, float)) and isinstance(actual, (int, float)) and not isinstance(desired, bool):
        return desired == actual
    return desired == actual or (isinstance(desired, int) and str(desired) == actual)


@dataclass
class Kube:
    """get/list/create/patch/delete by apiVersion and kind."""

    api: client.ApiClient

    def path(
        self, api_version: str, kind: str, namespace: str | None, name: str | None = None, sub: str | None = None
    ) -> str:
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        path = prefix + (f"/namespaces/{namespace}" if namespace else "") + f"/{PLURALS[(api_version, kind)]}"
        if name:
            path += f"/{name}"
        if sub:
            path += f"/{sub}"
        return path

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> JSON:
        attempt = 0
        while True:
            request = self.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
            )
            try:
                response = self.api.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
                response.read()
                # Deserialised as "object": the parsed JSON body (the client's stubs say str).
                return cast(JSON, self.api.response_deserialize(response, {"2XX": "object"}).data)
            except ApiException as error:
                attempt += 1
                if method not in RETRIED_METHODS or not _transient(error) or attempt > RETRIES:
                    raise
                time.sleep(RETRY_DELAY * attempt)

    def get(self, api_version: str, kind: str, namespace: str | None, name: str, sub: str | None = None) -> JSON | None:
        try:
            return self._call("GET", self.path(api_version, kind, namespace, name, sub))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def list(
        self, api_version: str, kind: str, namespace: str | None, selector: str | None = None, fields: str | None = None
    ) -> list[JSON]:
        query = [(key, value) for key, value in (("labelSelector", selector), ("fieldSelector", fields)) if value]
        items: list[JSON] = self._call("GET", self.path(api_version, kind, namespace), query=query).get("items", [])
        return items

    def find(self, api_version: str, kind: str, namespace: str | None, name: str) -> JSON | None:
        """One object by a list with a name field selector: the read of a client that keeps a watch
        cache of the kind, whose role grants list and watch but not get."""
        items = self.list(api_version, kind, namespace, fields=f"metadata.name={name}")
        return items[0] if items else None

    def create(self, obj: JSON) -> JSON:
        meta = obj["metadata"]
        return self._call("POST", self.path(obj["apiVersion"], obj["kind"], meta.get("namespace")), body=obj)

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        body: Any,
        sub: str | None = None,
        content_type: str = "application/merge-patch+json",
    ) -> JSON:
        return self._call(
            "PATCH", self.path(api_version, kind, namespace, name, sub), body=body, content_type=content_type
        )

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Delete with background propagation; False when it was already gone."""
        try:
            self._call(
                "DELETE",
                self.path(api_version, kind, namespace, name),
                body={"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"},
            )
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def apply(
        self, obj: JSON, owner: JSON | None = None, current: JSON | Unknown | None = UNKNOWN
    ) -> tuple[JSON, bool]:
        """Create ``obj`` or bring the server's copy up to it; returns the object and whether anything changed.

        ``current`` is the caller's cached copy (None: known missing); without it the server is asked.
        A create that meets an object the cache did not have yet (409) reads it back the way the caller
        reads that kind: by a field-selected list for a cached kind (list and watch are what its role
        grants), by name otherwise.
        """
        if owner is not None:
            obj["metadata"]["ownerReferences"] = [owner_reference(owner)]
        meta = obj["metadata"]
        read = self.get if isinstance(current, Unknown) else self.find
        if isinstance(current, Unknown):
            current = self.get(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        if current is None:
            try:
                return self.create(obj), True
            except ApiException as error:
                if error.status != 409:
                    raise
                current = read(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
                if current is None:  # a conflict, yet nothing there (deleted meanwhile): the caller retries
                    raise
        desired = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "status")}
        if is_subset(desired, current):
            return current, False
        patched = self.patch(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"], desired)
        return patched, True
