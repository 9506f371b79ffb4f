"""Validating admission for the mlaiops kinds: pure checks (``validate``) and the PromQL parser client.

The kopf handlers in ``controllers/admission.py`` call :func:`review`; tests call :func:`validate`.
"""

from __future__ import annotations

from mlaiops.admission.promql import PrometheusParser, PromqlChecker, PromqlUnavailable, local_error
from mlaiops.admission.validate import Review, review, validate

__all__ = ["PrometheusParser", "PromqlChecker", "PromqlUnavailable", "Review", "local_error", "review", "validate"]
