"""The sandbox's Gateway API implementation: upstream CRDs, GatewayClass ``sandbox``, real nginx."""

from mlaiops_sandbox.gateway.controller import GatewayPlane

__all__ = ["GatewayPlane"]
