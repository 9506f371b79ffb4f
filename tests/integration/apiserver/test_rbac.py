"""Authentication of ServiceAccount tokens and RBAC authorization, as kube-apiserver does them.

Tokens come from the TokenRequest API (`kubectl create token`) and are used over the server's HTTPS
endpoint (client-go only sends credentials over TLS). Requests without a token stay the cluster admin.

Each test has its own namespace and ServiceAccount (grants are state). What is only setup (the account
and its token, the Roles and bindings, the objects to read) goes through the admin's kubernetes client,
one API call each; kubectl runs where it is what is tested (`kubectl create token`, `whoami`, `can-i`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import requests
import yaml
from apiserver_support import unique
from mlaiops_sandbox.apiserver import ApiServerThread
from mlaiops_sandbox.apiserver.tls import token_kubeconfig

RBAC = "rbac.authorization.k8s.io"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


class Account:
    """A ServiceAccount with a token: a kubeconfig, the kubernetes client, HTTP and kubectl acting as it."""

    def __init__(self, server: ApiServerThread, namespace: str, name: str, token: str, directory: Path, cache: Path):
        self.server, self.namespace, self.name, self.token, self.cache = server, namespace, name, token, cache
        self.user = f"system:serviceaccount:{namespace}:{name}"
        assert server.server is not None
        self.ca = server.server.certificate.ca_pem
        self.kubeconfig = directory / f"{self.name}.kubeconfig"
        self.kubeconfig.write_text(
            yaml.safe_dump(token_kubeconfig(server.server.secure_url, self.ca, self.token, namespace))
        )
        self.ca_file = directory / f"{self.name}.ca"
        self.ca_file.write_bytes(self.ca)
        self.client = kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig))
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.apps = kubernetes.client.AppsV1Api(self.client)
        self.session = requests.Session()  # one TLS connection for the account's raw requests

    @classmethod
    def minted(
        cls, server: ApiServerThread, admin: kubernetes.client.ApiClient, namespace: str, directory: Path, cache: Path
    ) -> Account:
        """Created, and given a token (TokenRequest), by the admin's client: two API calls."""
        name = unique("sa")
        core = kubernetes.client.CoreV1Api(admin)
        core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
        token = core.create_namespaced_service_account_token(name, namespace, {"spec": {}}).status.token
        return cls(server, namespace, name, token, directory, cache)

    @classmethod
    def with_kubectl(
        cls, server: ApiServerThread, admin: Kubectl, namespace: str, directory: Path, **token: str
    ) -> Account:
        """Created by `kubectl create serviceaccount`, its token from `kubectl create token` (``token``: flags)."""
        name = unique("sa")
        admin("create", "serviceaccount", name, "-n", namespace)
        flags = [f"--{key}={value}" for key, value in token.items()]
        minted = admin("create", "token", name, "-n", namespace, *flags).stdout.strip()
        return cls(server, namespace, name, minted, directory, admin.cache_dir)  # type: ignore[attr-defined]

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def http(self, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        assert self.server.server is not None
        url = self.server.server.secure_url + path
        return self.session.request(method, url, headers=headers, verify=str(self.ca_file), timeout=10, **kw)

    def close(self) -> None:
        self.session.close()
        self.client.close()

    def __enter__(self) -> Account:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Admin:
    """The cluster admin's clients, for the tests' setup: one API call per object."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self.core = kubernetes.client.CoreV1Api(api)
        self.apps = kubernetes.client.AppsV1Api(api)
        self.rbac = kubernetes.client.RbacAuthorizationV1Api(api)

    def create(self, *docs: dict[str, Any]) -> None:
        """Create Roles, ClusterRoles and their bindings."""
        namespaced = {"Role": self.rbac.create_namespaced_role, "RoleBinding": self.rbac.create_namespaced_role_binding}
        cluster = {
            "ClusterRole": self.rbac.create_cluster_role,
            "ClusterRoleBinding": self.rbac.create_cluster_role_binding,
        }
        for doc in docs:
            if doc["kind"] in namespaced:
                namespaced[doc["kind"]](doc["metadata"]["namespace"], doc)
            else:
                cluster[doc["kind"]](doc)

    def grant(self, account: Account, rules: list[dict[str, Any]], namespace: str | None = None) -> None:
        """Bind a fresh Role (in ``namespace``) or ClusterRole (cluster-wide) with ``rules`` to the account."""
        name = unique("role")
        kind = "Role" if namespace else "ClusterRole"
        self.create(role(name, rules, namespace), binding(name, kind, name, sa(account), namespace))


@pytest.fixture(scope="module")
def admin(api_client: kubernetes.client.ApiClient) -> Admin:
    return Admin(api_client)


@pytest.fixture
def account(
    apiserver: ApiServerThread,
    api_client: kubernetes.client.ApiClient,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> Iterator[Account]:
    """A fresh ServiceAccount in the test's namespace, bound to nothing."""
    with Account.minted(apiserver, api_client, namespace, tmp_path, kubectl.cache_dir) as account:  # type: ignore[attr-defined]
        yield account


def role(name: str, rules: list[dict[str, Any]], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role" if namespace else "ClusterRole",
        "metadata": meta,
        "rules": rules,
    }


def binding(
    name: str, role_kind: str, role_name: str, subject: dict[str, Any], namespace: str | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role_name},
        "subjects": [subject],
    }


