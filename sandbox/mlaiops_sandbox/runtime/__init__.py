"""The sandbox's local runtime: kubelet, built-in controllers and kube-proxy, as an API client."""

from mlaiops_sandbox.runtime.config import RuntimeConfig
from mlaiops_sandbox.runtime.runtime import Runtime

__all__ = ["Runtime", "RuntimeConfig"]
