"""pytest fixtures for tests of the operator on the sandbox (loaded through the ``pytest11`` entry point).

- ``sandbox``: one session cluster (API server, pod runtime, real Prometheus) with the project's
  CRDs installed and the operator's ServiceAccount, RBAC and token kubeconfig from its manifests;
- ``operator_process``: one ``mlaiops run`` process for the session, running as that ServiceAccount;
- ``cluster``: what a test needs: clients, kubectl, a namespace helper. The namespaces a test module makes
  with ``cluster.namespace()`` are deleted after its last test, as Kubernetes' own e2e framework deletes a
  test's namespace: what they hold would otherwise keep running, scraped and reconciled every second, for the
  rest of the session.

``--operator-image IMAGE`` runs every operator of the session from that image, in a container configured
as the manifests' Deployment (``ImageOperator``), instead of as a process of the checkout, and the
sandbox runs the project's pods (model servers, trainer Jobs) as containers of the same image.

Where the CRDs and manifests are is configured in the project's pytest settings
(``mlaiops_crds``, ``mlaiops_manifests``, ``mlaiops_manifest_components``), relative to the rootdir.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.testing import warm
from mlaiops_sandbox.testing.image_operator import ImageOperator
from mlaiops_sandbox.testing.kubectl import Kubectl
from mlaiops_sandbox.testing.operator import OPERATOR_NAMESPACE, OperatorProcess, install_operator_identity
from mlaiops_sandbox.testing.wait import wait_for

# How long a namespace of a module that has ended may take to go before a test that reuses its name fails:
# its custom objects wait for the operator to remove their finalizers.
NAMESPACE_GONE_TIMEOUT = 120

_from_image: dict[str, tuple[str, Path]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("mlaiops_crds", "folder of CustomResourceDefinitions to install in the sandbox", default="crds")
    parser.addini("mlaiops_manifests", "kustomize folder whose RBAC the operator runs with", default="manifests")
    parser.addini("mlaiops_manifest_components", "kustomize components to add to it", type="linelist", default=[])
    parser.addoption("--operator-image", help="run the operator from this image (podman), as the manifests do")
    parser.addini(
        "mlaiops_warm_start",
        "fork the tests' `python -m mlaiops` processes from one warm interpreter (testing/warm.py); "
        "MLAIOPS_TEST_WARM_START=0 turns it off",
        type="bool",
        default=True,
    )


def pytest_configure(config: pytest.Config) -> None:
    image = config.getoption("--operator-image", None)
    if image:
        _from_image["operator"] = (str(image), _path(config, "mlaiops_manifests"))
    if config.getini("mlaiops_warm_start") and os.environ.get("MLAIOPS_TEST_WARM_START", "1") != "0":
        warm.enable()


def pytest_unconfigure(config: pytest.Config) -> None:
    warm.close()


def _path(config_: pytest.Config, name: str) -> Path:
    return Path(str(config_.rootpath)) / str(config_.getini(name))


class Cluster:
    """What a test needs: the sandbox, the operator, an API client, kubectl and namespaces."""

    def __init__(self, sandbox: Sandbox, operator: OperatorProcess) -> None:
        self.sandbox = sandbox
        self.operator = operator
        self.kubeconfig = str(sandbox.kubeconfig_path)
        self.api = config.new_client_from_config(config_file=self.kubeconfig)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.prometheus_url = sandbox.prometheus_url
        self.kubectl_ = Kubectl(self.kubeconfig)
        self.made: list[str] = []

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        """The completed kubectl process (stdout, stderr, returncode); raises when ``check`` and it failed."""
        return self.kubectl_.run(*args, input=input, check=check)

    def apply(self, manifest: dict[str, Any] | list[dict[str, Any]] | str, namespace: str | None = None) -> None:
        self.kubectl_.apply(manifest, namespace)

    def namespace(self, name: str) -> str:
        """Create namespace ``name`` (kept if it exists), first waiting out a deletion of one of that name
        (the API refuses new objects in a Terminating namespace); tracked for ``delete_namespaces``."""
        wait_for(lambda: not self._terminating(name), NAMESPACE_GONE_TIMEOUT, what=f"namespace {name} gone")
        self.kubectl_.ensure_namespace(name)
        if name not in self.made:
            self.made.append(name)
        return name

    def _terminating(self, name: str) -> bool:
        try:
            found = self.core.read_namespace(name)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return bool(found.status and found.status.phase == "Terminating")

    def delete_namespaces(self) -> None:
        """Delete every namespace made through ``namespace()`` so far, without waiting for them to go."""
        if self.made:
            self.kubectl("delete", "namespace", *self.made, "--wait=false", "--ignore-not-found", check=False)
            self.made.clear()

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            "mlaiops.dev", "v1alpha1", namespace, plural, name
        )
        return obj

    def condition(self, obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
        return next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == kind), None)


def operator_kubeconfig(sandbox: Sandbox) -> Path:
    """The operator's kubeconfig: the sandbox's HTTPS endpoint and a token of its ServiceAccount."""
    return sandbox.dir / "operator-kubeconfig"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Sandbox]:
    # With --operator-image the project's pods (model servers, trainer Jobs) are containers of that image too.
    image = _from_image.get("operator", (None,))[0]
    with Sandbox(tmp_path_factory.mktemp("sandbox"), containers=image) as running:
        admin = Kubectl(running.kubeconfig_path)
        admin.apply_path(_path(pytestconfig, "mlaiops_crds"))
        assert running.server is not None
        install_operator_identity(
            admin,
            running.server.secure_url,
            running.server.certificate.ca_pem,
            _path(pytestconfig, "mlaiops_manifests"),
            operator_kubeconfig(running),
            tuple(pytestconfig.getini("mlaiops_manifest_components")),
        )
        admin.ensure_namespace(OPERATOR_NAMESPACE)  # where the Lease lives, as the manifests install it
        yield running


def operator_for(
    sandbox: Sandbox, log: Path, extra_env: dict[str, str] | None = None, **kwargs: Any
) -> OperatorProcess:
    """An operator process as the session's: its ServiceAccount's kubeconfig, RBAC enforced (not started);
    in a container of the image given with ``--operator-image``."""
    if "operator" in _from_image:
        image, manifests = _from_image["operator"]
        return ImageOperator(
            operator_kubeconfig(sandbox),
            sandbox.prometheus_url,
            log,
            extra_env=extra_env,
            operator_image=image,
            manifests=manifests,
            **kwargs,
        )
    return OperatorProcess(operator_kubeconfig(sandbox), sandbox.prometheus_url, log, extra_env=extra_env, **kwargs)


@pytest.fixture(scope="session")
def operator_process(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    operator = operator_for(sandbox, tmp_path_factory.mktemp("operator") / "operator.log").start()
    try:
        yield operator
    finally:
        operator.stop()
        if os.environ.get("MLAIOPS_TEST_SHOW_LOG"):
            sys.stderr.write(operator.log.read_text())


@pytest.fixture(scope="session")
def cluster(sandbox: Sandbox, operator_process: OperatorProcess) -> Cluster:
    return Cluster(sandbox, operator_process)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the last test of a module (and its module fixtures' teardown), delete the namespaces its tests
    made through the session ``cluster``."""
    used = getattr(item, "funcargs", {}).get("cluster")
    result = yield
    if isinstance(used, Cluster) and (nextitem is None or nextitem.path != item.path):
        used.delete_namespaces()
    return result
