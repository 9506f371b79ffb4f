"""The operator as a real ``mlaiops run`` subprocess, as its pod would run it.

One launcher for the e2e suite, the benchmarks and the demo: the same environment (a stable
identity that takes its Lease back at once after a restart, free ports for health, metrics and
the Alertmanager receiver, a one-second reconcile interval), readings of its memory and CPU, and
its own /metrics.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from mlaiops_sandbox.testing import warm
from mlaiops_sandbox.testing.kubectl import Kubectl
from mlaiops_sandbox.testing.ports import free_port
from mlaiops_sandbox.testing.wait import seconds_until

OPERATOR_NAMESPACE = "mlaiops-system"
RBAC_KINDS = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
PORT_KEYS = ("MLAIOPS_HEALTH_PORT", "MLAIOPS_METRICS_PORT", "MLAIOPS_ALERTMANAGER_PORT")
EXIT_PORT_IN_USE = 3
"""``mlaiops run``'s exit status when a port it listens on is taken."""
PORT_ATTEMPTS = 3


def stop_process(process: subprocess.Popen[bytes] | warm.WarmPopen, kill: bool = False, timeout: float = 20) -> None:
    """SIGTERM (or SIGKILL), and SIGKILL after ``timeout`` seconds if it is still running."""
    if kill:
        process.kill()
    else:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class OperatorProcess:
    """``python -m mlaiops run`` against a kubeconfig; tests may kill and restart it."""

    def __init__(
        self,
        kubeconfig: str | Path,
        prometheus_url: str | None,
        log: Path,
        identity: str | None = "mlaiops-e2e-operator",
        image: str = "mlaiops:test",
        reconcile_interval: float | None = 1,
        extra_env: dict[str, str] | None = None,
        args: tuple[str, ...] = ("--standalone", "-A"),
    ) -> None:
        self.log = log
        self.args = args
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "MLAIOPS_PROMETHEUS_URL": prometheus_url or "http://127.0.0.1:9",
            **{key: str(free_port()) for key in PORT_KEYS},
            "MLAIOPS_IMAGE": image,
            # Everything in the sandbox listens on loopback over plain http: the operator's outbound
            # calls (notify receivers of tests and the demo) must be allowed to reach it.
            "MLAIOPS_OUTBOUND_ALLOW_HTTP": "true",
            "MLAIOPS_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
        }
        if reconcile_interval is not None:
            self.env["MLAIOPS_RECONCILE_INTERVAL"] = f"{reconcile_interval:g}"
        if identity is not None:
            # A stable identity, as a pod's name: a restarted process takes its Lease back at once.
            self.env.update({"POD_NAME": identity, "POD_NAMESPACE": OPERATOR_NAMESPACE})
        self.env.update(extra_env or {})
        # Ports this launcher chose may be taken by another process while the operator is stopped (a
        # test's restart): it then starts again on new ones. Ports the caller chose are kept as asked.
        self.own_ports = not set(PORT_KEYS) & set(extra_env or {})
        self.process: subprocess.Popen[bytes] | warm.WarmPopen | None = None
        self.attempt = 0
        self._lock = threading.Lock()

    # --- life cycle -------------------------------------------------------------------------------
    def start(self) -> OperatorProcess:
        with self._lock:
            self._launch(attempt=1)
        return self

    def _launch(self, attempt: int) -> None:
        process = warm.popen(self.command(), self.env, self.log)  # forked in tests: see testing/warm.py
        self.process, self.attempt = process, attempt
        if self.relaunches(attempt):
            threading.Thread(target=self._relaunch_on_port_clash, args=(process, attempt), daemon=True).start()

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mlaiops", "run", *self.args]

    def relaunches(self, attempt: int) -> bool:
        return self.own_ports and attempt < PORT_ATTEMPTS

    def _relaunch_on_port_clash(self, process: subprocess.Popen[bytes] | warm.WarmPopen, attempt: int) -> None:
        """Start again on new ports if ``process`` exits because a port was taken, unless stopped since."""
        status = process.wait()
        with self._lock:
            if status != EXIT_PORT_IN_USE or self.process is not process:
                return
            self.env.update({key: str(free_port()) for key in PORT_KEYS})
            self._launch(attempt + 1)

    def stop(self, kill: bool = False, timeout: float = 20) -> None:
        with self._lock:
            process, self.process = self.process, None
        if process is not None:
            stop_process(process, kill, timeout)

    def wait(self, timeout: float = 30) -> int:
        """The exit status of an operator expected to stop on its own, past the launcher's own
        relaunches after a port clash (status 3 then belongs to the ports it chose, not to the test)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                process, attempt = self.process, self.attempt
            assert process is not None, "the operator is not running"
            status = process.wait(max(0.0, deadline - time.monotonic()))
            if status != EXIT_PORT_IN_USE or not self.relaunches(attempt):
                return status
            while self.process is process:  # the relaunch thread is taking over
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(self.command(), timeout)
                time.sleep(0.05)
            if self.process is None:  # stopped meanwhile
                return status

    def exited(self) -> int | None:
        """The exit status of an operator that stopped without being asked to (None while it runs)."""
        with self._lock:
            status = None if self.process is None else self.process.poll()
            return None if status == EXIT_PORT_IN_USE and self.relaunches(self.attempt) else status

    def restart(self, kill: bool = True) -> None:
        self.stop(kill=kill)
        self.start()

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(timeout=30)

    # --- readings ---------------------------------------------------------------------------------
    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.env['MLAIOPS_METRICS_PORT']}/metrics"

    def wait_healthy(self, timeout: float = 60) -> float:
        """Seconds until kopf's liveness endpoint answers (the operator has started its watches)."""

        def healthy() -> bool:
            url = f"http://127.0.0.1:{self.env['MLAIOPS_HEALTH_PORT']}/healthz"  # new after a port clash
            try:
                return bool(urllib.request.urlopen(url, timeout=2).status == 200)
            except OSError:
                return False

        return seconds_until(healthy, timeout, interval=0.2, what="the operator's /healthz")

    def _proc(self, name: str) -> str:
        assert self.process is not None, "the operator is not running"
        return Path(f"/proc/{self.process.pid}/{name}").read_text()

    def peak_rss_mib(self) -> float:
        """VmHWM: the largest resident set the process has had so far."""
        for line in self._proc("status").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU time the operator has used so far."""
        fields = self._proc("stat").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metric(self, name: str) -> dict[str, float]:
        """Samples of one metric family from the operator's /metrics, keyed by their label text."""
        text = urllib.request.urlopen(self.metrics_url, timeout=10).read().decode()
        samples: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples


