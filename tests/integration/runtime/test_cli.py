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
