"""Fixtures: one sandbox API server per session, clients for it, a kubeconfig for kubectl."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
import yaml
from mlaiops_sandbox.apiserver import ApiServerThread, kubeconfig

# The tests import their helpers as a top-level module whatever pytest's import mode is.
sys.path.insert(0, str(Path(__file__).parent))
from apiserver_support import Http, load, poll, unique

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here needs the sandbox server: mark them `integration` (select with -m)."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


WIDGET_CRD = "widgets.test.sandbox.dev"


@pytest.fixture(scope="session")
def apiserver() -> Iterator[ApiServerThread]:
    """A short bookmark interval so the bookmark test is quick; everything else is as served."""
    with ApiServerThread(bookmark_interval=0.3) as server:
        yield server


@pytest.fixture(scope="session")
def http(apiserver: ApiServerThread) -> Http:
    return Http(apiserver.url)


@pytest.fixture(scope="session")
def api_client(apiserver: ApiServerThread) -> Iterator[kubernetes.client.ApiClient]:
    config = kubernetes.client.Configuration()
    config.host = apiserver.url
    with kubernetes.client.ApiClient(config) as client:
        yield client


@pytest.fixture(scope="session")
def kubeconfig_path(apiserver: ApiServerThread, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(yaml.safe_dump(kubeconfig(apiserver.url)))
    return path


@pytest.fixture(scope="session")
def kubectl(kubeconfig_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """Run the real kubectl as a user would, against the sandbox only (own discovery cache)."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    cache = tmp_path_factory.mktemp("kubecache")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig_path)}

    def run(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", "--kubeconfig", str(kubeconfig_path), "--cache-dir", str(cache), *args]
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    run.cache_dir = cache  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]
    return run


@pytest.fixture
def namespace(api_client: kubernetes.client.ApiClient) -> Iterator[str]:
    """A fresh namespace per test so tests never see each other's objects."""
    name = unique("ns")
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="session")
def widget_crd(api_client: kubernetes.client.ApiClient, http: Http) -> dict:
    """The test CRD (namespaced Widget with status and scale subresources, printer columns)."""
    ext = kubernetes.client.ApiextensionsV1Api(api_client)
    crd = load("widgets-crd.yaml")
    try:
        ext.create_custom_resource_definition(crd)
    except kubernetes.client.ApiException as exc:
        if exc.status != 409:
            raise
    poll(lambda: http.get("/apis/test.sandbox.dev/v1").status_code == 200, what="widget discovery")
    return crd


@pytest.fixture
def custom(api_client: kubernetes.client.ApiClient) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client)
