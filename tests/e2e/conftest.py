"""One sandbox cluster (API server, pod runtime, real Prometheus) and one operator process for the e2e suite.

The operator runs as a real `mlaiops run` subprocess against the sandbox's kubeconfig, as it
would in a pod; tests talk to the cluster with the kubernetes client and kubectl.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client, config

from mlaiops.sandbox.cluster import Sandbox

ROOT = Path(__file__).resolve().parents[2]
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


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        subprocess.run(
            ["kubectl", "--kubeconfig", str(running.kubeconfig_path), "apply", "-f", str(ROOT / "crds")],
            check=True,
            capture_output=True,
        )
        yield running


class Operator:
    """The operator as a real `mlaiops run` process; tests may kill and restart it."""

    def __init__(self, sandbox: Sandbox, log: Path) -> None:
        self.log = log
        self.env = {
            **os.environ,
            "KUBECONFIG": str(sandbox.kubeconfig_path),
            "MLAIOPS_PROMETHEUS_URL": sandbox.prometheus_url or "http://127.0.0.1:9",
            "MLAIOPS_RECONCILE_INTERVAL": "1",
            "MLAIOPS_HEALTH_PORT": str(free_port()),
            "MLAIOPS_METRICS_PORT": str(free_port()),
            "MLAIOPS_ALERTMANAGER_PORT": str(free_port()),
            "MLAIOPS_IMAGE": "mlaiops:test",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlaiops", "run", "--standalone", "-A"],
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
