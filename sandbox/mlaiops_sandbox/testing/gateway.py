"""Where a sandbox Gateway answers: ``http://<status.addresses[0].value>:<sandbox.mlaiops.dev/port>``.

For tests and the demo, which reach a Gateway of class ``sandbox`` the way a user would, from its object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlaiops_sandbox.testing.kubectl import Kubectl
from mlaiops_sandbox.testing.wait import wait_for

PORT_ANNOTATION = "sandbox.mlaiops.dev/port"


def gateway_url(gateway: dict[str, Any]) -> str | None:
    """The Gateway's URL once it is Programmed with an address and a port; None before."""
    status = gateway.get("status") or {}
    programmed = any(
        c.get("type") == "Programmed" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    addresses = status.get("addresses") or []
    port = ((gateway.get("metadata") or {}).get("annotations") or {}).get(PORT_ANNOTATION)
    if not programmed or not addresses or not port:
        return None
    return f"http://{addresses[0]['value']}:{port}"


def install_gateway_api(kubectl: Kubectl, crds: Path, timeout: float = 60) -> None:
    """Apply upstream's Gateway API CRDs (a folder of its unchanged files) as a cluster operator does,
    server-side (the HTTPRoute CRD is too big for client-side apply's annotation), and wait until the
    sandbox's data plane has taken them up: GatewayClass ``sandbox`` Accepted."""
    kubectl.run("apply", "--server-side", "-f", str(crds))

    def accepted() -> bool:
        found = kubectl.run("get", "gatewayclass", "sandbox", "-o", "json", check=False)
        if found.returncode != 0:
            return False
        conditions = (json.loads(found.stdout).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Accepted" and c.get("status") == "True" for c in conditions)

    wait_for(accepted, timeout=timeout, what="GatewayClass sandbox Accepted")
