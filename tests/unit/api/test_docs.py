"""docs/api.md is generated from the models and documents every field."""

from __future__ import annotations

from mlaiops import apidocs
from mlaiops.api import KINDS
from tests.cli_runner import mlaiops
from tests.unit.api.helpers import ROOT


def test_api_reference_is_fresh() -> None:
    assert (ROOT / "docs" / "api.md").read_text() == apidocs.render(), "docs/api.md is stale: run `mlaiops docs`"


def test_every_spec_field_is_documented() -> None:
    text = apidocs.render()
    for info in KINDS:
        assert f"## {info.kind} (`{info.short_name}`)" in text
        for field in info.spec.model_fields.values():
            assert f"| `{field.alias}" in text, field.alias
    assert "| `rollout.canary.steps[].weight` | integer |  | ≥ 1; ≤ 100 |" in text
    assert "| `rollout.trafficRouting.gatewayAPI.httpRoute` | string |  | **required**;" in text
    assert "| `trainer.testSize` | number | `0.25` | > 0; < 1 |" in text


def test_docs_check_detects_staleness(tmp_path) -> None:
    stale = tmp_path / "api.md"
    stale.write_text("old\n")
    cmd = ("docs", "--check", "-o", str(stale))
    assert mlaiops(*cmd).returncode == 1
    assert mlaiops("docs", "-o", str(stale)).returncode == 0
    assert mlaiops(*cmd).returncode == 0
