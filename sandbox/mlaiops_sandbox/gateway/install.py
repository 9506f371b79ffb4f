"""Wait for the Gateway API CRDs, then create the ``sandbox`` GatewayClass.

The sandbox ships no copy of the CRDs: like a cluster whose operator installs Gateway API before an
implementation can serve it, the CRDs are applied from upstream's own files (``kubectl apply -f`` the
standard channel; the tests apply them unchanged). Until then the data plane waits, and nothing of it
shows in discovery.
"""

from __future__ import annotations

import asyncio

from mlaiops_sandbox.gateway.plan import CONTROLLER_NAME, GROUP
from mlaiops_sandbox.runtime.client import ApiClient, ApiError, Resource

GATEWAY_CLASSES = Resource(f"{GROUP}/v1", "gatewayclasses", namespaced=False)
GATEWAYS = Resource(f"{GROUP}/v1", "gateways")
HTTP_ROUTES = Resource(f"{GROUP}/v1", "httproutes")
REFERENCE_GRANTS = Resource(f"{GROUP}/v1", "referencegrants")
CLASS_NAME = "sandbox"


async def wait_for_crds(client: ApiClient, poll: float = 1.0) -> None:
    """Return once every kind the data plane watches is served (its CRD applied and established)."""
    for resource in (GATEWAY_CLASSES, GATEWAYS, HTTP_ROUTES, REFERENCE_GRANTS):
        while True:
            try:
                await client.list(resource)
                break
            except ApiError:
                await asyncio.sleep(poll)


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
