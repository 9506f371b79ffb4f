"""Rollback and retrain requests: the annotation values, the refusal of unusable reasons, the patch sent."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from mlaiops import API_VERSION, kube_requests
from mlaiops.api.annotations import RETRAIN_ANNOTATION, ROLLBACK_ANNOTATION

NOW = datetime(2026, 11, 27, 8, 5, 9, tzinfo=UTC)


class RecordingKube:
    def __init__(self) -> None:
        self.patches: list[tuple[str, str, str, str, Any]] = []

    def patch(self, api_version: str, kind: str, namespace: str, name: str, body: Any) -> dict[str, Any]:
        self.patches.append((api_version, kind, namespace, name, body))
        return {}


def test_a_rollback_request_patches_the_annotation_with_a_stamped_reason() -> None:
    kube = RecordingKube()
    value = kube_requests.request_rollback(kube, "shop", "fraud", "latency", NOW)  # type: ignore[arg-type]
    assert value == "latency@20261127T080509Z"
    assert kube.patches == [
        (API_VERSION, "ModelDeployment", "shop", "fraud", {"metadata": {"annotations": {ROLLBACK_ANNOTATION: value}}})
    ]


@pytest.mark.parametrize(("source", "expected"), [("manual", "drift@"), ("playbook", "playbook:drift@")])
def test_a_retrain_request_marks_playbook_requests(source: str, expected: str) -> None:
    kube = RecordingKube()
    value = kube_requests.request_retrain(kube, "shop", "nightly", "drift", source, NOW)  # type: ignore[arg-type]
    assert value == f"{expected}20261127T080509Z"
    assert kube.patches[0][1:4] == ("RetrainPolicy", "shop", "nightly")
    assert kube.patches[0][4] == {"metadata": {"annotations": {RETRAIN_ANNOTATION: value}}}


@pytest.mark.parametrize("reason", ["", "a@b"])
def test_unusable_reasons_are_refused_before_anything_is_sent(reason: str) -> None:
    kube = RecordingKube()
    with pytest.raises(kube_requests.InvalidReason, match="non-empty reason without '@'"):
        kube_requests.request_rollback(kube, "shop", "fraud", reason)  # type: ignore[arg-type]
    assert kube.patches == []


def test_already_requested_matches_the_reason_whatever_the_timestamp() -> None:
    obj = {"metadata": {"annotations": {RETRAIN_ANNOTATION: "playbook:fix-1@20261127T080509Z"}}}
    assert kube_requests.already_requested(obj, RETRAIN_ANNOTATION, "fix-1", source="playbook")
    assert not kube_requests.already_requested(obj, RETRAIN_ANNOTATION, "fix-1")  # a manual one is another request
    assert not kube_requests.already_requested(obj, RETRAIN_ANNOTATION, "fix-2", source="playbook")
    assert not kube_requests.already_requested({"metadata": {}}, ROLLBACK_ANNOTATION, "fix-1")