def operator_rbac(manifests: Path, components: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The RBAC objects of the manifests folder (plus kustomize components), rendered by kustomize
    from an overlay as a user would write it."""
    with tempfile.TemporaryDirectory() as overlay:
        base = os.path.relpath(manifests, overlay)  # kustomize refuses absolute paths
        kustomization = {"resources": [base], "components": [f"{base}/{c}" for c in components]}
        (Path(overlay) / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        rendered = subprocess.run(["kubectl", "kustomize", overlay], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc and doc["kind"] in RBAC_KINDS]


def install_operator_identity(
    admin: Kubectl, secure_url: str, ca_pem: str, manifests: Path, output: Path, components: tuple[str, ...] = ()
) -> Path:
    """Apply the manifests' namespace, ServiceAccount and RBAC, then write a kubeconfig with a token of
    that ServiceAccount (as ``kubectl create token``): the operator then runs with exactly the RBAC
    the manifests grant."""
    from mlaiops_sandbox.apiserver.tls import token_kubeconfig

    docs = operator_rbac(manifests, components)
    admin.apply(docs)
    account = next(doc["metadata"] for doc in docs if doc["kind"] == "ServiceAccount")
    token = admin("create", "token", account["name"], "-n", account["namespace"], "--duration=24h").strip()
    output.write_text(yaml.safe_dump(token_kubeconfig(secure_url, ca_pem, token)))
    return output
