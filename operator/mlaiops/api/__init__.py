"""The mlaiops API: pydantic models of every kind, and what the CRDs say about each kind.

``KINDS`` is what ``mlaiops crds`` renders, what the controllers register handlers for and
what the docs list; add a kind here and it appears everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlaiops import API_VERSION, GROUP, VERSION
from mlaiops.api.anomalyrule import AnomalyRuleSpec, AnomalyRuleStatus
from mlaiops.api.common import ApiModel
from mlaiops.api.incident import IncidentSpec, IncidentStatus
from mlaiops.api.modeldeployment import ROUTING_GUIDE, ModelDeploymentSpec, ModelDeploymentStatus
from mlaiops.api.remediationplaybook import RemediationPlaybookSpec, RemediationPlaybookStatus
from mlaiops.api.retrainpolicy import RetrainPolicySpec, RetrainPolicyStatus

CATEGORY = "mlaiops"
OWNER_LABEL_MAX = 63
DNS1035_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"


@dataclass(frozen=True)
class PrinterColumn:
    """One column of ``kubectl get``."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class KindInfo:
    """Everything the CRD says about a kind besides its schema."""

    kind: str
    plural: str
    short_name: str
    spec: type[ApiModel]
    status: type[ApiModel]
    description: str
    columns: tuple[PrinterColumn, ...] = ()
    scale: bool = False
    extra_short_names: tuple[str, ...] = field(default=())
    bounded_name: bool = True
    """Whether metadata.name is limited to what the children the operator makes for it allow (users' kinds)."""
    dns1035_name: bool = False
    """Whether metadata.name must be a DNS-1035 label (Services are named after it)."""
    guide: str = ""
    """Markdown for the API reference only, after the description (e.g. how modes of a field compare)."""

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def max_name_length(self) -> int:
        """Children carry the label mlaiops.dev/owner=<Kind>.<name>, and a label value has at most 63 characters."""
        return OWNER_LABEL_MAX - len(self.kind) - 1

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


_AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")

KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        kind="ModelDeployment",
        plural="modeldeployments",
        short_name="md",
        spec=ModelDeploymentSpec,
        status=ModelDeploymentStatus,
        guide=ROUTING_GUIDE,
        description="A model server rolled out progressively, analysed on Prometheus and rolled back on its own.",
        columns=(
            PrinterColumn("Phase", ".status.phase", description="Rollout phase"),
            PrinterColumn("Ready", ".status.ready", description="Ready replicas / desired"),
            PrinterColumn("Version", ".status.stableModel.version", description="Model version serving traffic"),
            PrinterColumn("Canary", ".status.canaryWeight", "integer", "Traffic percent on the canary"),
            PrinterColumn("Last Action", ".status.lastAction", description="Last automated action"),
            _AGE,
        ),
        scale=True,
        dns1035_name=True,
    ),
    KindInfo(
        kind="RetrainPolicy",
        plural="retrainpolicies",
        short_name="rtp",
        spec=RetrainPolicySpec,
        status=RetrainPolicyStatus,
        description="Retraining Jobs on schedule, on anomalies and on demand, validated and promoted.",
        columns=(
            PrinterColumn("Phase", ".status.phase", description="What the policy is doing"),
            PrinterColumn("Promoted", ".status.promoted.version", description="Champion model version"),
            PrinterColumn("Last Run", ".status.lastRun", description="Newest run"),
            PrinterColumn("Schedule", ".spec.triggers.schedule.cron", priority=1),
            _AGE,
        ),
    ),
    KindInfo(
        kind="AnomalyRule",
        plural="anomalyrules",
        short_name="ar",
        spec=AnomalyRuleSpec,
        status=AnomalyRuleStatus,
        description="PromQL series scored by a detector, firing anomalies with hysteresis.",
        columns=(
            PrinterColumn("State", ".status.state", description="Normal, Pending, Firing, NoData, Error or Invalid"),
            PrinterColumn("Detector", ".spec.detector.type"),
            PrinterColumn("Firing", ".status.firingSeries", "integer", "Series firing"),
            PrinterColumn("Last Evaluation", ".status.lastEvaluation", "date"),
            _AGE,
        ),
    ),
    KindInfo(
        kind="RemediationPlaybook",
        plural="remediationplaybooks",
        short_name="rpb",
        spec=RemediationPlaybookSpec,
        status=RemediationPlaybookStatus,
        description="Anomalies and alerts turned into safe, audited, verified actions on workloads.",
        columns=(
            PrinterColumn("State", ".status.state", description="Idle, Running, AwaitingApproval, ..., Invalid"),
            PrinterColumn("Executions", ".status.totalExecutions", "integer"),
            PrinterColumn("Verified", ".status.verifiedExecutions", "integer"),
            PrinterColumn("Last Action", ".status.lastAction"),
            PrinterColumn("Dry Run", ".spec.dryRun", "boolean", priority=1),
            _AGE,
        ),
    ),
    KindInfo(
        kind="Incident",
        plural="incidents",
        short_name="inc",
        spec=IncidentSpec,
        status=IncidentStatus,
        description="Correlated anomalies on one target, the changes before them and the remediation (operator-owned).",
        columns=(
            PrinterColumn("Phase", ".status.phase", description="Open or Resolved"),
            PrinterColumn("Target", ".spec.target"),
            PrinterColumn("Playbook", ".spec.playbook"),
            PrinterColumn("Started", ".status.startedAt", "date"),
            PrinterColumn("Resolution", ".status.resolution", priority=1),
            _AGE,
        ),
        bounded_name=False,  # operator-owned, named by the operator
    ),
)

KINDS_BY_NAME: dict[str, KindInfo] = {info.kind: info for info in KINDS}

__all__ = ["API_VERSION", "CATEGORY", "GROUP", "KINDS", "KINDS_BY_NAME", "VERSION", "KindInfo", "PrinterColumn"]
