"""Parse a spec the way the webhook judges it, so that a cluster without the webhook hears the same refusals.

pydantic stops at the first failing cross-field rule of a model and cannot parse PromQL or judge a
cron; ``mlaiops.admission.review`` reports all of it at once (every field error, every cross-field
rule, PromQL parsed by Prometheus, cron and time zone, names too long for children). A controller
that runs ``checked_spec`` therefore refuses a spec with every problem in one condition message,
``spec.field.path: plain message`` joined by ``; ``. An unreachable Prometheus never refuses a spec:
the query is then judged when it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from mlaiops.admission import PrometheusParser, PromqlChecker, review
from mlaiops.api import KINDS
from mlaiops.controllers import settings
from mlaiops.controllers.common import InvalidSpec, parse_spec

M = TypeVar("M", bound=BaseModel)
_KIND_OF: dict[type[BaseModel], str] = {info.spec: info.kind for info in KINDS}


@functools.cache
def promql_parser() -> PrometheusParser:
    """The operator's one PromQL checker (webhook and controllers share its cache of parsed queries)."""
    return PrometheusParser(str(settings().prometheus_url))


def plain(value: Any) -> Any:
    """kopf's bodies (mappings of mappings) as plain JSON, which the checks walk."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def every_problem(model: type[BaseModel], body: Mapping[str, Any], promql: PromqlChecker | None = None) -> list[str]:
    """``path: message`` for every problem the webhook would refuse ``body`` for; empty if none.

    ``promql`` is a PromQL checker (tests pass their own); by default the operator's Prometheus.
    """
    checker = promql if promql is not None else promql_parser()
    obj = plain(body)
    namespace = (obj.get("metadata") or {}).get("namespace")
    try:
        found = review(
            _KIND_OF[model], obj, namespace=namespace, promql=checker, require_sha256=settings().require_sha256
        )
    except Exception:  # a bug in a check must not stop the controller: the model still judges the spec
        return []
    return found.errors


def checked_spec(model: type[M], body: Mapping[str, Any], promql: PromqlChecker | None = None) -> M:
    """The parsed spec of ``body``; raises InvalidSpec naming every problem (not only pydantic's first)."""
    errors = every_problem(model, body, promql)
    try:
        parsed = parse_spec(model, body.get("spec") or {})
    except InvalidSpec as error:
        raise InvalidSpec("; ".join(errors) or str(error)) from error
    if errors:
        raise InvalidSpec("; ".join(errors))
    return parsed
