"""Detector configs: discriminated by ``type``, camelCase or snake_case, durations, validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlaiops.detection.config import (
    DETECTOR_TYPES,
    AutoConfig,
    ForecastConfig,
    HysteresisConfig,
    MadConfig,
    SeasonalConfig,
    parse_detector_config,
    parse_duration,
)


def test_type_discriminator_picks_the_model() -> None:
    assert isinstance(parse_detector_config({"type": "mad"}), MadConfig)
    assert isinstance(parse_detector_config({"type": "auto"}), AutoConfig)


def test_every_type_has_a_model_with_defaults() -> None:
    for name in DETECTOR_TYPES:
        data = {"type": name}
        if name == "forecast":
            data["upper"] = 1.0
        assert parse_detector_config(data).type == name


def test_camel_case_and_snake_case_both_accepted() -> None:
    camel = parse_detector_config({"type": "zscore", "minDeviation": {"absolute": 2}, "dataRange": [0, 100]})
    snake = parse_detector_config({"type": "zscore", "min_deviation": {"absolute": 2}, "data_range": [0, 100]})
    assert camel == snake
    assert camel.model_dump(by_alias=True)["minDeviation"] == {"absolute": 2.0, "relative": 0.0}


def test_durations() -> None:
    assert parse_duration("30m") == 1800.0
    assert parse_duration("1w") == 604800.0
    assert parse_duration(90) == 90.0
    assert SeasonalConfig(period="1d").period == 86400.0
    assert ForecastConfig(horizon="30m", upper=90).horizon == 1800.0
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("soon")


@pytest.mark.parametrize(
    "data",
    [
        {"type": "nope"},
        {"type": "zscore", "direction": "sideways"},
        {"type": "zscore", "dataRange": [5, 1]},
        {"type": "threshold", "lower": 3, "upper": 1},
        {"type": "forecast"},
        {"type": "mad", "window": 1},
        {"type": "ewma", "unknownKnob": 1},
    ],
)
def test_invalid_specs_are_rejected(data: dict) -> None:
    with pytest.raises(ValidationError):
        parse_detector_config(data)


def test_hysteresis_aliases() -> None:
    assert HysteresisConfig.model_validate({"for": 3, "keepFiringFor": 2}) == HysteresisConfig(
        for_=3, keep_firing_for=2
    )
    assert HysteresisConfig.model_validate({"clearAfter": 4}).keep_firing_for == 4
    assert HysteresisConfig().model_dump(by_alias=True) == {"for": 1, "keepFiringFor": 0}
    with pytest.raises(ValidationError):
        HysteresisConfig.model_validate({"for": 0})
