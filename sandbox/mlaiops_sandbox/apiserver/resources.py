"""Registry of served resources: built-in kinds plus whatever CRDs register at run time."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class ScaleSpec:
    """Where a kind keeps replicas; the same three paths a CRD's scale subresource declares."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = ".status.selector"


@dataclass
class Column:
    """A printer column for Table responses (name, type, simple JSONPath)."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""


@dataclass
class ResourceInfo:
    """Everything the server needs to know to serve one group/version/plural."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    verbs: list[str] = field(default_factory=lambda: list(ALL_VERBS))
    status: bool = False
    scale: ScaleSpec | None = None
    generation: bool = True
    builtin: bool = True
    schema: dict[str, Any] | None = None
    columns: list[Column] = field(default_factory=list)
    default_propagation: str = "Background"
    storage_version: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def gr(self) -> tuple[str, str]:
        """Objects are stored per group+plural, shared by all versions (no conversion)."""
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _r(group: str, version: str, kind: str, plural: str, namespaced: bool = True, **kw: Any) -> ResourceInfo:
    return ResourceInfo(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        **kw,
    )


def _c(name: str, path: str, type_: str = "string", priority: int = 0) -> Column:
    """Built-in integer columns print 0 rather than <none> when unset, like the real printers."""
    fmt = "zero" if type_ == "integer" else ""
    return Column(name=name, json_path=path, type=type_, priority=priority, format=fmt)


def _reviews() -> list[ResourceInfo]:
    """Create-only, never stored: the authentication and authorization reviews (reviews.py)."""
    kinds = [
        ("authentication.k8s.io", "SelfSubjectReview"),
        ("authentication.k8s.io", "TokenReview"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectRulesReview"),
        ("authorization.k8s.io", "SubjectAccessReview"),
    ]
    return [
        _r(group, "v1", kind, kind.lower() + "s", False, verbs=["create"], generation=False, storage_version=False)
        for group, kind in kinds
    ]


def builtin_resources() -> list[ResourceInfo]:
    """The built-in kinds of a plain cluster; stored without deep schema validation. Controllers act only on
    the kinds the runtime handles (docs/sandbox.md); the rest (Ingress, NetworkPolicy, StorageClass, ...)
    are stored and served, as on a cluster without the matching add-on."""
    replicas_cols = [
        _c("Ready", "@ready"),
        _c("Up-to-date", ".status.updatedReplicas", "integer"),
        _c("Available", ".status.availableReplicas", "integer"),
    ]
    return [
        _r(
            "",
            "v1",
            "Namespace",
            "namespaces",
            namespaced=False,
            short_names=["ns"],
            status=True,
            generation=False,
            verbs=["create", "delete", "get", "list", "patch", "update", "watch"],
            columns=[_c("Status", ".status.phase")],
        ),
        _r(
            "",
            "v1",
            "Pod",
            "pods",
            short_names=["po"],
            categories=["all"],
            status=True,
            generation=False,
            columns=[
                _c("Ready", "@podready"),
                _c("Status", ".status.phase"),
                _c("Node", ".spec.nodeName", priority=1),
            ],
        ),
        _r(
            "",
            "v1",
            "Service",
            "services",
            short_names=["svc"],
            categories=["all"],
            status=True,
            generation=False,
            columns=[_c("Type", ".spec.type"), _c("Cluster-IP", ".spec.clusterIP")],
        ),
        _r(
            "",
            "v1",
            "Event",
            "events",
            short_names=["ev"],
            generation=False,
            columns=[
                _c("Type", ".type"),
                _c("Reason", ".reason"),
                _c("Object", ".involvedObject.name"),
                _c("Message", ".message"),
            ],
        ),
        _r("", "v1", "ConfigMap", "configmaps", short_names=["cm"], generation=False),
        _r("", "v1", "Secret", "secrets", generation=False, columns=[_c("Type", ".type")]),
        _r("", "v1", "ServiceAccount", "serviceaccounts", short_names=["sa"], generation=False),
        _r(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            short_names=["pvc"],
            status=True,
            generation=False,
            columns=[_c("Status", ".status.phase")],
        ),
        _r("", "v1", "Endpoints", "endpoints", short_names=["ep"], generation=False),
        _r(
            "",
            "v1",
            "Node",
            "nodes",
            namespaced=False,
            short_names=["no"],
            status=True,
            generation=False,
            columns=[_c("Status", "@nodeready"), _c("Version", ".status.nodeInfo.kubeletVersion")],
        ),
        _r(
            "",
            "v1",
            "ReplicationController",
            "replicationcontrollers",
            short_names=["rc"],
            categories=["all"],
            status=True,
            scale=ScaleSpec(label_selector_path=None),
            columns=[
                _c("Desired", ".spec.replicas", "integer"),
                _c("Current", ".status.replicas", "integer"),
                _c("Ready", ".status.readyReplicas", "integer"),
            ],
        ),
        _r(
            "",
            "v1",
            "PersistentVolume",
            "persistentvolumes",
            namespaced=False,
            short_names=["pv"],
            status=True,
            generation=False,
            columns=[_c("Capacity", ".spec.capacity.storage"), _c("Status", ".status.phase")],
        ),
        _r(
            "apps",
            "v1",
            "Deployment",
            "deployments",
            short_names=["deploy"],
            categories=["all"],
            status=True,
            scale=ScaleSpec(),
            columns=replicas_cols,
        ),
        _r(
            "apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            short_names=["rs"],
            categories=["all"],
            status=True,
            scale=ScaleSpec(),
            columns=[_c("Desired", ".spec.replicas", "integer"), _c("Ready", ".status.readyReplicas", "integer")],
        ),
        _r(
            "apps",
            "v1",
            "StatefulSet",
            "statefulsets",
            short_names=["sts"],
            categories=["all"],
            status=True,
            scale=ScaleSpec(),
            columns=[_c("Ready", "@ready")],
        ),
        _r(
            "apps",
            "v1",
            "DaemonSet",
            "daemonsets",
            short_names=["ds"],
            categories=["all"],
            status=True,
            columns=[
                _c("Desired", ".status.desiredNumberScheduled", "integer"),
                _c("Current", ".status.currentNumberScheduled", "integer"),
                _c("Ready", ".status.numberReady", "integer"),
            ],
        ),
        _r("apps", "v1", "ControllerRevision", "controllerrevisions", generation=False),
        _r(
            "batch",
            "v1",
            "Job",
            "jobs",
            categories=["all"],
            status=True,
            default_propagation="Orphan",
            columns=[_c("Completions", ".status.succeeded", "integer")],
        ),
        _r(
            "batch",
            "v1",
            "CronJob",
            "cronjobs",
            short_names=["cj"],
            categories=["all"],
            status=True,
            columns=[_c("Schedule", ".spec.schedule"), _c("Suspend", ".spec.suspend")],
        ),
        _r(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            short_names=["hpa"],
            categories=["all"],
            status=True,
            columns=[
                _c("MinPods", ".spec.minReplicas", "integer"),
                _c("MaxPods", ".spec.maxReplicas", "integer"),
                _c("Replicas", ".status.currentReplicas", "integer"),
            ],
        ),
        _r(
            "events.k8s.io",
            "v1",
            "Event",
            "events",
            short_names=["ev"],
            generation=False,
            columns=[_c("Type", ".type"), _c("Reason", ".reason"), _c("Note", ".note")],
        ),
        _r(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            namespaced=False,
            short_names=["crd", "crds"],
            categories=["api-extensions"],
            status=True,
        ),
        _r("coordination.k8s.io", "v1", "Lease", "leases", generation=False),
        _r(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            columns=[_c("AddressType", ".addressType")],
        ),
        _r(
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
            short_names=["ing"],
            status=True,
            columns=[_c("Class", ".spec.ingressClassName")],
        ),
        _r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False, generation=False),
        _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=["netpol"]),
        _r(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            False,
            short_names=["sc"],
            generation=False,
            columns=[_c("Provisioner", ".provisioner")],
        ),
        _r(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            "priorityclasses",
            False,
            short_names=["pc"],
            generation=False,
            columns=[_c("Value", ".value", "integer")],
        ),
        _r(
            "node.k8s.io",
            "v1",
            "RuntimeClass",
            "runtimeclasses",
            False,
            generation=False,
            columns=[_c("Handler", ".handler")],
        ),
        _r(
            "apiregistration.k8s.io",
            "v1",
            "APIService",
            "apiservices",
            False,
            categories=["api-extensions"],
            status=True,
            generation=False,
            columns=[_c("Service", ".spec.service.name")],
        ),
        _r(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            short_names=["pdb"],
            status=True,
            columns=[
                _c("Min Available", ".spec.minAvailable"),
                _c("Max Unavailable", ".spec.maxUnavailable"),
                _c("Allowed Disruptions", ".status.disruptionsAllowed", "integer"),
            ],
        ),
        _r("rbac.authorization.k8s.io", "v1", "Role", "roles", generation=False),
        _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", generation=False),
        _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False, generation=False),
        _r(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            False,
            generation=False,
        ),
        _r(
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            False,
            categories=["api-extensions"],
        ),
        *_reviews(),
        _r(
            "admissionregistration.k8s.io",
            "v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            False,
            categories=["api-extensions"],
        ),
    ]


