"""The operator container is configured from the manifests' Deployment, not from a second copy of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlaiops_sandbox.testing.image_operator import operator_container, security_flags

pytestmark = pytest.mark.unit

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def test_the_manifests_security_context_and_limits_become_podman_flags() -> None:
    flags = security_flags(*operator_container(MANIFESTS))
    pairs = {
        flags[i]: flags[i + 1]
        for i in range(len(flags) - 1)
        if flags[i].startswith("--") and not flags[i + 1].startswith("--")
    }
    assert pairs["--user"] == "10001:10001"
    assert (pairs["--memory"], pairs["--memory-swap"], pairs["--cpus"]) == ("512m", "512m", "1")
    assert pairs["--cap-drop"] == "ALL" and pairs["--security-opt"] == "no-new-privileges"
    assert pairs["--tmpfs"] == "/tmp" and "--read-only" in flags


def test_millicores_limits_and_a_writable_root_are_said_as_podman_says_them() -> None:
    pod = {"securityContext": {"runAsUser": 2000}}
    container = {"resources": {"limits": {"cpu": "250m", "memory": "1Gi"}}, "securityContext": {}}
    flags = security_flags(pod, container)
    assert flags == ["--user", "2000:2000", "--memory", "1g", "--memory-swap", "1g", "--cpus", "0.25"]
