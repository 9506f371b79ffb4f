"""ModelDeployment lifecycle on the sandbox with a custom (simulated) server image:
children, readiness, scaling through the scale subresource, the HPA of spec.autoscaling, Services kept on
spec.runtime.port (drift patched back), invalid specs, garbage collection."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.e2e.conftest import Cluster, wait_for

pytestmark = pytest.mark.integration


def model_deployment(name: str, **spec: object) -> dict:
    return {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"storageUri": "file:///models/fraud-v1.joblib", "version": "v1"},
            "runtime": {"image": "registry.invalid/team/custom-server:1.0", "port": 9000},
            "replicas": 2,
            **spec,
        },
    }


def test_children_are_created_owned_and_ready(cluster: Cluster) -> None:
    ns = cluster.namespace("md-lifecycle")
    cluster.apply(model_deployment("fraud"), ns)
    cluster.kubectl("wait", "-n", ns, "--for=condition=Ready", "md/fraud", "--timeout=60s")  # as a user would
    md = wait_for(
        lambda: (
            (o := cluster.get("modeldeployments", ns, "fraud")) and o.get("status", {}).get("phase") == "Ready" and o
        ),
        what="Ready",
    )
    assert md["status"]["ready"] == "2/2" and md["status"]["stableModel"]["version"] == "v1"
    assert cluster.condition(md, "Ready")["status"] == "True"
    assert md["status"]["observedGeneration"] == md["metadata"]["generation"]
    deployment = cluster.apps.read_namespaced_deployment("fraud-stable", ns)
    owner = deployment.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "ModelDeployment",
        "fraud",
        md["metadata"]["uid"],
        True,
    )
    assert deployment.metadata.labels["app.kubernetes.io/managed-by"] == "mlaiops"
    assert deployment.spec.template.metadata.annotations["prometheus.io/scrape"] == "true"
    services = {s.metadata.name for s in cluster.core.list_namespaced_service(ns).items}
    assert services == {"fraud", "fraud-stable", "fraud-canary"}
    events = cluster.core.list_namespaced_event(ns, field_selector="involvedObject.name=fraud").items
    assert any(e.reason == "Deployed" for e in events)


def test_kubectl_scale_goes_through_to_the_pods(cluster: Cluster) -> None:
    ns = cluster.namespace("md-scale")
    cluster.apply(model_deployment("scaled"), ns)
    wait_for(
        lambda: cluster.get("modeldeployments", ns, "scaled").get("status", {}).get("phase") == "Ready", what="Ready"
    )
    cluster.kubectl("scale", "-n", ns, "md/scaled", "--replicas=3")
    assert cluster.get("modeldeployments", ns, "scaled")["spec"]["replicas"] == 3
    wait_for(lambda: cluster.get("modeldeployments", ns, "scaled")["status"].get("ready") == "3/3", what="3/3 ready")
    pods = cluster.core.list_namespaced_pod(ns, label_selector="mlaiops.dev/model-deployment=scaled").items
    assert len([p for p in pods if not p.metadata.deletion_timestamp]) == 3
    scale = cluster.custom.get_namespaced_custom_object_scale(
        "mlaiops.dev", "v1alpha1", ns, "modeldeployments", "scaled"
    )
    assert scale["status"]["replicas"] == 3 and scale["status"]["selector"] == "mlaiops.dev/model-deployment=scaled"


def test_a_spec_only_the_models_reject_gets_a_condition_naming_the_field(cluster: Cluster) -> None:
    ns = cluster.namespace("md-invalid")
    bad = model_deployment("bad", analysis={"interval": "999999999w"})
    cluster.apply(bad, ns)  # the CRD's pattern and rules cannot say "too long for a duration"; the controller can
    md = wait_for(
        lambda: (o := cluster.get("modeldeployments", ns, "bad")) and cluster.condition(o, "Ready") and o,
        what="a condition",
    )
    ready = cluster.condition(md, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.analysis.interval: duration '999999999w' is too long" in ready["message"]
    assert cluster.apps.list_namespaced_deployment(ns).items == []  # nothing half-applied
    # Fixing the spec recovers without restarting anything.
    cluster.kubectl(
        "patch",
        "-n",
        ns,
        "md/bad",
        "--type=merge",
        "-p",
        '{"spec":{"analysis":{"interval":"30s"}}}',
    )
    wait_for(lambda: cluster.get("modeldeployments", ns, "bad")["status"].get("phase") == "Ready", what="recovery")


def test_delete_removes_every_child(cluster: Cluster) -> None:
    ns = cluster.namespace("md-delete")
    cluster.apply(model_deployment("gone"), ns)
    wait_for(
        lambda: cluster.get("modeldeployments", ns, "gone").get("status", {}).get("phase") == "Ready", what="Ready"
    )
    cluster.kubectl("delete", "-n", ns, "md/gone", "--wait=true")
    wait_for(lambda: not cluster.apps.list_namespaced_deployment(ns).items, what="deployments gone")
    wait_for(lambda: not cluster.core.list_namespaced_service(ns).items, what="services gone")
    wait_for(lambda: not cluster.core.list_namespaced_pod(ns).items, what="pods gone")


def test_autoscaling_and_port_changes_reach_the_hpa_and_the_services(cluster: Cluster) -> None:
    ns = cluster.namespace("md-children")
    cluster.apply(model_deployment("auto", autoscaling={"minReplicas": 2, "maxReplicas": 5}), ns)
    autoscaling = client.AutoscalingV2Api(cluster.api)
    hpa = wait_for(lambda: autoscaling.read_namespaced_horizontal_pod_autoscaler("auto", ns), what="the HPA")
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (2, 5)
    assert (hpa.spec.scale_target_ref.kind, hpa.spec.scale_target_ref.name) == ("Deployment", "auto-stable")
    assert hpa.spec.metrics[0].resource.target.average_utilization == 80  # the default target
    assert hpa.metadata.owner_references[0].name == "auto"

    def target_ports() -> dict[str, int]:
        return {s.metadata.name: s.spec.ports[0].target_port for s in cluster.core.list_namespaced_service(ns).items}

    wait_for(lambda: target_ports() == dict.fromkeys(("auto", "auto-stable", "auto-canary"), 9000), what="services")
    # Someone edits a Service by hand: the next reconcile patches it back.
    drift = {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 1234, "protocol": "TCP"}]}}
    cluster.core.patch_namespaced_service("auto-canary", ns, drift)
    wait_for(lambda: target_ports()["auto-canary"] == 9000, what="the drifted Service patched back")
    # A new server port reaches every Service; removing autoscaling removes the HPA.
    patch = '{"spec":{"runtime":{"port":9100},"autoscaling":null}}'
    cluster.kubectl("patch", "-n", ns, "md/auto", "--type=merge", "-p", patch)
    wait_for(lambda: set(target_ports().values()) == {9100}, what="services on the new port")
    wait_for(lambda: not autoscaling.list_namespaced_horizontal_pod_autoscaler(ns).items, what="the HPA deleted")
    assert cluster.apps.read_namespaced_deployment("auto-stable", ns).spec.replicas == 2  # spec.replicas again
