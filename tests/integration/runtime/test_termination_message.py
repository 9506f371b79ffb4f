"""Termination messages of restarting containers, as the kubelet reports them.

Kubelet behaviour pinned here (pkg/kubelet/kuberuntime, the Pod API reference): after a container
exits, the file at ``terminationMessagePath`` (default ``/dev/termination-log``) becomes
``state.terminated.message``; while a ``restartPolicy: Always`` container backs off, the exit is kept
in ``lastState.terminated`` (``exitCode``, ``reason: Error``, ``message``), ``state.waiting.reason`` is
``CrashLoopBackOff`` and ``restartCount`` grows. With ``terminationMessagePolicy:
FallbackToLogsOnError`` and an empty file, a container that exited with an error gets the end of its
log (at most 2048 bytes or 80 lines) as the message; with the default policy ``File`` it gets none.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.runtime.helpers import OWN_IMAGE, Kube, wait_for

pytestmark = pytest.mark.integration
NS = "rt-termination"


@pytest.fixture(scope="module")
def ns(kube: Kube) -> str:
    return kube.namespace(NS)


def pod(name: str, script: str, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": OWN_IMAGE, "command": ["sh", "-c", script], **container}],
        },
    }


def backing_off(kube: Kube, name: str) -> dict[str, Any]:
    """The container once it crashed and waits to restart, with its last exit recorded."""

    def check() -> dict[str, Any] | None:
        pod_status = kube.get(f"/api/v1/namespaces/{NS}/pods/{name}").get("status") or {}
        found = (pod_status.get("containerStatuses") or [{}])[0]
        waiting = (found.get("state") or {}).get("waiting") or {}
        crashed = (found.get("lastState") or {}).get("terminated")
        return found if crashed and waiting.get("reason") == "CrashLoopBackOff" else None

    return wait_for(check, 20, what=f"{name} in CrashLoopBackOff")


def test_the_message_file_of_a_crashing_container_is_in_last_state(kube: Kube, ns: str) -> None:
    script = "echo 'NotFound: model file /models/m.joblib does not exist' > /dev/termination-log; exit 3"
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("crash-message", script))
    found = backing_off(kube, "crash-message")
    terminated = found["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert terminated["message"] == "NotFound: model file /models/m.joblib does not exist\n"
    assert found["ready"] is False and found["restartCount"] >= 0
    kube.delete(f"/api/v1/namespaces/{ns}/pods/crash-message")


def test_a_custom_termination_message_path_is_honoured(kube: Kube, ns: str) -> None:
    script = "echo 'written elsewhere' > /var/run/why; exit 2"
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("custom-path", script, terminationMessagePath="/var/run/why"))
    terminated = backing_off(kube, "custom-path")["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["message"]) == (2, "written elsewhere\n")
    kube.delete(f"/api/v1/namespaces/{ns}/pods/custom-path")


def test_fallback_to_logs_only_on_error_and_only_with_that_policy(kube: Kube, ns: str) -> None:
    script = "echo 'loading model'; echo 'KeyError: feature x' >&2; exit 1"
    kube.create(
        f"/api/v1/namespaces/{ns}/pods", pod("log-fallback", script, terminationMessagePolicy="FallbackToLogsOnError")
    )
    kube.create(f"/api/v1/namespaces/{ns}/pods", pod("file-policy", script))
    fallback = backing_off(kube, "log-fallback")["lastState"]["terminated"]
    assert fallback["message"].splitlines()[-1] == "KeyError: feature x"
    assert "message" not in backing_off(kube, "file-policy")["lastState"]["terminated"]
    for name in ("log-fallback", "file-policy"):
        kube.delete(f"/api/v1/namespaces/{ns}/pods/{name}")
