"""Verified artifacts and bounded trainer runs: MLAIOPS_REQUIRE_SHA256, pvc:// claim names, parameter limits."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mlaiops.admission import review
from mlaiops.api.errors import field_errors
from mlaiops.api.modeldeployment import ModelDeploymentSpec, unpinned_model
from mlaiops.api.retrainpolicy import PARAM_LIMITS, RetrainPolicySpec
from mlaiops.runtime.training import TrainingError, make_estimator
from mlaiops.settings import Settings
from tests.unit.api.helpers import example

SHA = "a" * 64


def deployment(**model: Any) -> dict[str, Any]:
    obj = example("ModelDeployment")
    obj["spec"]["model"] = {"format": "sklearn", **model}
    return obj


def errors(model: type, spec: dict[str, Any]) -> list[str]:
    try:
        model.model_validate(spec)
    except ValidationError as error:
        return [f"{path}: {message}" for path, message in field_errors(error)]
    return []


# --- MLAIOPS_REQUIRE_SHA256 ----------------------------------------------------------------------------


def test_the_setting_is_off_by_default_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().require_sha256 is False
    monkeypatch.setenv("MLAIOPS_REQUIRE_SHA256", "true")
    assert Settings().require_sha256 is True


def test_unpinned_model_names_the_field() -> None:
    unpinned = ModelDeploymentSpec.model_validate(deployment(storageUri="s3://b/model.joblib")["spec"])
    assert unpinned_model(unpinned) is not None
    assert unpinned_model(unpinned).startswith("spec.model.sha256: required")  # type: ignore[union-attr]
    pinned = ModelDeploymentSpec.model_validate(deployment(storageUri="s3://b/model.joblib", sha256=SHA)["spec"])
    assert unpinned_model(pinned) is None
    promoted = ModelDeploymentSpec.model_validate(deployment(source={"retrainPolicyRef": {"name": "r"}})["spec"])
    assert unpinned_model(promoted) is None  # the promotion records the sha256


def test_admission_refuses_an_unpinned_model_only_when_required() -> None:
    unpinned = deployment(storageUri="s3://b/model.joblib")
    assert review("ModelDeployment", unpinned).errors == []
    refused = review("ModelDeployment", unpinned, require_sha256=True).errors
    assert len(refused) == 1 and refused[0].startswith("spec.model.sha256: required")
    assert "MLAIOPS_REQUIRE_SHA256" in refused[0]
    pinned = deployment(storageUri="s3://b/model.joblib", sha256=SHA)
    assert review("ModelDeployment", pinned, require_sha256=True).errors == []
    promoted = deployment(source={"retrainPolicyRef": {"name": "r"}})
    assert review("ModelDeployment", promoted, require_sha256=True).errors == []


def test_skops_is_a_format() -> None:
    spec = ModelDeploymentSpec.model_validate(deployment(format="skops", storageUri="s3://b/model.skops")["spec"])
    assert spec.model.format == "skops"


# --- pvc:// claims are DNS-1123 labels -----------------------------------------------------------------


@pytest.mark.parametrize("claim", ["..", "Models", "a_b", "-models", "x" * 64])
def test_pvc_claim_must_be_a_dns_label(claim: str) -> None:
    problems = errors(ModelDeploymentSpec, deployment(storageUri=f"pvc://{claim}/model.joblib")["spec"])
    assert problems and problems[0].startswith("spec.model.storageUri: ")


@pytest.mark.parametrize("uri", ["pvc://models/v1/model.joblib", "pvc://m", "pvc://a-b-1/x", "s3://B_x/m"])
def test_valid_model_uris_pass(uri: str) -> None:
    assert errors(ModelDeploymentSpec, deployment(storageUri=uri)["spec"]) == []


# --- bounded trainer parameters ------------------------------------------------------------------------


def policy(params: dict[str, Any] | None = None, **job: Any) -> dict[str, Any]:
    spec = example("RetrainPolicy")["spec"]
    spec["trainer"]["params"] = params
    spec["job"] = {**spec.get("job", {}), **job}
    return spec


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"max_iter": 10**9}, "max_iter must be an integer from 1 to 10000, got 1000000000"),
        ({"n_estimators": 0}, "n_estimators must be an integer from 1 to 1000, got 0"),
        ({"max_depth": 1.5}, "max_depth must be an integer from 1 to 100, got 1.5"),
        ({"n_jobs": -1}, "n_jobs must be an integer from 1 to 16, got -1"),
        ({"max_bins": True}, "max_bins must be an integer"),
    ],
)
def test_oversized_parameters_are_refused_naming_them(params: dict[str, Any], text: str) -> None:
    problems = errors(RetrainPolicySpec, policy(params))
    assert len(problems) == 1 and problems[0].startswith("spec.trainer.params: ") and text in problems[0]
    assert any(
        text in line for line in review("RetrainPolicy", {**example("RetrainPolicy"), "spec": policy(params)}).errors
    )


def test_parameters_at_their_limits_and_null_pass() -> None:
    at_limits = {name: high for name, (_, high) in PARAM_LIMITS.items()}
    assert errors(RetrainPolicySpec, policy(at_limits)) == []
    assert errors(RetrainPolicySpec, policy({"max_depth": None, "learning_rate": 0.1})) == []


def test_active_deadline_has_a_maximum() -> None:
    assert errors(RetrainPolicySpec, policy(activeDeadlineSeconds=86_400)) == []
    problems = errors(RetrainPolicySpec, policy(activeDeadlineSeconds=86_401))
    assert problems and problems[0].startswith("spec.job.activeDeadlineSeconds: ")


def test_the_trainer_enforces_the_same_limits_and_one_core_by_default() -> None:
    with pytest.raises(TrainingError, match="RandomForestClassifier: n_estimators must be an integer from 1 to 1000"):
        make_estimator("RandomForestClassifier", {"n_estimators": 10**9}, seed=1)
    assert make_estimator("RandomForestClassifier", None, seed=1).n_jobs == 1
    assert make_estimator("RandomForestClassifier", {"n_jobs": 2}, seed=1).n_jobs == 2
    assert not hasattr(make_estimator("HistGradientBoostingClassifier", None, seed=1), "n_jobs")
