"""kopf handlers, one module per kind; thin: parse the spec, call the pure core, write status.

Importing this package registers the handlers with kopf's default registry.
"""

from __future__ import annotations

from mlaiops.settings import Settings

_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """Hand the operator's settings to the handlers (called once, before kopf starts)."""
    global _settings
    _settings = settings
    from mlaiops.controllers import (  # noqa: F401  (registers handlers)
        admission,
        anomalyrule,
        children,
        incident,
        modeldeployment,
        remediationplaybook,
        retrainpolicy,
        startup,
    )


def settings() -> Settings:
    """The operator's settings; defaults when run outside ``mlaiops run`` (e.g. ``kopf run``)."""
    return _settings if _settings is not None else Settings()
