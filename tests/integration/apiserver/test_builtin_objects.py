"""What a fresh cluster holds and serves before anyone writes to it: the built-in kinds of a plain cluster,
the objects the built-in controllers create, the bootstrap ClusterRoles, and the real error body."""

from __future__ import annotations

import json

import kubernetes
import pytest
from apiserver_support import Http, poll, unique
from mlaiops_sandbox.apiserver import ApiServerThread

# (group, version, plural, kind, namespaced, a minimal valid object's body without metadata)
STORED_KINDS = [
    ("", "v1", "replicationcontrollers", "ReplicationController", True, {"spec": {"replicas": 0}}),
    ("", "v1", "persistentvolumes", "PersistentVolume", False, {"spec": {"capacity": {"storage": "1Gi"}}}),
    ("", "v1", "nodes", "Node", False, {"spec": {}}),
    ("apps", "v1", "daemonsets", "DaemonSet", True, {"spec": {"selector": {"matchLabels": {"a": "b"}}}}),
    ("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True, {"addressType": "IPv4", "endpoints": []}),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", True, {"spec": {}}),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, {"spec": {"podSelector": {}}}),
    ("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, {"provisioner": "example.com/x"}),
    ("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, {"value": 1000}),
    ("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass", False, {"handler": "runc"}),
    ("apiregistration.k8s.io", "v1", "apiservices", "APIService", False, {"spec": {"group": "x.example.com"}}),
]


def _base(group: str, version: str) -> str:
    return f"/api/{version}" if not group else f"/apis/{group}/{version}"


@pytest.mark.parametrize("group,version,plural,kind,namespaced,body", STORED_KINDS, ids=[k[2] for k in STORED_KINDS])
def test_kinds_of_a_plain_cluster_are_discovered_and_stored(
    http: Http, namespace: str, group: str, version: str, plural: str, kind: str, namespaced: bool, body: dict
) -> None:
    """kube-apiserver serves every built-in kind of its groups (ReplicationControllers, DaemonSets,
    EndpointSlices, Ingresses, NetworkPolicies, PersistentVolumes, StorageClasses, PriorityClasses,
    RuntimeClasses, APIServices, Nodes) whether or not a controller acts on them: listed in discovery
    with their scope, and created, read, listed and deleted like any object."""
    resources = http.get(_base(group, version)).json()["resources"]
    entry = next(r for r in resources if r["name"] == plural)
    assert entry["kind"] == kind and entry["namespaced"] is namespaced
    name = unique(plural[:6])
    collection = _base(group, version) + (f"/namespaces/{namespace}/{plural}" if namespaced else f"/{plural}")
    api_version = f"{group}/{version}" if group else version
    created = http.post(collection, {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **body})
    assert created.status_code == 201, created.text
    got = http.get(f"{collection}/{name}").json()
    assert (got["kind"], got["metadata"]["name"]) == (kind, name)
    assert name in [o["metadata"]["name"] for o in http.get(collection).json()["items"]]
    assert http.delete(f"{collection}/{name}").status_code == 200
    assert http.get(f"{collection}/{name}").status_code == 404


def test_every_namespace_gets_a_default_service_account_and_the_root_ca(
    apiserver: ApiServerThread, http: Http, namespace: str
) -> None:
    """kube-controller-manager's ServiceAccount controller creates ``default`` in every namespace and
    puts it back when it is deleted; its root-CA publisher writes ConfigMap ``kube-root-ca.crt`` with
    ``ca.crt``, the CA that signs the API server's serving certificate."""
    assert apiserver.server is not None
    account = http.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
    assert account.status_code == 200, account.text
    root_ca = http.get(f"/api/v1/namespaces/{namespace}/configmaps/kube-root-ca.crt").json()
    assert root_ca["data"]["ca.crt"] == apiserver.server.certificate.ca_pem.decode()
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert http.get(f"/api/v1/namespaces/{ns}/serviceaccounts/default").status_code == 200

    uid = account.json()["metadata"]["uid"]
    assert http.delete(f"/api/v1/namespaces/{namespace}/serviceaccounts/default").status_code == 200
    again = http.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default").json()
    assert again["metadata"]["uid"] != uid


def test_default_namespace_holds_the_kubernetes_service(apiserver: ApiServerThread, http: Http) -> None:
    """kube-apiserver keeps Service ``kubernetes`` in ``default`` (port 443, named https, the first IP of
    the service range, no selector) and its Endpoints pointing at the server's own secure port."""
    assert apiserver.server is not None
    service = http.get("/api/v1/namespaces/default/services/kubernetes").json()
    assert service["spec"]["clusterIP"] == "10.96.0.1"
    assert service["spec"]["ports"][0]["port"] == 443 and service["spec"]["ports"][0]["name"] == "https"
    assert "selector" not in service["spec"]
    endpoints = http.get("/api/v1/namespaces/default/endpoints/kubernetes").json()
    port = int(apiserver.server.secure_url.rsplit(":", 1)[1])
    assert endpoints["subsets"][0]["ports"][0]["port"] == port


def test_bootstrap_cluster_roles_are_stored(http: Http) -> None:
    """The RBAC bootstrap policy stores ``cluster-admin`` (every verb on every resource and URL) and the
    aggregated ``admin`` ⊃ ``edit`` ⊃ ``view``: view reads but never Secrets, edit writes workloads but
    not RBAC, admin also manages Roles and RoleBindings; ``cluster-admin`` is bound to ``system:masters``."""
    roles = {n: http.get(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{n}").json() for n in ("cluster-admin", "admin", "edit", "view")}  # fmt: skip
    assert {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]} in roles["cluster-admin"]["rules"]
    assert {"nonResourceURLs": ["*"], "verbs": ["*"]} in roles["cluster-admin"]["rules"]

    def granted(role: str, group: str, resource: str, verb: str) -> bool:
        return any(
            group in r.get("apiGroups", []) and resource in r.get("resources", []) and verb in r["verbs"]
            for r in roles[role]["rules"]
        )

    assert granted("view", "apps", "deployments", "list") and not granted("view", "apps", "deployments", "create")
    assert not granted("view", "", "secrets", "get")
    assert granted("edit", "apps", "deployments", "create") and granted("edit", "", "secrets", "get")
    assert not granted("edit", "rbac.authorization.k8s.io", "roles", "create")
    assert granted("admin", "rbac.authorization.k8s.io", "rolebindings", "create")
    for name in ("admin", "edit", "view"):
        assert roles[name]["aggregationRule"]["clusterRoleSelectors"]
    binding = http.get("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cluster-admin").json()
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}]


