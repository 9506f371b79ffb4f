"""Install the vendored upstream Gateway API CRDs (``crds/``, unchanged) and the ``sandbox`` GatewayClass.

The CRDs go through the API like any cluster operator's ``kubectl apply``: the API server validates
them (every CEL rule must compile) and serves them from discovery once they are established.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from mlaiops_sandbox.gateway.plan import CONTROLLER_NAME, GROUP
from mlaiops_sandbox.runtime.client import ApiClient, ApiError, Resource

CRD_DIR = Path(__file__).parent / "crds"
CRDS = Resource("apiextensions.k8s.io/v1", "customresourcedefinitions", namespaced=False)
GATEWAY_CLASSES = Resource(f"{GROUP}/v1", "gatewayclasses", namespaced=False)
GATEWAYS = Resource(f"{GROUP}/v1", "gateways")
HTTP_ROUTES = Resource(f"{GROUP}/v1", "httproutes")
REFERENCE_GRANTS = Resource(f"{GROUP}/v1", "referencegrants")
CLASS_NAME = "sandbox"


def crd_documents() -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


async def install_crds(client: ApiClient, timeout: float = 30.0) -> None:
    """Create the CRDs a cluster does not have yet (an existing one is left as its owner applied it)."""
    for crd in crd_documents():
        try:
            await client.create(CRDS, None, crd)
        except ApiError as exc:
            if exc.status != 409:
                raise
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for resource in (GATEWAY_CLASSES, GATEWAYS, HTTP_ROUTES, REFERENCE_GRANTS):
        while True:
            try:
                await client.list(resource)
                break
            except ApiError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.1)


async def ensure_class(client: ApiClient) -> None:
    body = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "GatewayClass",
        "metadata": {"name": CLASS_NAME},
        "spec": {"controllerName": CONTROLLER_NAME, "description": "The sandbox's nginx data plane"},
    }
    try:
        await client.create(GATEWAY_CLASSES, None, body)
    except ApiError as exc:
        if exc.status != 409:
            raise