class Registry:
    """Resources by group/version/plural; CRDs add and remove entries while the server runs."""

    def __init__(self) -> None:
        self._by_gvp: dict[tuple[str, str, str], ResourceInfo] = {}
        self._derived: dict[Hashable, Any] = {}
        for info in builtin_resources():
            self.add(info)

    def add(self, info: ResourceInfo) -> None:
        self._by_gvp[(info.group, info.version, info.plural)] = info
        self._derived.clear()

    def remove_group_plural(self, group: str, plural: str) -> None:
        for key in [k for k in self._by_gvp if k[0] == group and k[2] == plural]:
            del self._by_gvp[key]
        self._derived.clear()

    def derived(self, key: Hashable, build: Callable[[], T]) -> T:
        """What ``build`` derives from the resources, kept until one is added or removed (a CRD's update
        replaces its entries). Why: kubectl fetches the OpenAPI documents on every apply and create, and
        building them each time (every schema of a group copied, serialised and hashed) was about 6% of an
        e2e test worker's CPU. The value is shared: callers must not change it."""
        if key not in self._derived:
            self._derived[key] = build()
        value: T = self._derived[key]
        return value

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_gvp.get((group, version, plural))

    def all(self) -> list[ResourceInfo]:
        return list(self._by_gvp.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Group -> served versions, in registration order (first = preferred)."""
        out: dict[str, list[str]] = {}
        for g, v, _ in self._by_gvp:
            versions = out.setdefault(g, [])
            if v not in versions:
                versions.append(v)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceInfo]:
        return [i for (g, v, _), i in self._by_gvp.items() if g == group and v == version]

    def by_group_plural(self, group: str, plural: str) -> list[ResourceInfo]:
        return [i for (g, _, p), i in self._by_gvp.items() if g == group and p == plural]
