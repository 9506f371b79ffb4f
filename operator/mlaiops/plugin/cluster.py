"""The connection to the cluster, resolved like kubectl: --kubeconfig, else KUBECONFIG, else ~/.kube/config;
--context, else the current context; -n, else the context's namespace, else ``default``."""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION, GROUP, VERSION
from mlaiops.kube import Kube

JSON = dict[str, Any]
WORKLOAD_KINDS = (
    ("apps/v1", "Deployment"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
)


class PluginError(Exception):
    """Something the user must fix; the message says what. The CLI prints it and exits 1."""


@dataclass
class Connection:
    """API access plus the namespace scope the command works in (None: all namespaces)."""

    api: client.ApiClient
    namespace: str | None

    @property
    def kube(self) -> Kube:
        """The operator's small REST layer over the same client (get/list/patch by apiVersion and kind)."""
        return Kube(self.api)

    def list(self, kind: str) -> list[JSON]:
        """Objects of one mlaiops kind in scope, each with apiVersion and kind set."""
        try:
            items = self.kube.list(API_VERSION, kind, self.namespace)
        except ApiException as error:
            if error.status == 404:
                raise PluginError(
                    f"this cluster does not serve {kind} ({API_VERSION}): install the mlaiops CRDs first"
                ) from None
            raise
        for item in items:
            item.setdefault("apiVersion", API_VERSION)
            item.setdefault("kind", kind)
        return items

    def workloads(self) -> builtins.list[JSON]:
        """Deployments, Pods, Services and HPAs in scope, for the topology (a kind the user may not list is left out)."""
        found: builtins.list[JSON] = []
        for api_version, kind in WORKLOAD_KINDS:
            try:
                items = self.kube.list(api_version, kind, self.namespace)
            except ApiException as error:
                if error.status in (403, 404):
                    continue
                raise
            found += [{**item, "apiVersion": api_version, "kind": kind} for item in items]
        return found

    def get(self, kind: str, name: str) -> JSON:
        obj = self.kube.get(API_VERSION, kind, self.namespace_or_default, name)
        if obj is None:
            raise PluginError(f"{kind} {name!r} not found in namespace {self.namespace_or_default!r}")
        obj.setdefault("kind", kind)
        return obj

    def annotate(self, kind: str, name: str, annotations: dict[str, str]) -> JSON:
        """Merge-patch annotations onto an object (404 becomes a PluginError)."""
        try:
            return self.kube.patch(
                API_VERSION, kind, self.namespace_or_default, name, {"metadata": {"annotations": annotations}}
            )
        except ApiException as error:
            if error.status == 404:
                raise PluginError(f"{kind} {name!r} not found in namespace {self.namespace_or_default!r}") from None
            raise

    @property
    def namespace_or_default(self) -> str:
        return self.namespace or "default"

    def events(self, namespace: str) -> builtins.list[JSON]:  # ``list`` is a method of this class
        """Core Events of a namespace as plain camelCase dicts."""
        items = client.CoreV1Api(self.api).list_namespaced_event(namespace).items
        return [self.api.sanitize_for_serialization(item) for item in items]

    def served_kinds(self) -> set[str]:
        """Plurals the cluster serves in the mlaiops group (to find optional kinds like incidents)."""
        try:
            resources = client.CustomObjectsApi(self.api).get_api_resources(GROUP, VERSION)
        except ApiException as error:
            if error.status == 404:
                return set()
            raise
        return {resource.name for resource in resources.resources}


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    all_namespaces: bool = False,
) -> Connection:
    """A Connection as kubectl would make it from the same flags and environment."""
    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or None  # read now, not at import (several paths ok)
    context = context or first_current_context(kubeconfig)
    try:
        api = config.new_client_from_config(config_file=kubeconfig, context=context)
    except (config.ConfigException, OSError) as error:
        raise PluginError(f"cannot load kubeconfig: {error}") from None
    if all_namespaces:
        return Connection(api, None)
    if namespace is None:
        namespace = context_namespace(kubeconfig, context)
    return Connection(api, namespace)


def first_current_context(kubeconfig: str | None) -> str | None:
    """kubectl's rule for several kubeconfig files: the first file that sets current-context wins.

    (The Python client lets the last one win, so the context is resolved here and passed explicitly.)
    """
    if not kubeconfig or os.pathsep not in kubeconfig:
        return None
    for path in kubeconfig.split(os.pathsep):
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as file:
                current = (yaml.safe_load(file) or {}).get("current-context")
        except (OSError, yaml.YAMLError):
            continue
        if current:
            return str(current)
    return None


def context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The namespace set on the context, else ``default``."""
    try:
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except (config.ConfigException, OSError):
        return "default"
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
    return ((chosen or {}).get("context") or {}).get("namespace") or "default"
