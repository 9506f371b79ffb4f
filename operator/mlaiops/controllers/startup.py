"""Operator-wide kopf settings: where state lives, how errors back off, what identifies us."""

from __future__ import annotations

from typing import Any

import kopf

from mlaiops import GROUP
from mlaiops.controllers import settings as controller_settings
from mlaiops.kube import Kube, load_api_client
from mlaiops.metrics import operator as operator_metrics
from mlaiops.metrics.prometheus import PrometheusProvider

FINALIZER = f"{GROUP}/finalizer"


@kopf.on.startup(retries=3, backoff=1)  # a failing start exits (and restarts), never 60 s loops
def configure_kopf(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Keep kopf's bookkeeping under our own annotation prefix and bound every retry.

    The API and Prometheus clients are made here, once, and handed to every handler in kopf's
    ``memo`` (``memo.kube``, ``memo.prometheus``): no module-level client, and tests inject their own.
    """
    memo.kube = Kube(load_api_client())
    memo.prometheus = PrometheusProvider(str(controller_settings().prometheus_url))
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = 20  # INFO and above become Kubernetes Events
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # Sync handlers share kopf's executor, which defaults to cpu count + 4 threads; reconciles
    # mostly wait on the API server, so more threads keep a thousand timers on schedule.
    settings.execution.max_workers = 16
    operator_metrics.serve(controller_settings().metrics_port, controller_settings().bind_address)
