"""Anomaly detection: pure numpy / scikit-learn detectors behind one streaming interface.

Public surface (imported lazily so that ``mlaiops --help`` does not load numpy):

* ``build_detector(config, n_series)`` -> :class:`Detector` with ``update``, ``run``, ``fit``,
  ``to_dict`` / ``detector_from_dict``;
* :class:`Engine`: one detector + :class:`Hysteresis` over many series, with exclusion marks;
* configs: ``parse_detector_config``, ``HysteresisConfig`` and one model per detector type.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Detector": "mlaiops.detection.base",
    "Step": "mlaiops.detection.base",
    "Scores": "mlaiops.detection.base",
    "INVALID_SCORE": "mlaiops.detection.base",
    "Engine": "mlaiops.detection.engine",
    "EngineResult": "mlaiops.detection.engine",
    "ExclusionMark": "mlaiops.detection.engine",
    "Hysteresis": "mlaiops.detection.hysteresis",
    "AlertState": "mlaiops.detection.hysteresis",
    "build_detector": "mlaiops.detection.registry",
    "detector_class": "mlaiops.detection.registry",
    "detector_from_dict": "mlaiops.detection.registry",
    "parse_detector_config": "mlaiops.detection.config",
    "DetectorConfig": "mlaiops.detection.config",
    "DetectorBase": "mlaiops.detection.config",
    "HysteresisConfig": "mlaiops.detection.config",
    "MinDeviation": "mlaiops.detection.config",
    "DETECTOR_TYPES": "mlaiops.detection.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mlaiops.detection' has no attribute {name!r}")