def test_system_priority_classes_exist(http: Http) -> None:
    """kube-apiserver creates PriorityClasses ``system-cluster-critical`` (2000000000) and
    ``system-node-critical`` (2000001000) at start."""
    values = {
        o["metadata"]["name"]: o["value"]
        for o in http.get("/apis/scheduling.k8s.io/v1/priorityclasses").json()["items"]
    }
    assert values["system-cluster-critical"] == 2000000000
    assert values["system-node-critical"] == 2000001000


def test_error_bodies_are_compact_json_in_the_real_key_order(http: Http, namespace: str) -> None:
    """kube-apiserver encodes a failure Status as compact JSON with a trailing newline, keys in the Go
    struct's order (kind, apiVersion, metadata, status, message, reason, details, code) and an empty
    ``details.group`` left out (omitempty)."""
    response = http.get(f"/api/v1/namespaces/{namespace}/pods/missing")
    assert response.status_code == 404
    assert response.text == (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        '"message":"pods \\"missing\\" not found","reason":"NotFound",'
        '"details":{"name":"missing","kind":"pods"},"code":404}\n'
    )
    unknown = http.get("/api/v1/nosuchresources")
    assert list(json.loads(unknown.text)) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]  # fmt: skip
    conflict = http.post("/api/v1/namespaces", {"metadata": {"name": namespace}})
    assert list(conflict.json()["details"]) == ["name", "kind"]
    assert ": " not in conflict.text.split('"message"')[0]


def test_namespace_defaults_appear_for_the_client_at_once(api_client: kubernetes.client.ApiClient) -> None:
    """The official client's e2e suite reads ``default`` right after creating a namespace (the real
    controller is quick); the sandbox makes both objects with the namespace."""
    core = kubernetes.client.CoreV1Api(api_client)
    name = unique("nsd")
    core.create_namespace({"metadata": {"name": name}})
    try:
        poll(lambda: core.read_namespaced_service_account("default", name), what="default ServiceAccount")
        assert core.read_namespaced_config_map("kube-root-ca.crt", name).data["ca.crt"].startswith("-----BEGIN")
    finally:
        core.delete_namespace(name)


def test_watch_events_are_compact_json_lines(http: Http, namespace: str) -> None:
    """kube-apiserver streams each watch event as one compact JSON document and a newline."""
    response = http.get(f"/api/v1/namespaces/{namespace}/configmaps", params={"watch": "true", "timeoutSeconds": "1"})
    lines = response.text.splitlines()
    assert lines and all(json.loads(line)["type"] == "ADDED" for line in lines)
    assert all(", " not in line.split('"data"')[0] and '": ' not in line for line in lines)