def sa(account: Account) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": account.name, "namespace": account.namespace}


def status(call: Callable[[], Any]) -> int:
    try:
        call()
    except kubernetes.client.ApiException as error:
        return error.status
    return 200


def test_token_request_authenticates_as_the_service_account(
    apiserver: ApiServerThread, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """`kubectl create token` returns a token; requests with it are the account, in its three groups."""
    with Account.with_kubectl(apiserver, kubectl, namespace, tmp_path) as account:
        who = account.kubectl("auth", "whoami", "-o", "json")
        assert who.returncode == 0, who.stderr
        info = yaml.safe_load(who.stdout)["status"]["userInfo"]
        assert info["username"] == account.user
        assert info["groups"] == [
            "system:serviceaccounts",
            f"system:serviceaccounts:{account.namespace}",
            "system:authenticated",
        ]


def test_requests_without_a_token_are_the_cluster_admin(kubectl: Kubectl) -> None:
    """Sandbox choice (documented): no credentials means cluster admin, as the sandbox kubeconfig has none."""
    who = yaml.safe_load(kubectl("auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert "system:masters" in who["groups"]
    assert kubectl("auth", "can-i", "delete", "nodes").stdout.strip() == "yes"


def test_unknown_token_is_401_unauthorized(account: Account) -> None:
    """A bad bearer token is refused before authorization, with a bare Unauthorized Status."""
    response = account.http("GET", "/api/v1/namespaces", token="not-a-token")
    assert response.status_code == 401
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_token_dies_with_its_service_account(account: Account, admin: Admin) -> None:
    """Tokens are bound to the account's uid: deleting it revokes them, re-creating the name does not revive them."""
    assert account.http("GET", "/version").status_code == 200
    admin.core.delete_namespaced_service_account(account.name, account.namespace)
    assert account.http("GET", "/version").status_code == 401
    admin.core.create_namespaced_service_account(account.namespace, {"metadata": {"name": account.name}})
    assert account.http("GET", "/version").status_code == 401
    assert "You must be logged in to the server" in account.kubectl("get", "pods").stderr


def test_token_for_another_audience_is_refused(
    apiserver: ApiServerThread, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    """A token minted for another audience (e.g. a vault) does not authenticate to the API server."""
    with Account.with_kubectl(apiserver, kubectl, namespace, tmp_path, audience="vault") as other:
        assert other.http("GET", "/version").status_code == 401


def test_token_request_refuses_a_short_expiration(kubectl: Kubectl, admin: Admin, namespace: str) -> None:
    """expirationSeconds below 10 minutes is Invalid (422), with the real message."""
    admin.core.create_namespaced_service_account(namespace, {"metadata": {"name": "short"}})
    result = kubectl("create", "token", "short", "-n", namespace, "--duration=1m", check=False)
    assert result.returncode != 0
    assert "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes" in result.stderr


def test_forbidden_has_the_real_status(account: Account) -> None:
    """No binding: 403 Forbidden, with the message, reason and details kube-apiserver sends."""
    response = account.http("GET", f"/api/v1/namespaces/{account.namespace}/pods")
    assert response.status_code == 403
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'pods is forbidden: User "{account.user}" cannot list resource "pods" in API group "" '
        f'in the namespace "{account.namespace}"',
        "reason": "Forbidden",
        "details": {"kind": "pods"},
        "code": 403,
    }
    named = account.http("GET", f"/apis/apps/v1/namespaces/{account.namespace}/deployments/web").json()
    assert named["message"] == (
        f'deployments.apps "web" is forbidden: User "{account.user}" cannot get resource "deployments" '
        f'in API group "apps" in the namespace "{account.namespace}"'
    )
    assert named["details"] == {"name": "web", "group": "apps", "kind": "deployments"}
    cluster = account.kubectl("get", "namespaces")
    assert (
        f'namespaces is forbidden: User "{account.user}" cannot list resource "namespaces" in API group "" '
        "at the cluster scope" in cluster.stderr
    )


def test_role_binding_grants_in_its_namespace_only(account: Account, admin: Admin) -> None:
    """A Role bound by a RoleBinding allows in that namespace; elsewhere and cluster-wide stay forbidden."""
    other = admin.core.create_namespace({"metadata": {"name": unique("other")}}).metadata.name
    admin.grant(
        account,
        [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "create"]}],
        account.namespace,
    )
    body = {"metadata": {"name": "c"}}
    assert status(lambda: account.core.create_namespaced_config_map(account.namespace, body)) == 200
    assert status(lambda: account.core.list_namespaced_config_map(account.namespace)) == 200
    assert status(lambda: account.core.list_namespaced_config_map(other)) == 403
    assert status(lambda: account.core.list_config_map_for_all_namespaces()) == 403
    assert status(lambda: account.core.delete_namespaced_config_map("c", account.namespace)) == 403


def test_cluster_role_binding_grants_everywhere(account: Account, admin: Admin) -> None:
    """A ClusterRoleBinding grants its ClusterRole in every namespace and at the cluster scope."""
    admin.grant(account, [{"apiGroups": [""], "resources": ["configmaps", "namespaces"], "verbs": ["list"]}])
    assert status(lambda: account.core.list_config_map_for_all_namespaces()) == 200
    assert status(lambda: account.core.list_namespaced_config_map("default")) == 200
    assert status(lambda: account.core.list_namespace()) == 200


def test_role_binding_of_a_cluster_role_grants_in_its_namespace(account: Account, admin: Admin) -> None:
    """A RoleBinding may reference a ClusterRole: its rules apply in the binding's namespace only."""
    name = unique("cr")
    rules = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]
    admin.create(role(name, rules), binding(name, "ClusterRole", name, sa(account), account.namespace))
    assert status(lambda: account.core.list_namespaced_secret(account.namespace)) == 200
    assert status(lambda: account.core.list_namespaced_secret("default")) == 403


