"""The Alertmanager receiver component and the Secret rule: off by default, token-authenticated,
reachable from Alertmanager only, and Secrets readable by one name only."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from mlaiops.settings import Settings
from tests.unit.manifests.test_manifests import RENDERED, _container, _env, _one, _with_component

RECEIVER = _with_component("components/alertmanager-receiver")


def test_the_receiver_is_off_in_the_base_manifests() -> None:
    assert "MLAIOPS_ALERTMANAGER_PORT" not in _env() and Settings().alertmanager_port == 0
    assert "NetworkPolicy" not in [doc["kind"] for doc in RENDERED]


@pytest.mark.parametrize(
    "doc", [doc for doc in RECEIVER if doc not in RENDERED], ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}"
)
def test_the_component_validates_strictly(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    assert doc["metadata"].get("namespace", "mlaiops-system") == "mlaiops-system"


def test_the_component_serves_the_receiver_with_a_token_from_a_secret() -> None:
    env = _env(RECEIVER)
    names = [item["name"] for item in _container(RECEIVER)["env"]]
    assert env["MLAIOPS_ALERTMANAGER_PORT"] == "9095"
    assert env["MLAIOPS_ALERTMANAGER_HOST"] == "$(POD_IP)" and names.index("POD_IP") < names.index(
        "MLAIOPS_ALERTMANAGER_HOST"
    )  # the pod's address only, defined before it is used
    token = env["MLAIOPS_ALERTMANAGER_TOKEN_FILE"]
    mount = next(m for m in _container(RECEIVER)["volumeMounts"] if token.startswith(m["mountPath"] + "/"))
    assert mount["readOnly"] is True
    pod = _one("Deployment", RECEIVER)["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "mlaiops-alertmanager-token"
    assert "optional" not in volume["secret"]  # no token, no pod: never an open receiver
    ports = {port["name"]: port["containerPort"] for port in _container(RECEIVER)["ports"]}
    assert ports["alertmanager"] == 9095
    service = _one("Service", RECEIVER, "mlaiops-alertmanager")
    assert service["spec"]["ports"] == [{"name": "alertmanager", "port": 9095, "targetPort": "alertmanager"}]


def test_the_network_policy_admits_only_alertmanager_to_the_receiver() -> None:
    policy = _one("NetworkPolicy", RECEIVER)["spec"]
    assert policy["podSelector"]["matchLabels"] == _one("Deployment", RECEIVER)["spec"]["selector"]["matchLabels"]
    assert policy["policyTypes"] == ["Ingress"]
    receiver = [rule for rule in policy["ingress"] if {p["port"] for p in rule["ports"]} & {"alertmanager", 9095}]
    assert len(receiver) == 1 and receiver[0] is policy["ingress"][0]
    (peer,) = receiver[0]["from"]
    assert peer == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}},
    }
    # The other ports stay reachable as without the policy (the API server, Prometheus, the kubelet).
    others = {p["port"] for rule in policy["ingress"][1:] for p in rule["ports"]}
    assert others == {"webhook", "metrics", "health"}


def test_secrets_are_readable_only_by_the_names_notify_may_read() -> None:
    rules = [rule for rule in _one("ClusterRole")["rules"] if "secrets" in rule["resources"]]
    assert rules == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": Settings().notify_secret_names, "verbs": ["get"]}
    ]
