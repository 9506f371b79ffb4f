"""Detector type name -> implementation (the factory the engine and the controller use)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlaiops.detection.base import Detector
from mlaiops.detection.config import DetectorBase, parse_detector_config


def _classes() -> dict[str, type[Detector]]:
    from mlaiops.detection.auto import AutoDetector
    from mlaiops.detection.driftrule import DriftDetector
    from mlaiops.detection.forecast import ForecastDetector
    from mlaiops.detection.iforest import IsolationForestDetector
    from mlaiops.detection.rolling import MadDetector, ZScoreDetector
    from mlaiops.detection.seasonal import SeasonalDetector
    from mlaiops.detection.smoothing import EwmaDetector
    from mlaiops.detection.threshold import ThresholdDetector

    classes: list[type[Detector]] = [
        AutoDetector,
        ThresholdDetector,
        ZScoreDetector,
        MadDetector,
        EwmaDetector,
        SeasonalDetector,
        IsolationForestDetector,
        ForecastDetector,
        DriftDetector,
    ]
    return {c.type: c for c in classes}


def detector_class(type_name: str) -> type[Detector]:
    """The class implementing ``type_name`` (one of ``config.DETECTOR_TYPES``)."""
    classes = _classes()
    if type_name not in classes:
        raise ValueError(f"unknown detector type {type_name!r}; expected one of {sorted(classes)}")
    return classes[type_name]


def detector_from_dict(payload: Mapping[str, Any]) -> Detector:
    """Rebuild a detector of any type from ``Detector.to_dict`` output (its ``type`` picks the class)."""
    return detector_class(payload["type"]).from_dict(dict(payload))


def build_detector(config: DetectorBase | Mapping[str, Any], n_series: int = 1) -> Detector:
    """A fresh detector for ``config`` (a typed model or a CRD-style dict with ``type``)."""
    if not isinstance(config, DetectorBase):
        config = parse_detector_config(dict(config))
    return detector_class(config.type)(config, n_series)  # type: ignore[attr-defined]
