"""The project's own CRDs (crds/) and examples (examples/) through kubectl against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from apiserver_support import Http, poll

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).parent
CRDS, EXAMPLES = ROOT / "crds", ROOT / "examples"
KINDS = {"modeldeployments": "md", "retrainpolicies": "rtp", "anomalyrules": "ar", "remediationplaybooks": "rpb"}


def _docs(folder: Path) -> list[dict]:
    return [d for f in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


@pytest.fixture(scope="module")
def project_crds(kubectl) -> list[dict]:
    crds = _docs(CRDS)
    kubectl("apply", "-f", str(CRDS))
    names = [f"crd/{c['metadata']['name']}" for c in crds]
    kubectl("wait", "--for=condition=Established", *names, "--timeout=20s")
    return crds


def test_project_crds_register(project_crds: list[dict], http: Http) -> None:
    """Every kind is served with its short name, the `mlaiops` category, status and (for
    ModelDeployment) the scale subresource."""
    versions = {v["name"] for c in project_crds for v in c["spec"]["versions"] if v.get("storage")}
    assert versions == {"v1alpha1"}
    resources = {r["name"]: r for r in http.get("/apis/mlaiops.dev/v1alpha1").json()["resources"]}
    for plural, short in KINDS.items():
        assert resources[plural]["namespaced"] is True
        assert short in resources[plural]["shortNames"]
        assert "mlaiops" in resources[plural]["categories"]
        assert f"{plural}/status" in resources
    assert "modeldeployments/scale" in resources


def test_project_examples_with_kubectl(project_crds: list[dict], kubectl, http: Http) -> None:
    """`kubectl apply -f examples/` (twice), `get md -o yaml`, `get mlaiops`, `scale md`,
    `delete -f examples/`: the user's path through the project with real validation."""
    docs = _docs(EXAMPLES)
    ours = [d for d in docs if d["apiVersion"].startswith("mlaiops.dev/")]
    assert ours, "examples contain no mlaiops resources"
    out = kubectl("apply", "-f", str(EXAMPLES))
    assert out.stdout.count("created") == len(docs), out.stdout
    again = kubectl("apply", "-f", str(EXAMPLES))
    assert "created" not in again.stdout and again.stderr == ""
    md_docs = [d for d in ours if d["kind"] == "ModelDeployment"]
    ns = md_docs[0]["metadata"].get("namespace", "default")
    listed = yaml.safe_load(kubectl("get", "md", "-n", ns, "-o", "yaml").stdout)
    assert {i["metadata"]["name"] for i in listed["items"]} >= {d["metadata"]["name"] for d in md_docs}
    assert all(i["metadata"]["generation"] == 1 for i in listed["items"])
    table = kubectl("get", "mlaiops", "-n", ns).stdout
    for doc in ours:
        if doc["metadata"].get("namespace", "default") == ns:
            assert f"{doc['kind'].lower()}.mlaiops.dev/{doc['metadata']['name']}" in table
    name = md_docs[0]["metadata"]["name"]
    kubectl("scale", "-n", ns, f"md/{name}", "--replicas=2")
    assert (
        http.get(f"/apis/mlaiops.dev/v1alpha1/namespaces/{ns}/modeldeployments/{name}").json()["spec"]["replicas"] == 2
    )
    kubectl("delete", "-f", str(EXAMPLES), timeout=60)
    poll(
        lambda: http.get(f"/apis/mlaiops.dev/v1alpha1/namespaces/{ns}/modeldeployments/{name}").status_code == 404,
        what="example deleted",
    )


def test_project_crd_rejects_invalid_modeldeployment(project_crds: list[dict], http: Http, namespace: str) -> None:
    """A ModelDeployment with negative replicas is refused with a field-level 422."""
    body = {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "bad"},
        "spec": {"replicas": -1},
    }
    r = http.post(f"/apis/mlaiops.dev/v1alpha1/namespaces/{namespace}/modeldeployments", body)
    assert r.status_code == 422, r.text
    assert r.json()["message"].startswith('ModelDeployment.mlaiops.dev "bad" is invalid: ')
    assert "spec.replicas" in {c["field"] for c in r.json()["details"]["causes"]}


def test_project_install_manifests_apply_cleanly(project_crds: list[dict], kubectl) -> None:
    """`kubectl apply -k manifests/` passes server-side strict validation and is idempotent
    (on a cluster with cert-manager, which issues the webhook's certificate)."""
    kubectl("apply", "-f", str(HERE / "data" / "cert-manager-crds.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io")
    first = kubectl("apply", "-k", str(ROOT / "manifests"))
    assert "created" in first.stdout and first.stderr == ""
    again = kubectl("apply", "-k", str(ROOT / "manifests"))
    changed = [line for line in again.stdout.splitlines() if not line.endswith(" unchanged")]
    # A PodDisruptionBudget's selector has patchStrategy "replace", so kubectl always sends it again
    # and says "configured" on a real cluster too; nothing else may change.
    assert changed == ["poddisruptionbudget.policy/mlaiops-operator configured"], again.stdout