def test_subresources_need_their_own_rule(account: Account, admin: Admin) -> None:
    """`deployments` does not cover `deployments/scale`; `deployments/scale` and `*/status` do."""
    labels = {"app": "web"}
    pod = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    deployment = {
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": pod},
    }
    admin.apps.create_namespaced_deployment(account.namespace, deployment)
    ns = account.namespace
    admin.grant(account, [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}], ns)
    assert status(lambda: account.apps.read_namespaced_deployment("web", ns)) == 200
    assert status(lambda: account.apps.read_namespaced_deployment_scale("web", ns)) == 403
    assert status(lambda: account.apps.read_namespaced_deployment_status("web", ns)) == 403
    admin.grant(account, [{"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get"]}], ns)
    assert status(lambda: account.apps.read_namespaced_deployment_scale("web", ns)) == 200
    assert status(lambda: account.apps.read_namespaced_deployment_status("web", ns)) == 403
    admin.grant(account, [{"apiGroups": ["apps"], "resources": ["*/status"], "verbs": ["get"]}], ns)
    assert status(lambda: account.apps.read_namespaced_deployment_status("web", ns)) == 200


def test_resource_names_limit_by_name(account: Account, admin: Admin) -> None:
    """resourceNames allow get of the named object, and a list or watch selecting exactly that name."""
    ns = account.namespace
    for name in ("mine", "theirs"):
        admin.core.create_namespaced_config_map(ns, {"metadata": {"name": name}})
    rules = [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["mine"], "verbs": ["get", "list", "update"]}
    ]
    admin.grant(account, rules, ns)
    assert status(lambda: account.core.read_namespaced_config_map("mine", ns)) == 200
    assert status(lambda: account.core.read_namespaced_config_map("theirs", ns)) == 403
    assert status(lambda: account.core.list_namespaced_config_map(ns, field_selector="metadata.name=mine")) == 200
    assert status(lambda: account.core.list_namespaced_config_map(ns, field_selector="metadata.name=theirs")) == 403
    assert status(lambda: account.core.list_namespaced_config_map(ns)) == 403


