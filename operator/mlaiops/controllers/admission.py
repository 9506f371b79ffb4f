"""The validating admission webhook: kopf ``on.validate`` handlers for the four kinds, and kopf's webhook server.

Each handler runs ``admission.review`` (the same pydantic models as the controllers, plus the
cross-field, PromQL, cron and scope checks a CRD schema cannot express) and refuses the object
with every problem, one ``<field>: <message>`` per line. Handlers cover CREATE and UPDATE; an
UPDATE that leaves ``spec`` unchanged is always admitted (finalizers, annotations, deletion).

PromQL is parsed by the configured Prometheus (``/api/v1/parse_query``, or ``format_query`` on
older servers). If Prometheus cannot be reached the object is admitted with a warning that
kubectl prints: a monitoring outage must not block deployments; the controllers still report a
bad query as an Error condition.

The handlers are registered only when the webhook is enabled (a port is configured): kopf refuses
to start with admission handlers and no webhook server. Configuration, in ``Settings`` fields
``webhook_*`` when the operator's settings have them, else the same-named ``MLAIOPS_WEBHOOK_*``
variables:

- ``port``: listening port; 0 or unset disables the webhook;
- ``listen``: listening address (default ``0.0.0.0``);
- ``host``: host name the API server uses in the URL (managed mode; default: the listen address);
- ``cert_file`` / ``key_file``: the serving certificate (e.g. a cert-manager Secret mounted as files;
  kopf re-reads them when they change); without them kopf generates a self-signed certificate,
  which needs kopf's optional ``certbuilder`` dependency;
- ``insecure``: plain http (the sandbox only: a real API server calls webhooks over https only);
- ``managed``: let kopf create and keep patching the ValidatingWebhookConfiguration ``mlaiops.dev``
  (URL and caBundle from the server above); off when the manifests ship the configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import kopf

from mlaiops import GROUP, VERSION
from mlaiops.admission import PromqlChecker, review
from mlaiops.controllers import settings as operator_settings
from mlaiops.controllers.problems import plain, promql_parser

MANAGED_CONFIGURATION = GROUP  # the ValidatingWebhookConfiguration kopf manages in managed mode
HANDLERS = {
    "ModelDeployment": "modeldeployments",
    "RetrainPolicy": "retrainpolicies",
    "AnomalyRule": "anomalyrules",
    "RemediationPlaybook": "remediationplaybooks",
}
DENIAL_CODE = 422  # like the API server's own validation errors (Invalid)


def handler_id(kind: str) -> str:
    """Also the URL path of the kind's webhook (``/validate-<kind>``) and its name prefix."""
    return f"validate-{kind.lower()}"


@dataclass(frozen=True)
class WebhookConfig:
    port: int = 0
    listen: str = "0.0.0.0"
    host: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False
    managed: bool = False

    @property
    def enabled(self) -> bool:
        return self.port > 0


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def webhook_config() -> WebhookConfig:
    """The webhook settings: ``Settings.webhook_*`` fields if present, else ``MLAIOPS_WEBHOOK_*`` variables."""
    current = operator_settings()

    def get(name: str) -> Any:
        if hasattr(current, f"webhook_{name}"):
            return getattr(current, f"webhook_{name}")
        return os.environ.get(f"MLAIOPS_WEBHOOK_{name.upper()}") or None

    return WebhookConfig(
        port=int(get("port") or 0),
        listen=str(get("listen") or "0.0.0.0"),
        host=get("host"),
        cert_file=get("cert_file"),
        key_file=get("key_file"),
        insecure=_flag(get("insecure") or False),
        managed=_flag(get("managed") or False),
    )


def server(config: WebhookConfig) -> kopf.WebhookServer:
    return kopf.WebhookServer(
        addr=config.listen,
        port=config.port,
        host=config.host,
        certfile=config.cert_file,
        pkeyfile=config.key_file,
        insecure=config.insecure,
    )


def check(kind: str, body: Any, old: Any, warnings: list[str], promql: PromqlChecker | None = None) -> None:
    """Refuse with every problem, one per line; pass PromQL-unchecked warnings back to the client."""
    parser = promql if promql is not None else promql_parser()
    result = review(
        kind,
        plain(body),
        old=plain(old) if old else None,
        promql=parser,
        require_sha256=operator_settings().require_sha256,
    )
    warnings.extend(result.warnings)
    if result.errors:
        raise kopf.AdmissionError("\n".join(result.errors), code=DENIAL_CODE)


def _register(kind: str, plural: str) -> None:
    def validate(body: kopf.Body, warnings: list[str], **kwargs: Any) -> None:
        check(kind, body, kwargs.get("old"), warnings)  # kopf passes ``old`` for UPDATE only

    validate.__name__ = validate.__qualname__ = handler_id(kind).replace("-", "_")
    kopf.on.validate(GROUP, VERSION, plural, id=handler_id(kind), operations=["CREATE", "UPDATE"])(validate)


CONFIG = webhook_config()
if CONFIG.enabled:
    for _kind, _plural in HANDLERS.items():
        _register(_kind, _plural)

    @kopf.on.startup(retries=3, backoff=1)
    def configure_webhook_server(settings: kopf.OperatorSettings, **_: Any) -> None:
        """Serve the webhooks; in managed mode kopf also keeps the ValidatingWebhookConfiguration in sync."""
        settings.admission.server = server(CONFIG)
        if CONFIG.managed:
            settings.admission.managed = MANAGED_CONFIGURATION
