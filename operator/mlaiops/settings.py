"""Operator configuration: one validated object built from flags and ``MLAIOPS_*`` variables.

Flags win over the environment; the environment wins over defaults. The object is passed
to whatever needs it, never read from the environment deep inside the code.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import re
import socket
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mlaiops import __version__

SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def in_pod() -> bool:
    """Whether this process runs in a Kubernetes pod (the kubelet sets the variable, mounts the token)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) or os.path.exists(SERVICE_ACCOUNT_TOKEN)


def default_bind_address() -> str:
    """Every interface in a pod (the kubelet and Prometheus reach it there), loopback on a laptop."""
    return "0.0.0.0" if in_pod() else "127.0.0.1"


def default_identity() -> str:
    """``<hostname>_<pid>`` in a pod; ``<user>@<hostname>`` outside one, so that a restarted local
    operator renews its own Lease at once instead of waiting for it to expire (a lock file keeps a
    second process with the same identity from running beside it: ``mlaiops.leader.identity``)."""
    host = socket.gethostname()
    if in_pod():
        return f"{host}_{os.getpid()}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (e.g. an arbitrary uid in a container)
        user = str(os.getuid())
    return f"{user}@{host}"


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
        default_factory=default_identity,
        validation_alias=AliasChoices("MLAIOPS_IDENTITY", "POD_NAME"),
    )
    """This replica's name in the Lease: MLAIOPS_IDENTITY, else POD_NAME, else <hostname>_<pid> in a pod and
    <user>@<hostname> outside one."""
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
    bind_address: str = Field(default_factory=default_bind_address)
    """Address the health, metrics and webhook ports bind: 0.0.0.0 in a pod, 127.0.0.1 outside one."""
    health_port: int = Field(default=8080, ge=1, le=65535)
    """Port of the liveness endpoint (/healthz)."""
    metrics_port: int = Field(default=8383, ge=0, le=65535)
    """Port of the operator's own /metrics (not 9090, Prometheus's own); 0 disables it."""
    webhook_port: int = Field(default=0, ge=0, le=65535)
    """Port of the validating admission webhook (HTTPS); 0 disables it."""
    webhook_listen: str = ""
    """Address the webhook listens on; empty: bind_address."""
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

    # --- the Alertmanager receiver (off unless a port and a credential are set; see SECURITY.md) ---
    alertmanager_port: int = Field(default=0, ge=0, le=65535)
    """Port of the Alertmanager webhook receiver (POST /alertmanager); 0 (the default) disables it."""
    alertmanager_host: str = "127.0.0.1"
    """Address the receiver binds; the manifests bind the pod's IP, behind a NetworkPolicy."""
    alertmanager_token_file: str | None = None
    """File holding the bearer token Alertmanager sends (a mounted Secret; re-read when it changes)."""
    alertmanager_token: SecretStr | None = None
    """The bearer token itself (e.g. from a Secret through env valueFrom); the file wins when both are set."""
    alertmanager_username: str | None = None
    """Basic auth user name Alertmanager sends (with alertmanager_password[_file])."""
    alertmanager_password_file: str | None = None
    """File holding the basic auth password."""
    alertmanager_password: SecretStr | None = None
    """The basic auth password itself."""
    alertmanager_tls_cert_file: str | None = None
    """Serve the receiver over HTTPS with this certificate (and alertmanager_tls_key_file)."""
    alertmanager_tls_key_file: str | None = None
    """Private key of the receiver's certificate."""
    alertmanager_client_ca_file: str | None = None
    """Require client certificates signed by this CA (mutual TLS counts as a credential)."""
    alertmanager_clusterwide_namespaces: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Namespaces whose playbooks see alerts of every namespace (and alerts without one); others see only
    alerts whose ``namespace`` label is their own."""
    alertmanager_max_alerts: int = Field(default=10000, ge=1, le=1_000_000)
    """Most alerts kept; new ones beyond it are dropped and counted (mlaiops_alertmanager_alerts_dropped_total)."""
    alertmanager_alert_ttl: float = Field(default=6 * 3600, gt=0)
    """Seconds a firing alert without endsAt is kept after it was last received (above repeat_interval)."""
    alertmanager_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    """Largest webhook body accepted (413 beyond)."""

    # --- approvals in Slack: POST /slack/interactive on the receiver's port (docs/approvals.md) ---
    slack_signing_secret_file: str | None = None
    """File holding the Slack app's signing secret (a mounted Secret; re-read when it changes). With it (or
    slack_signing_secret) the receiver's port also serves POST /slack/interactive, Alertmanager credential or not."""
    slack_signing_secret: SecretStr | None = None
    """The signing secret itself; the file wins when both are set."""
    slack_users_configmap: str = "mlaiops-slack-users"
    """ConfigMap mapping Slack user ids to Kubernetes identities (in slack_users_namespace; the Role grants get on this name only)."""
    slack_users_namespace: str = ""
    """Namespace of that ConfigMap; empty: lease_namespace (the operator's own namespace)."""

    # --- outbound calls of notify (see SECURITY.md) ---
    outbound_allow_http: bool = False
    """Allow plain http:// webhook URLs (https only by default)."""
    outbound_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Host names notify may call (``hooks.slack.com``, ``*.example.com``); empty: any public host."""
    outbound_allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """CIDRs notify may reach although they are private, loopback or in the cluster (e.g. 10.20.0.0/16)."""
    outbound_cluster_cidrs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """The cluster's pod and Service CIDRs: refused even when they are public addresses."""
    notify_secret_names: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["mlaiops-notify"])
    """Secret names notify may read (the ClusterRole grants get on these names only; change both together)."""

    @field_validator(
        "namespaces",
        "alertmanager_clusterwide_namespaces",
        "outbound_allowed_hosts",
        "outbound_allowed_networks",
        "outbound_cluster_cidrs",
        "notify_secret_names",
        mode="before",
    )
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("namespaces", "alertmanager_clusterwide_namespaces")
    @classmethod
    def _valid_names(cls, value: list[str]) -> list[str]:
        from mlaiops.api.common import DNS_LABEL_PATTERN

        for name in value:
            if not re.fullmatch(DNS_LABEL_PATTERN, name) or len(name) > 63:
                raise ValueError(f"invalid namespace name {name!r}")
        return value

    @field_validator("outbound_allowed_networks", "outbound_cluster_cidrs")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as error:
                raise ValueError(f"invalid CIDR {cidr!r}: {error}") from None
        return value

    @field_validator("bind_address")
    @classmethod
    def _valid_address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"bind_address must be an IP address (127.0.0.1, 0.0.0.0, ...), got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _listen_default(self) -> Settings:
        if not self.webhook_listen:
            self.webhook_listen = self.bind_address
        return self

    @model_validator(mode="after")
    def _slack_users_namespace(self) -> Settings:
        if not self.slack_users_namespace:
            self.slack_users_namespace = self.lease_namespace
        return self

    @property
    def slack_enabled(self) -> bool:
        """Whether the Slack interactive endpoint is configured (a signing secret is given)."""
        return bool(self.slack_signing_secret or self.slack_signing_secret_file)

    @model_validator(mode="after")
    def _receiver_tls(self) -> Settings:
        if bool(self.alertmanager_tls_cert_file) != bool(self.alertmanager_tls_key_file):
            raise ValueError("alertmanager_tls_cert_file and alertmanager_tls_key_file go together")
        if self.alertmanager_client_ca_file and not self.alertmanager_tls_cert_file:
            raise ValueError("alertmanager_client_ca_file needs alertmanager_tls_cert_file (mutual TLS)")
        if self.alertmanager_username and not (self.alertmanager_password or self.alertmanager_password_file):
            raise ValueError("alertmanager_username needs alertmanager_password or alertmanager_password_file")
        return self

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