def test_wildcards_match_everything(account: Account, admin: Admin) -> None:
    """`*` in verbs, apiGroups and resources matches any value, subresources included."""
    admin.grant(account, [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], account.namespace)
    assert (
        status(lambda: account.core.create_namespaced_config_map(account.namespace, {"metadata": {"name": "w"}})) == 200
    )
    assert status(lambda: account.apps.list_namespaced_deployment(account.namespace)) == 200
    assert status(lambda: account.core.delete_namespaced_config_map("w", account.namespace)) == 200
    assert status(lambda: account.core.list_namespaced_config_map("default")) == 403


def test_group_subjects_match_the_service_account_groups(account: Account, admin: Admin) -> None:
    """A binding to the Group system:serviceaccounts:<ns> grants every account of that namespace."""
    name = unique("grp")
    rules = [{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]}]
    group = {"kind": "Group", "name": f"system:serviceaccounts:{account.namespace}", "apiGroup": RBAC}
    admin.create(role(name, rules, account.namespace), binding(name, "Role", name, group, account.namespace))
    assert status(lambda: account.core.list_namespaced_service(account.namespace)) == 200


def test_non_resource_urls(account: Account, admin: Admin) -> None:
    """Discovery, /version and /healthz are open to authenticated users; other paths need nonResourceURLs."""
    for path in ("/version", "/api", "/api/v1", "/apis", "/apis/apps/v1", "/openapi/v3", "/healthz"):
        assert account.http("GET", path).status_code == 200, path
    denied = account.http("GET", "/sandbox/audit")
    assert denied.status_code == 403
    assert denied.json()["message"] == f'forbidden: User "{account.user}" cannot get path "/sandbox/audit"'
    admin.grant(account, [{"nonResourceURLs": ["/sandbox/*"], "verbs": ["get"]}])
    assert account.http("GET", "/sandbox/audit").status_code == 200
    assert account.http("DELETE", "/sandbox/audit").status_code == 403


def test_binding_to_a_missing_role_says_so(account: Account, admin: Admin) -> None:
    """A binding whose role does not exist grants nothing; the 403 names the missing role."""
    admin.create(binding(unique("b"), "Role", "ghost", sa(account), account.namespace))
    message = account.http("GET", f"/api/v1/namespaces/{account.namespace}/pods").json()["message"]
    assert message.endswith(f': RBAC: role.{RBAC} "ghost" not found')


