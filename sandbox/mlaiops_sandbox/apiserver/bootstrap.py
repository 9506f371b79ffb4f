"""Objects every real cluster has before anyone writes to it, made by its built-in controllers.

- kube-apiserver's RBAC bootstrap policy stores the user-facing ClusterRoles ``cluster-admin``, ``admin``,
  ``edit`` and ``view`` and binds ``cluster-admin`` to the group ``system:masters``. Upstream ``admin``,
  ``edit`` and ``view`` are aggregated (the ClusterRole aggregation controller fills their rules from the
  ``system:aggregate-to-*`` roles); the sandbox has no aggregation, so they are stored with the rules that
  aggregation yields on a plain 1.32 cluster (and their ``aggregationRule``, which nothing acts on).
- kube-controller-manager's ServiceAccount controller makes a ``default`` ServiceAccount in every namespace,
  its root-CA publisher a ``kube-root-ca.crt`` ConfigMap holding the cluster CA.
- kube-apiserver itself keeps the ``kubernetes`` Service (and its Endpoints) in ``default`` and the two
  system PriorityClasses.

None of these grant anything to a ServiceAccount: only ``system:masters`` is bound.
"""

from __future__ import annotations

from typing import Any

RBAC = "rbac.authorization.k8s.io"
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
ROOT_CA = "kube-root-ca.crt"
DEFAULT_ACCOUNT = "default"


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


VIEW_RULES = [
    _rule(
        [""],
        [
            "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
            "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status",
        ],
        READ,
    ),
    _rule(
        [""],
        [
            "bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
            "replicationcontrollers/status", "resourcequotas", "resourcequotas/status",
        ],
        READ,
    ),
    _rule([""], ["namespaces"], READ),
    _rule(["discovery.k8s.io"], ["endpointslices"], READ),
    _rule(
        ["apps"],
        [
            "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
            "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
            "statefulsets/scale", "statefulsets/status",
        ],
        READ,
    ),
    _rule(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ),
    _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
    _rule(
        ["extensions"],
        [
            "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
            "ingresses", "ingresses/status", "networkpolicies", "replicasets", "replicasets/scale",
            "replicasets/status", "replicationcontrollers/scale",
        ],
        READ,
    ),
    _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
    _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], READ),
]  # fmt: skip

EDIT_RULES = [
    _rule([""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"], READ),
    _rule([""], ["serviceaccounts"], ["impersonate"]),
    _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], WRITE),
    _rule([""], ["pods/eviction"], ["create"]),
    _rule(
        [""],
        [
            "configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
            "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy",
        ],
        WRITE,
    ),
    _rule([""], ["serviceaccounts/token"], ["create"]),
    _rule(
        ["apps"],
        [
            "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
            "replicasets/scale", "statefulsets", "statefulsets/scale",
        ],
        WRITE,
    ),
    _rule(["autoscaling"], ["horizontalpodautoscalers"], WRITE),
    _rule(["batch"], ["cronjobs", "jobs"], WRITE),
    _rule(
        ["extensions"],
        [
            "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "ingresses",
            "networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale",
        ],
        WRITE,
    ),
    _rule(["policy"], ["poddisruptionbudgets"], WRITE),
    _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], WRITE),
    _rule(["coordination.k8s.io"], ["leases"], ALL),
    *VIEW_RULES,
]  # fmt: skip

ADMIN_RULES = [
    _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    _rule([RBAC], ["rolebindings", "roles"], ALL),
    *EDIT_RULES,
]

CLUSTER_ADMIN_RULES = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
]


def _meta(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **(labels or {})},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    }


def _aggregated(name: str, rules: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    selector = {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{name}": "true"}}
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": _meta(name, labels),
        "aggregationRule": {"clusterRoleSelectors": [selector]},
        "rules": rules,
    }


def cluster_roles() -> list[dict[str, Any]]:
    """The four user-facing ClusterRoles of the bootstrap policy."""
    return [
        {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": _meta("cluster-admin"), "rules": CLUSTER_ADMIN_RULES},
        _aggregated("admin", ADMIN_RULES, {}),
        _aggregated("edit", EDIT_RULES, {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}),
        _aggregated("view", VIEW_RULES, {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
    ]  # fmt: skip


def cluster_role_bindings() -> list[dict[str, Any]]:
    """``cluster-admin`` for ``system:masters`` (who the authorizer already allows everything)."""
    return [
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta("cluster-admin"),
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": "system:masters"}],
        }
    ]


def priority_classes() -> list[dict[str, Any]]:
    """The scheduling bootstrap: the two system PriorityClasses every cluster has."""
    return [
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "globalDefault": False,
            "preemptionPolicy": "PreemptLowerPriority",
            "description": description,
        }
        for name, value, description in (
            ("system-cluster-critical", 2000000000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
            ("system-node-critical", 2000001000, "Used for system critical pods that must not be moved from their current node."),
        )
    ]  # fmt: skip


def default_service_account(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT_ACCOUNT, "namespace": namespace}}


def root_ca_config_map(namespace: str, ca_pem: str) -> dict[str, Any]:
    """What the root-CA publisher writes: the CA clients in pods use to trust the API server."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ROOT_CA,
            "namespace": namespace,
            "annotations": {"kubernetes.io/description": _CA_DESCRIPTION},
        },
        "data": {"ca.crt": ca_pem},
    }


_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)


def kubernetes_service(secure_port: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``kubernetes`` Service (first IP of the service range, port 443) and its Endpoints (the server)."""
    labels = {"component": "apiserver", "provider": "kubernetes"}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.1",
            "clusterIPs": ["10.96.0.1"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": secure_port}],
        },
    }
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [
            {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": secure_port, "protocol": "TCP"}]}
        ],
    }  # fmt: skip
    return service, endpoints
