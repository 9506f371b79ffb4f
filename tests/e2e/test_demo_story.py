"""The demo story (the same code as `make demo`), asserted on the cluster state, not on its output."""

from __future__ import annotations

import pytest

from mlaiops.demo.story import NAMESPACE, Story
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.integration


def test_story_first_model_then_slow_model_rolled_back(cluster: Cluster) -> None:
    story = Story(cluster.sandbox.kubeconfig_path, cluster.sandbox.dir, echo=lambda _: None)
    try:
        story.first_model()
        served = cluster.get("modeldeployments", NAMESPACE, "fraud-detector")["status"]
        policy = cluster.get("retrainpolicies", NAMESPACE, "fraud-retrain")["status"]
        assert served["stableModel"]["version"] == policy["promoted"]["version"] == policy["runs"][0]["id"]
        assert story.traffic is not None and story.traffic.codes[200] >= 10

        story.bad_model()
        status = cluster.get("modeldeployments", NAMESPACE, "fraud-detector")["status"]
        assert status["failedModel"]["version"] == "forest-v1"
        assert status["stableModel"]["version"] == served["stableModel"]["version"]
        assert status["history"][0]["reason"] == "AnalysisFailed"
        assert all(step.finished is not None for step in story.steps)
    finally:
        if story.traffic is not None:
            story.traffic.stop()
