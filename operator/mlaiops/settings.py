"""Operator configuration: one validated object built from flags and ``MLAIOPS_*`` variables.

Flags win over the environment; the environment wins over defaults. The object is passed
to whatever needs it, never read from the environment deep inside the code.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, AnyHttpUrl, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mlaiops import __version__


class Settings(BaseSettings):
    """Everything the operator process is told from outside."""

    model_config = SettingsConfigDict(
        env_prefix="MLAIOPS_", extra="forbid", validate_default=True, populate_by_name=True
    )

    prometheus_url: AnyHttpUrl = AnyHttpUrl("http://prometheus.monitoring.svc:9090")
    """Base URL of the Prometheus HTTP API used by analysis and anomaly rules."""
    namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Namespaces to watch (comma-separated in the environment); empty means all namespaces."""
    dry_run: bool = False
    """Operator-wide dry run: record every action, perform none."""
    log_format: Literal["json", "text"] = "text"
    """Log line format."""
    standalone: bool = False
    """Run without kopf peering; only used with leader election off (an elected leader never peers)."""
    peering_name: str = "mlaiops"
    """Name of the kopf peering object shared by the replicas (leader election off, not standalone)."""
    priority: int = 0
    """Peering priority of this replica; replicas need distinct priorities (equal ones freeze them all)."""
    leader_elect: bool = True
    """Elect one active replica through a coordination.k8s.io/v1 Lease; the others stand by."""
    lease_name: str = "mlaiops-operator"
    """Name of the Lease the replicas compete for."""
    lease_namespace: str = Field(
        default="mlaiops-system", validation_alias=AliasChoices("MLAIOPS_LEASE_NAMESPACE", "POD_NAMESPACE")
    )
    """Namespace of the Lease: MLAIOPS_LEASE_NAMESPACE, else POD_NAMESPACE (downward API), else mlaiops-system."""
    identity: str = Field(
        default_factory=lambda: f"{socket.gethostname()}_{os.getpid()}",
        validation_alias=AliasChoices("MLAIOPS_IDENTITY", "POD_NAME"),
    )
    """This replica's name in the Lease: MLAIOPS_IDENTITY, else POD_NAME, else <hostname>_<pid>."""
    lease_duration: int = Field(default=15, ge=1, le=3600)
    """Seconds a standby waits after the last renewal it saw before taking the lease over."""
    renew_deadline: float = Field(default=10.0, gt=0)
    """Seconds a leader keeps trying to renew before it stops acting (the process exits)."""
    retry_period: float = Field(default=2.0, gt=0)
    """Seconds between two attempts to acquire or renew."""
    image: str = f"mlaiops:{__version__}"
    """Image that runs the built-in model server and trainer."""
    reconcile_interval: float = Field(default=5.0, gt=0, le=300)
    """Seconds between two reconciles of a ModelDeployment (its analysis runs on its own interval)."""
    health_port: int = Field(default=8080, ge=1, le=65535)
    """Port of the liveness endpoint (/healthz)."""
    metrics_port: int = Field(default=9090, ge=0, le=65535)
    """Port of the operator's own /metrics; 0 disables it."""
    webhook_port: int = Field(default=0, ge=0, le=65535)
    """Port of the validating admission webhook (HTTPS); 0 disables it."""
    webhook_listen: str = "0.0.0.0"
    """Address the webhook listens on."""
    webhook_host: str | None = None
    """Host name the API server uses to reach the webhook (managed mode)."""
    webhook_cert_file: str | None = None
    """TLS certificate of the webhook (e.g. mounted from a cert-manager Secret)."""
    webhook_key_file: str | None = None
    """TLS private key of the webhook."""
    webhook_insecure: bool = False
    """Serve the webhook over plain HTTP (local testing only)."""
    webhook_managed: bool = False
    """Let the operator create and patch its own ValidatingWebhookConfiguration."""
    require_sha256: bool = False
    """Refuse models without a sha256: ModelDeployments with storageUri and no spec.model.sha256 (admission
    webhook and Ready=False InvalidSpec), and RetrainPolicy runs whose champion has none. A pickled model
    runs whoever wrote it; a pinned hash is what makes the artifact the one that was reviewed."""

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("namespaces")
    @classmethod
    def _valid_names(cls, value: list[str]) -> list[str]:
        from mlaiops.api.common import DNS_LABEL_PATTERN

        for name in value:
            if not re.fullmatch(DNS_LABEL_PATTERN, name) or len(name) > 63:
                raise ValueError(f"invalid namespace name {name!r}")
        return value

    @model_validator(mode="after")
    def _election_timing(self) -> Settings:
        if self.leader_elect and not self.lease_duration > self.renew_deadline > self.retry_period:
            raise ValueError(
                "leader election needs lease_duration > renew_deadline > retry_period, got "
                f"{self.lease_duration}/{self.renew_deadline:g}/{self.retry_period:g}"
            )
        return self

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces
