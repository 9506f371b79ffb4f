"""Where a sandbox Gateway answers: ``http://<status.addresses[0].value>:<sandbox.mlaiops.dev/port>``.

For tests and the demo, which reach a Gateway of class ``sandbox`` the way a user would, from its object.
"""

from __future__ import annotations

from typing import Any

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