def test_kubectl_auth_can_i_with_the_token(account: Account, admin: Admin) -> None:
    """SelfSubjectAccessReview answers for the token's own user (`kubectl auth can-i`, `--list`)."""
    assert account.kubectl("auth", "can-i", "list", "pods").stdout.strip() == "no"
    admin.grant(account, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}], account.namespace)
    allowed = account.kubectl("auth", "can-i", "list", "pods")
    assert (allowed.returncode, allowed.stdout.strip()) == (0, "yes")
    assert account.kubectl("auth", "can-i", "list", "pods", "-n", "default").stdout.strip() == "no"
    rules = account.kubectl("auth", "can-i", "--list").stdout
    assert any(line.split()[:1] == ["pods"] and "[list]" in line for line in rules.splitlines())


def test_kubectl_auth_can_i_as_impersonates(account: Account, admin: Admin, kubectl: Kubectl) -> None:
    """--as impersonates (the admin may); an account without the impersonate verb gets 403."""
    admin.grant(account, [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], account.namespace)
    yes = kubectl("auth", "can-i", "get", "pods", "-n", account.namespace, f"--as={account.user}")
    assert yes.stdout.strip() == "yes"
    no = kubectl("auth", "can-i", "delete", "pods", "-n", account.namespace, f"--as={account.user}", check=False)
    assert no.stdout.strip() == "no"
    refused = account.kubectl("get", "pods", "--as=someone-else")
    assert (
        f'users "someone-else" is forbidden: User "{account.user}" cannot impersonate resource "users"'
        in refused.stderr
    )


def test_subject_access_review_with_the_client(account: Account, api_client: kubernetes.client.ApiClient) -> None:
    """SubjectAccessReview (admin) and SelfSubjectAccessReview (the token) through the kubernetes client."""
    spec = {"resourceAttributes": {"namespace": account.namespace, "verb": "list", "resource": "pods"}}
    admin = kubernetes.client.AuthorizationV1Api(api_client)
    review = admin.create_subject_access_review({"spec": {**spec, "user": account.user, "groups": []}})
    assert review.status.allowed is False
    own = kubernetes.client.AuthorizationV1Api(account.client).create_self_subject_access_review({"spec": spec})
    assert own.status.allowed is False


def test_audit_records_the_user(account: Account, http: Any) -> None:
    """The sandbox audit names the user of every request, refused ones included."""
    account.http("GET", f"/api/v1/namespaces/{account.namespace}/secrets")
    records = [r for r in http.get("/sandbox/audit").json()["items"] if r["user"] == account.user]
    assert any(r["resource"] == "secrets" and r["verb"] == "list" and r["code"] == 403 for r in records)


def test_the_cluster_default_objects_grant_a_service_account_nothing(account: Account) -> None:
    """On a fresh real cluster a new ServiceAccount (like the namespace's ``default``) may only discover
    and review itself: the bootstrap ClusterRoles are bound to ``system:masters`` alone."""
    assert status(lambda: account.core.list_namespaced_pod(account.namespace)) == 403
    assert status(lambda: account.core.read_namespaced_service_account("default", account.namespace)) == 403
    assert account.kubectl("auth", "can-i", "get", "pods").stdout.strip() == "no"


def test_binding_to_the_builtin_cluster_roles(account: Account, admin: Admin) -> None:
    """A RoleBinding to the stored ``view`` lets read but not write in its namespace; a
    ClusterRoleBinding to ``cluster-admin`` allows every verb on every resource, as on a real cluster."""
    admin.create(binding(unique("view"), "ClusterRole", "view", sa(account), account.namespace))
    assert status(lambda: account.core.list_namespaced_pod(account.namespace)) == 200
    assert status(lambda: account.core.list_namespaced_secret(account.namespace)) == 403
    assert (
        status(lambda: account.core.create_namespaced_config_map(account.namespace, {"metadata": {"name": "x"}})) == 403
    )
    admin.create(binding(unique("admin"), "ClusterRole", "cluster-admin", sa(account)))
    assert status(lambda: account.core.list_node()) == 200
    assert (
        status(lambda: account.core.create_namespaced_config_map(account.namespace, {"metadata": {"name": "x"}})) == 200
    )
    assert account.kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"
