"""The JSON receiver the e2e tests post notifications to lives in the shared harness (the RCA benchmark uses it too)."""

from mlaiops_sandbox.testing.sink import JsonSink

__all__ = ["JsonSink"]
