"""Fixtures for the local runtime's integration tests: one real sandbox (API server, runtime, Prometheus)
shared by the whole directory, a REST helper bound to it, and kubectl with its kubeconfig."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest
from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.runtime import RuntimeConfig

from tests.integration.runtime.helpers import Kube


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    if shutil.which("prometheus") is None:
        pytest.skip("the prometheus binary is not installed")
    config = RuntimeConfig(images={"example.com/crash*": "crash", "example.com/slow*": "succeed-after: 1s"})
    with Sandbox(tmp_path_factory.mktemp("sandbox"), config=config) as sb:
        yield sb


@pytest.fixture(scope="session")
def kube(sandbox: Sandbox) -> Kube:
    return Kube(sandbox.api_url)


@pytest.fixture(scope="session")
def kubectl(sandbox: Sandbox) -> Callable[..., subprocess.CompletedProcess[str]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")

    def run(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(sandbox.kubeconfig_path), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    return run
