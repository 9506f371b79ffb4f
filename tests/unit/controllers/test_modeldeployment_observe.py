"""What the ModelDeployment controller reads: both tracks from the cache, the pods only while a track is not Ready."""

from __future__ import annotations

from typing import Any

from mlaiops.controllers.children import Children
from mlaiops.controllers.modeldeployment import observe


class Pods:
    """A Kube client that only lists pods, and counts how often it was asked."""

    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods
        self.calls: list[tuple[str, str, str | None, str | None]] = []

    def list(self, api_version: str, kind: str, namespace: str | None, selector: str | None = None) -> list:
        self.calls.append((api_version, kind, namespace, selector))
        return self.pods


def deployment(name: str, version: str, ready: int, replicas: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "generation": 2},
        "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"mlaiops.dev/version": version}}}},
        "status": {"observedGeneration": 2, "readyReplicas": ready, "updatedReplicas": ready},
    }


def children(*deployments: dict[str, Any]) -> Children:
    index = {("ns", d["metadata"]["name"]): [d] for d in deployments}
    return Children(index, {}, {})


CRASHED = {
    "metadata": {"name": "churn-stable-1", "labels": {"mlaiops.dev/track": "stable", "mlaiops.dev/version": "v1"}},
    "status": {
        "containerStatuses": [
            {
                "ready": False,
                "restartCount": 1,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 3, "reason": "Error", "message": "NotFound: gone"}},
            }
        ]
    },
}


def test_pods_are_read_only_while_a_track_is_not_ready() -> None:
    client = Pods([CRASHED])
    observed = observe(client, "ns", "churn", children(deployment("churn-stable", "v1", ready=1)))  # type: ignore[arg-type]
    assert client.calls == [] and observed.failures == () and observed.stable_version == "v1"
    observed = observe(client, "ns", "churn", children(deployment("churn-stable", "v1", ready=0)))  # type: ignore[arg-type]
    assert client.calls == [("v1", "Pod", "ns", "mlaiops.dev/model-deployment=churn")]
    (failure,) = observed.failures
    assert (failure.version, failure.message, failure.exit_code) == ("v1", "NotFound: gone", 3)
