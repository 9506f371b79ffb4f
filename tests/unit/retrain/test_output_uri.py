"""spec.output.uri: only locations the trainer can write are admitted (it writes a local path, never uploads).

Before, s3:// and http(s):// outputs were admitted and every run then failed in its Job.
"""

from __future__ import annotations

import pytest

from mlaiops.admission import validate
from mlaiops.api.retrainpolicy import RetrainPolicySpec
from mlaiops.controllers.common import InvalidSpec, parse_spec
from tests.unit.api.helpers import crd_schema, edited, example


@pytest.mark.parametrize("uri", ["s3://models/fraud", "http://store/models", "https://store/models", "ftp://x/y"])
def test_remote_outputs_are_refused_by_the_webhook_naming_the_field(uri: str) -> None:
    obj = edited(example("RetrainPolicy"), "spec.output.uri", uri)
    errors = validate("RetrainPolicy", obj)
    assert len(errors) == 1 and errors[0].startswith("spec.output.uri: "), errors
    assert "(file|pvc)://" in errors[0]


@pytest.mark.parametrize("uri", ["s3://models/fraud", "https://store/models"])
def test_remote_outputs_are_an_invalid_spec_naming_the_field(uri: str) -> None:
    body = edited(example("RetrainPolicy"), "spec.output.uri", uri)["spec"]
    with pytest.raises(InvalidSpec, match=r"^spec\.output\.uri: String should match pattern"):
        parse_spec(RetrainPolicySpec, body)


@pytest.mark.parametrize("uri", ["pvc://fraud-models/fraud", "file:///var/models/fraud", "file://models"])
def test_local_outputs_are_admitted(uri: str) -> None:
    obj = edited(example("RetrainPolicy"), "spec.output.uri", uri)
    assert validate("RetrainPolicy", obj) == []
    assert parse_spec(RetrainPolicySpec, obj["spec"]).output.uri == uri


def test_the_crd_schema_says_it_too() -> None:
    output = crd_schema("RetrainPolicy")["properties"]["spec"]["properties"]["output"]["properties"]["uri"]
    assert output["pattern"] == "^(file|pvc)://.+$"


def test_datasets_may_still_be_read_from_anywhere() -> None:
    obj = edited(example("RetrainPolicy"), "spec.dataset.uri", "s3://data/transactions.csv")
    assert validate("RetrainPolicy", obj) == []
