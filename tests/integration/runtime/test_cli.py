"""`mlaiops-sandbox up` as a real subprocess: comes up, serves kubectl, runs pods, shuts down cleanly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.runtime.helpers import OWN_IMAGE, alive, pids_of, wait_for

pytestmark = pytest.mark.integration

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "sleeper", "namespace": "default"},
    "spec": {
        "containers": [
            {"name": "main", "image": OWN_IMAGE, "command": ["python", "-c", "import time; time.sleep(600)"]}
        ]
    },
}


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_sandbox_up_serves_kubectl_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlaiops_sandbox", "up", "--dir", str(tmp_path), "--no-prometheus"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        startup = time.monotonic() - began
        assert first.startswith("mlaiops-sandbox is up"), first
        print(f"\nsandbox up (no Prometheus) printed ready after {startup:.2f}s wall clock: {first.strip()}")
        kubeconfig = tmp_path / "kubeconfig"
        assert kubeconfig.exists()
        ns = kubectl(kubeconfig, "get", "ns", "-o", "name")
        assert ns.returncode == 0, ns.stderr
        assert "namespace/default" in ns.stdout.split()
        assert kubectl(kubeconfig, "config", "current-context").stdout.strip() == "mlaiops-sandbox"

        assert kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(POD)).returncode == 0

        def running_pids() -> list[int]:
            out = kubectl(kubeconfig, "get", "pod", "sleeper", "-o", "json")
            return pids_of(json.loads(out.stdout)) if out.returncode == 0 else []

        pids = wait_for(running_pids, 20, what="the sleeper's process")
        assert all(alive(pid) for pid in pids)
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        print(f"sandbox stopped {time.monotonic() - stopping:.2f}s after SIGTERM")
        assert not any(alive(pid) for pid in pids)
        leftovers = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert leftovers == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_sandbox_up_offers_https_with_a_ca_and_a_cluster_admin_token(tmp_path: Path) -> None:
    """A real cluster hands out an https:// endpoint, its CA and credentials; TLS-only tools (kubectl with
    tokens, kopf's webhook server) need them. `up` prints the HTTPS URL and CA file and writes
    `kubeconfig-https`, acting as a ServiceAccount bound to the stored `cluster-admin` ClusterRole."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlaiops_sandbox", "up", "--dir", str(tmp_path), "--no-prometheus"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(8)]
        https = next(line for line in lines if "API server (HTTPS)" in line).split()[-1]
        assert https.startswith("https://127.0.0.1:")
        assert any(str(tmp_path / "ca.crt") in line for line in lines)
        secure = tmp_path / "kubeconfig-https"
        config = yaml.safe_load(secure.read_text())
        assert config["clusters"][0]["cluster"]["server"] == https
        assert config["clusters"][0]["cluster"]["certificate-authority-data"]
        who = kubectl(secure, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
        assert who.stdout == "system:serviceaccount:kube-system:mlaiops-sandbox-admin", who.stderr
        assert kubectl(secure, "auth", "can-i", "*", "*").stdout.strip() == "yes"
        assert kubectl(secure, "get", "nodes", "-o", "name").stdout.split() == ["node/sandbox"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
