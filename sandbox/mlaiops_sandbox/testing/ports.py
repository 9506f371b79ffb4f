"""A free TCP port on the loopback interface: the runtime's own finder, one implementation for all."""

from mlaiops_sandbox.runtime.util import free_port

__all__ = ["free_port"]
