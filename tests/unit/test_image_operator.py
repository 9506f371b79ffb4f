"""The operator container is configured from the manifests' Deployment, not from a second copy of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlaiops_sandbox.testing.image_operator import operator_container, pod_flags

pytestmark = pytest.mark.unit

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def test_the_manifests_security_context_and_limits_become_podman_flags() -> None:
    flags = pod_flags(*operator_container(MANIFESTS))
    pairs = [(flags[i], flags[i + 1]) for i in range(len(flags) - 1) if not flags[i + 1].startswith("--")]
    assert ("--user", "10001:10001") in pairs
    assert ("--memory", str(512 * 2**20)) in pairs and ("--memory-swap", str(512 * 2**20)) in pairs
    assert ("--cpus", "1") in pairs and ("--cap-drop", "ALL") in pairs
    assert ("--security-opt", "no-new-privileges") in pairs and ("--tmpfs", "/tmp") in pairs
    assert "--read-only" in flags
