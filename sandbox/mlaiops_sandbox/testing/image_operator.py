"""The operator run from the project's image, as the manifests' Deployment runs it in a cluster.

``ImageOperator`` is an ``OperatorProcess`` whose ``mlaiops run`` is a podman container of the image:
the in-cluster configuration (the ServiceAccount token, CA and namespace mounted where a pod has them,
``KUBERNETES_SERVICE_HOST``/``PORT``), the pod's and container's securityContext (its user, a read-only
root filesystem, no capabilities, no privilege escalation), the container's resource limits and its
``/tmp`` emptyDir, all read from the manifests' Deployment. The network is the host's, as for the
sandbox's pods, so its health, metrics and receiver ports are where the process launcher puts them.
"""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path
from typing import Any

import yaml

from mlaiops_sandbox.runtime.podman import ulimits
from mlaiops_sandbox.runtime.security import resource_flags, security_flags
from mlaiops_sandbox.testing.operator import OperatorProcess, stop_process

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
IMAGE_USER = "10001"  # the Dockerfile's USER
# What the operator reads: its own settings and identity; nothing of the host's environment.
FORWARDED_PREFIXES = ("MLAIOPS_", "POD_")


def operator_container(manifests: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod (its template) and the operator container of the manifests' Deployment."""
    deployment = yaml.safe_load((manifests / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]
    container = next(c for c in pod["spec"]["containers"] if c["name"] == "operator")
    return pod, container


def pod_flags(pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
    """podman flags for the Deployment's securityContext, the container's limits (the sandbox's container
    runtime reads both as a kubelet does) and its ``/tmp`` emptyDir, in memory."""
    flags = resource_flags(container) + security_flags(pod, container, IMAGE_USER)
    if any(mount["mountPath"] == "/tmp" for mount in container.get("volumeMounts", [])):
        flags += ["--tmpfs", "/tmp"]
    return flags


class ImageOperator(OperatorProcess):
    """``mlaiops run`` in a container of ``operator_image``, configured as the manifests' Deployment."""

    def __init__(self, *args: Any, operator_image: str, manifests: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.operator_image = operator_image
        self.pod, self.container = operator_container(manifests)
        self.name = f"mlaiops-operator-{uuid.uuid4().hex[:8]}"
        self.account = self.log.parent / f"{self.log.stem}-serviceaccount"

    def _write_service_account(self) -> tuple[str, str]:
        """The token, CA and namespace files of the kubeconfig's ServiceAccount; its server's host and port."""
        kubeconfig = yaml.safe_load(Path(self.env["KUBECONFIG"]).read_text())
        cluster = kubeconfig["clusters"][0]["cluster"]
        self.account.mkdir(parents=True, exist_ok=True)
        (self.account / "token").write_text(kubeconfig["users"][0]["user"]["token"])
        (self.account / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        (self.account / "namespace").write_text(self.env.get("POD_NAMESPACE", "mlaiops-system"))
        for path in self.account.iterdir():
            path.chmod(0o644)  # the container's user is not the owner of the host's files
        host, _, port = cluster["server"].removeprefix("https://").rpartition(":")
        return host, port

    def command(self) -> list[str]:
        host, port = self._write_service_account()
        env = {key: value for key, value in self.env.items() if key.startswith(FORWARDED_PREFIXES)}
        env.update({"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port})
        return [
            "podman",
            "run",
            "--rm",
            "--name",
            self.name,
            "--runtime",
            "runc",  # as the sandbox's pods: crun refuses hybrid cgroup set-ups
            *ulimits(),
            "--network",
            "host",
            *pod_flags(self.pod, self.container),
            "--volume",
            f"{self.account}:{SERVICE_ACCOUNT_DIR}:ro",
            *[f"--env={key}={value}" for key, value in sorted(env.items())],
            self.operator_image,
            "run",
            *self.args,
        ]

    def stop(self, kill: bool = False, timeout: float = 20) -> None:
        """``podman kill`` or ``podman stop``: a signal to the podman client would not reach the container
        when it is SIGKILL."""
        with self._lock:
            process, self.process = self.process, None
        if process is None:
            return
        verb = ["kill", "--signal", "KILL"] if kill else ["stop", "--time", f"{timeout:g}"]
        subprocess.run(["podman", *verb, self.name], capture_output=True, timeout=timeout + 30)
        stop_process(process, timeout=30)
