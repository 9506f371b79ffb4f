"""One sandbox cluster (API server, pod runtime, real Prometheus) and one operator process for the e2e suite.

The operator runs as a real `mlaiops run` subprocess against the sandbox's kubeconfig, as it
would in a pod; tests talk to the cluster with the kubernetes client and kubectl.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client, config

from mlaiops.sandbox.apiserver.tls import token_kubeconfig
from mlaiops.sandbox.cluster import Sandbox

ROOT = Path(__file__).resolve().parents[2]
LEASE_NAMESPACE = "mlaiops-system"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], T], timeout: float = 60, interval: float = 0.25, what: str = "condition") -> T:
    """Poll until ``condition()`` returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except Exception as error:  # the object may not exist yet
            last = error
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class Cluster:
    """What a test needs: the sandbox, an API client, kubectl and a fresh namespace per test."""

    def __init__(self, sandbox: Sandbox, operator: Operator) -> None:
        self.sandbox = sandbox
        self.operator = operator
        self.kubeconfig = str(sandbox.kubeconfig_path)
        self.api = config.new_client_from_config(config_file=self.kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.prometheus_url = sandbox.prometheus_url

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", self.kubeconfig, *args], input=input, capture_output=True, text=True, timeout=60
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def apply(self, manifest: dict[str, Any] | str, namespace: str | None = None) -> None:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        self.kubectl("apply", *(["-n", namespace] if namespace else []), "-f", "-", input=text)

    def namespace(self, name: str) -> str:
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object("mlaiops.dev", "v1alpha1", namespace, plural, name)

    def condition(self, obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
        return next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == kind), None)


# --- least privilege: the operator runs as its ServiceAccount, with the manifests' RBAC enforced ---------
OPERATOR_USER = "system:serviceaccount:mlaiops-system:mlaiops-operator"
RBAC_KINDS = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
WHOLE_SUITE = pytest.StashKey[bool]()


def operator_kubeconfig(sandbox: Sandbox) -> Path:
    """The operator's kubeconfig: the sandbox's HTTPS endpoint and a token of its ServiceAccount."""
    return sandbox.dir / "operator-kubeconfig"


def operator_rbac() -> list[dict[str, Any]]:
    """The RBAC objects of manifests/ plus its webhook-self-signed component (the webhook e2e test runs
    the operator in that managed mode), rendered by kustomize from an overlay as a user would write it."""
    with tempfile.TemporaryDirectory() as overlay:
        base = os.path.relpath(ROOT / "manifests", overlay)  # kustomize refuses absolute paths
        kustomization = {"resources": [base], "components": [f"{base}/components/webhook-self-signed"]}
        (Path(overlay) / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        rendered = subprocess.run(["kubectl", "kustomize", overlay], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc and doc["kind"] in RBAC_KINDS]


def install_operator_identity(sandbox: Sandbox) -> None:
    """Apply the manifests' namespace, ServiceAccount and RBAC, then request a token as `kubectl create token`."""
    admin = ["kubectl", "--kubeconfig", str(sandbox.kubeconfig_path)]
    docs = operator_rbac()
    subprocess.run(
        [*admin, "apply", "-f", "-"], input=yaml.safe_dump_all(docs), text=True, capture_output=True, check=True
    )
    account = next(doc["metadata"] for doc in docs if doc["kind"] == "ServiceAccount")
    token = subprocess.run(
        [*admin, "create", "token", account["name"], "-n", account["namespace"], "--duration=24h"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert sandbox.server is not None
    config = token_kubeconfig(sandbox.server.secure_url, sandbox.server.certificate.ca_pem, token)
    operator_kubeconfig(sandbox).write_text(yaml.safe_dump(config))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The least-privilege audit runs last, after every other test has driven the operator."""
    items.sort(key=lambda item: Path(str(item.fspath)).name == "test_least_privilege.py")


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember whether every e2e test file is in this run (then the audit must match exactly)."""
    here = Path(__file__).parent
    files = {Path(str(item.fspath)).resolve() for item in session.items}
    everything = {path.resolve() for path in here.glob("test_*.py")}
    selective = bool(session.config.option.keyword or session.config.option.markexpr)
    session.config.stash[WHOLE_SUITE] = everything <= files and not selective


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        subprocess.run(
            ["kubectl", "--kubeconfig", str(running.kubeconfig_path), "apply", "-f", str(ROOT / "crds")],
            check=True,
            capture_output=True,
        )
        install_operator_identity(running)
        yield running


class Operator:
    """The operator as a real `mlaiops run` process; tests may kill and restart it."""

    def __init__(
        self,
        sandbox: Sandbox,
        log: Path,
        extra_env: dict[str, str] | None = None,
        args: tuple[str, ...] = ("--standalone", "-A"),
    ) -> None:
        self.log = log
        self.args = args
        self.env = {
            **os.environ,
            "KUBECONFIG": str(operator_kubeconfig(sandbox)),  # as its ServiceAccount, RBAC enforced
            "MLAIOPS_PROMETHEUS_URL": sandbox.prometheus_url or "http://127.0.0.1:9",
            "MLAIOPS_RECONCILE_INTERVAL": "1",
            "MLAIOPS_HEALTH_PORT": str(free_port()),
            "MLAIOPS_METRICS_PORT": str(free_port()),
            "MLAIOPS_ALERTMANAGER_PORT": str(free_port()),
            # notify's receivers in these tests listen on http://127.0.0.1 (refused by default).
            "MLAIOPS_OUTBOUND_ALLOW_HTTP": "true",
            "MLAIOPS_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
            "MLAIOPS_IMAGE": "mlaiops:test",
            # A stable identity, as a pod's name: a restarted process takes its Lease back at once.
            "POD_NAME": "mlaiops-e2e-operator",
            "POD_NAMESPACE": LEASE_NAMESPACE,
            **(extra_env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlaiops", "run", *self.args],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, kill: bool = True) -> None:
        self.stop(kill=kill)
        self.start()


@pytest.fixture(scope="session")
def operator_process(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    subprocess.run(  # the Lease lives where the manifests install the operator
        ["kubectl", "--kubeconfig", str(sandbox.kubeconfig_path), "create", "namespace", LEASE_NAMESPACE],
        capture_output=True,
    )
    operator = Operator(sandbox, tmp_path_factory.mktemp("operator") / "operator.log")
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()
        if os.environ.get("MLAIOPS_TEST_SHOW_LOG"):
            sys.stderr.write(operator.log.read_text())


@pytest.fixture(scope="session")
def cluster(sandbox: Sandbox, operator_process: Operator) -> Cluster:
    return Cluster(sandbox, operator_process)
