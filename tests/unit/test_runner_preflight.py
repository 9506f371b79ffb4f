"""What `mlaiops run` checks before it starts: its ports, and one process per local identity."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from mlaiops.leader.identity import IdentityInUse, IdentityLock
from mlaiops.leader.namespace import api_error
from mlaiops.runner import PortInUse, check_ports
from mlaiops.settings import Settings


def test_a_taken_port_is_one_line_naming_the_port_and_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(bind_address="127.0.0.1", health_port=port, metrics_port=0)
        with pytest.raises(PortInUse) as raised:
            check_ports(settings)
    message = str(raised.value)
    assert f"127.0.0.1:{port}" in message and "MLAIOPS_HEALTH_PORT" in message and "\n" not in message


def test_free_ports_pass_and_port_zero_is_not_checked() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_ports(Settings(bind_address="127.0.0.1", health_port=port, metrics_port=0, webhook_port=0))


def test_a_second_process_with_the_same_identity_is_refused(tmp_path: Path) -> None:
    first = IdentityLock("me@laptop", "mlaiops-system/mlaiops-operator", "https://127.0.0.1:6443", str(tmp_path))
    first.acquire()
    try:
        second = IdentityLock("me@laptop", "mlaiops-system/mlaiops-operator", "https://127.0.0.1:6443", str(tmp_path))
        with pytest.raises(IdentityInUse, match="MLAIOPS_IDENTITY"):
            second.acquire()
        other_cluster = IdentityLock("me@laptop", "mlaiops-system/mlaiops-operator", "https://k8s:6443", str(tmp_path))
        other_cluster.acquire()  # the same identity against another cluster is another Lease
        other_cluster.release()
    finally:
        first.release()
    again = IdentityLock("me@laptop", "mlaiops-system/mlaiops-operator", "https://127.0.0.1:6443", str(tmp_path))
    again.acquire()  # released on exit
    again.release()


def test_api_errors_are_one_line_without_headers() -> None:
    error = ApiException(status=404, reason="Not Found")
    error.body = json.dumps({"kind": "Status", "message": 'namespaces "mlaiops-system" not found'})
    error.headers = {"Audit-Id": "x", "Content-Type": "application/json"}
    assert api_error(error) == '(404) namespaces "mlaiops-system" not found'
    assert api_error(ApiException(status=500, reason="Internal Server Error")) == "(500) Internal Server Error"


def run_operator(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m mlaiops run`` as a user starts it, on free ports, outside a pod."""
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(str(probe.getsockname()[1]))
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLAIOPS_", "POD_", "KUBERNETES_")) and key != "KUBECONFIG"
    }
    environment.update(
        {"MLAIOPS_HEALTH_PORT": ports[0], "MLAIOPS_METRICS_PORT": ports[1], "HOME": str(tmp_path), **env}
    )
    return subprocess.run(
        [sys.executable, "-m", "mlaiops", "run"], env=environment, capture_output=True, text=True, timeout=60
    )


def test_no_kubeconfig_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_operator(tmp_path, KUBECONFIG=str(tmp_path / "missing"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("mlaiops run:") == 1 and "set KUBECONFIG" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_taken_port_exits_3_before_any_cluster_call(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run_operator(tmp_path, MLAIOPS_HEALTH_PORT=port, KUBECONFIG=str(tmp_path / "missing"))
    assert result.returncode == 3, result.stderr
    assert f"health port 127.0.0.1:{port} is already in use" in result.stderr and "Traceback" not in result.stderr
