"""The apply helper's comparison: what counts as 'already as desired'."""

from __future__ import annotations

from mlaiops.controllers.kube import is_subset, owner_reference


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
