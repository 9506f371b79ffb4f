"""The apply helper's comparison: what counts as 'already as desired'."""

from __future__ import annotations

from mlaiops.kube import is_subset, owner_reference


def test_server_defaults_do_not_count_as_drift() -> None:
    desired = {"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}
    actual = {
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 10,
            "template": {"spec": {"containers": [{"name": "a", "image": "x", "imagePullPolicy": "IfNotPresent"}]}},
        }
    }
    assert is_subset(desired, actual)


def test_changed_values_and_list_lengths_are_drift() -> None:
    assert not is_subset({"spec": {"replicas": 3}}, {"spec": {"replicas": 2}})
    assert not is_subset({"a": [1, 2]}, {"a": [1, 2, 3]})
    assert not is_subset({"a": {"b": 1}}, {"a": {}})


def test_quantities_as_numbers_match_their_string_form() -> None:
    assert is_subset({"limits": {"cpu": 1}}, {"limits": {"cpu": "1"}})
    assert not is_subset({"limits": {"cpu": 2}}, {"limits": {"cpu": "1"}})


def test_owner_reference_makes_a_controller() -> None:
    owner = {"apiVersion": "mlaiops.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "m", "uid": "u-1"}}
    assert owner_reference(owner) == {
        "apiVersion": "mlaiops.dev/v1alpha1",
        "kind": "ModelDeployment",
        "name": "m",
        "uid": "u-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_status_patch_deletes_unset_fields_but_keeps_lists_valid() -> None:
    from mlaiops.api.modeldeployment import MetricResult, ModelDeploymentStatus, ModelRef
    from mlaiops.controllers.common import status_patch

    status = ModelDeploymentStatus(
        stable_model=ModelRef(version="v1", storage_uri="file:///m"),
        analysis=[MetricResult(name="latency", phase="Inconclusive")],
    )
    patch = status_patch(status)
    assert patch["canaryModel"] is None  # removes a canary the server still has
    assert patch["stableModel"] == {"version": "v1", "storageUri": "file:///m", "sha256": None}
    assert "value" not in patch["analysis"][0]  # null inside a list item would be stored and rejected
