"""RemediationPlaybook: anomalies and alerts turned into safe, audited, verified actions.

Vocabulary from Robusta (triggers and actions), Alertmanager (``matchers``, ``severity``),
medik8s (``minHealthy``, escalating remediations) and StackStorm (approvals).
Each action is a ``type`` plus the sub-object of the same name, like volumes in a pod spec,
so the CRD schema stays structural.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from mlaiops.api.common import (
    ApiModel,
    Conditions,
    Duration,
    FreeForm,
    IntOrPercent,
    LabelSelector,
    LocalObjectReference,
    Matcher,
    Quantity,
    SecretKeySelector,
    Severity,
    WorkloadReference,
    nested,
    rule,
    validations,
)

ActionType = Literal[
    "scale", "restart", "rollback", "retrain", "deletePod", "adjustResources", "notify", "suspendRule", "job", "webhook"
]


class Trigger(ApiModel):
    """What starts the playbook: AnomalyRules (by name or label) or Alertmanager alerts."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.source != 'AnomalyRule' || (has(self.rules) && size(self.rules) > 0) || has(self.selector)",
                "an AnomalyRule trigger needs rules, selector or both",
            ),
            rule(
                "self.source != 'Alertmanager' || (!(has(self.rules) && size(self.rules) > 0) && !has(self.selector))",
                "rules and selector apply only to source AnomalyRule; use matchers",
            ),
        )
    )

    source: Literal["AnomalyRule", "Alertmanager"] = "AnomalyRule"
    """Where the signal comes from."""
    rules: list[LocalObjectReference] | None = None
    """AnomalyRules by name (source AnomalyRule)."""
    selector: LabelSelector | None = None
    """AnomalyRules by label (source AnomalyRule)."""
    severity: Severity | None = None
    """Lowest severity that triggers; any when empty."""
    matchers: list[Matcher] | None = None
    """Alertmanager matchers on the anomaly's or alert's labels; all must match."""

    @model_validator(mode="after")
    def _source_fields(self) -> Trigger:
        if self.source == "AnomalyRule" and not self.rules and self.selector is None:
            raise ValueError("an AnomalyRule trigger needs rules, selector or both")
        if self.source == "Alertmanager" and (self.rules or self.selector is not None):
            raise ValueError("rules and selector apply only to source AnomalyRule; use matchers")
        return self


class Verify(ApiModel):
    """How the playbook checks that a step helped."""

    within: Duration = "5m"
    """The anomaly must resolve within this time, else the next step runs."""


class ScaleAction(ApiModel):
    """Change replicas, bounded; raises the HPA's bounds instead when an HPA owns replicas."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "[has(self.replicas), has(self.delta), has(self.factor)].filter(given, given).size() == 1",
                "set exactly one of replicas, delta and factor",
            ),
            rule(
                "self.min <= self.max",
                "min must not exceed max",
                message_expression="'min (' + string(self.min) + ') must not exceed max (' + string(self.max) + ')'",
            ),
        )
    )

    replicas: int | None = Field(default=None, ge=0, le=1000)
    """Absolute replica count."""
    delta: int | None = Field(default=None, ge=-1000, le=1000)
    """Replicas to add (negative: remove)."""
    factor: float | None = Field(default=None, gt=0, le=10)
    """Multiply current replicas (rounded up)."""
    min: int = Field(default=1, ge=0, le=1000)
    """Never go below."""
    max: int = Field(default=10, ge=1, le=1000)
    """Never go above."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ScaleAction:
        given = [name for name in ("replicas", "delta", "factor") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of replicas, delta and factor")
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class DeletePodAction(ApiModel):
    """Delete the worst pod, never going below minHealthy."""

    query: str | None = Field(default=None, min_length=1, max_length=8192)
    """PromQL ranking pods (label pod); the highest value is deleted."""
    selector: LabelSelector | None = None
    """Only pods matching this selector are candidates."""


class ResourceCaps(ApiModel):
    """Highest values adjustResources may set."""

    memory: Quantity | None = None
    """Memory cap, e.g. 4Gi."""
    cpu: Quantity | None = None
    """CPU cap, e.g. 2."""


ResourceName = Literal["memory", "cpu"]


def _memory_only() -> list[ResourceName]:
    return ["memory"]


class AdjustResourcesAction(ApiModel):
    """Raise limits (and requests) of the workload's containers, e.g. after OOMKilled."""

    resources: list[ResourceName] = Field(
        default_factory=_memory_only, min_length=1, json_schema_extra={"default": ["memory"]}
    )
    """Which resources to raise."""
    factor: float = Field(default=1.5, gt=1, le=10)
    """Multiplier of the current value."""
    max: ResourceCaps | None = None
    """Caps, e.g. {memory: 4Gi}."""


class NotifyAction(ApiModel):
    """Post to a webhook; the URL comes from a Secret."""

    url_secret_ref: SecretKeySelector
    """Secret key holding the webhook URL."""
    format: Literal["slack", "generic"] = "generic"
    """Slack-compatible body or generic JSON."""


class RetrainAction(ApiModel):
    """Trigger a run of a RetrainPolicy."""

    policy_ref: LocalObjectReference
    """The RetrainPolicy to run."""


class SuspendRuleAction(ApiModel):
    """Suspend the AnomalyRule that fired (e.g. a known noisy rule) for a while."""

    duration: Duration = "1h"
    """How long to suspend."""


def job_template_problems(template: dict[str, Any]) -> list[str]:
    """What makes a job action's pod template unusable (empty when it can run), naming the field."""
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return ["template.spec: a pod spec is required"]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return ["template.spec.containers: at least one container is required"]
    problems = []
    for index, container in enumerate(containers):
        where = f"template.spec.containers[{index}]"
        if not isinstance(container, dict):
            problems.append(f"{where}: must be an object")
            continue
        for key in ("name", "image"):
            if not isinstance(container.get(key), str) or not container.get(key):
                problems.append(f"{where}.{key}: required")
        if "env" in container and not isinstance(container["env"], list):
            problems.append(f"{where}.env: must be a list")
    if spec.get("restartPolicy", "Never") not in ("Never", "OnFailure"):
        problems.append("template.spec.restartPolicy: a Job's pods restart Never or OnFailure")
    return problems


class JobAction(ApiModel):
    """Run a Job from a pod template in the playbook's namespace; the step succeeds when the Job completes.

    The Job is named after the execution and step (the same name after an operator restart, so a
    resumed step finds its Job instead of creating a second one), owned by the playbook, and its
    containers get the incident's context as environment: MLAIOPS_INCIDENT, MLAIOPS_EXECUTION,
    MLAIOPS_STEP, MLAIOPS_RULE, MLAIOPS_TRIGGER, MLAIOPS_FINGERPRINT, MLAIOPS_TARGET_KIND,
    MLAIOPS_TARGET_NAME, MLAIOPS_PLAYBOOK and MLAIOPS_NAMESPACE.
    """

    template: FreeForm
    """The Job's pod template (metadata, spec), as in a Job's spec.template; restartPolicy defaults to Never."""
    backoff_limit: int = Field(default=0, ge=0, le=10)
    """Retries of a failed pod (0: the first failure fails the step)."""
    ttl_seconds_after_finished: int = Field(default=86400, ge=60)
    """How long the finished Job is kept (it records what the step ran)."""

    @field_validator("template")
    @classmethod
    def _runnable(cls, template: dict[str, Any]) -> dict[str, Any]:
        problems = job_template_problems(template)
        if problems:
            raise ValueError("; ".join(problems))
        return template


class WebhookAction(ApiModel):
    """POST the incident as JSON to a URL, signed with HMAC-SHA256 (see docs/remediation-actions.md).

    Headers: ``X-Mlaiops-Timestamp`` (Unix seconds), ``X-Mlaiops-Signature: v1=<hex>`` where hex is
    HMAC-SHA256(secret, timestamp + "." + body), and ``Idempotency-Key: <execution id>/<step index>``.
    A 2xx answer is success; network errors, 429 and 5xx are retried with doubling pauses, all within
    the action's ``timeout``. The operator's outbound policy applies as for notify.
    """

    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2048)
    """Where to POST (https, or http when the operator allows it)."""
    signing_secret_ref: SecretKeySelector
    """Secret key holding the shared signing secret (only Secret names the operator may read)."""
    retries: int = Field(default=2, ge=0, le=5)
    """Attempts after the first one, for network errors, 429 and 5xx answers."""
    backoff: Duration = "1s"
    """Pause before the first retry; doubled before each next one."""


_SETTINGS = ("scale", "deletePod", "adjustResources", "notify", "retrain", "suspendRule", "job", "webhook")
_NEEDS_SETTINGS = ("scale", "notify", "retrain", "job", "webhook")


class Action(ApiModel):
    """One step of the escalation ladder."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            *(
                rule(
                    f"!has(self.{name}) || self.type == '{name}'",
                    f"{name} is set but type is not {name}",
                    message_expression=f"'{name} is set but type is ' + self.type",
                    field_path=f".{name}",
                )
                for name in _SETTINGS
            ),
            *(
                rule(f"self.type != '{name}' || has(self.{name})", f"type {name} needs its settings in {name}")
                for name in _NEEDS_SETTINGS
            ),
        )
    )

    name: str | None = Field(default=None, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    """Step name for status and events; defaults to the type and index."""
    type: ActionType
    """What to do; the sub-object of the same name holds its settings."""
    timeout: Duration = "2m"
    """Longest the action itself may take, for every type; a step not done within it is Failed (timed out) and the ladder escalates."""
    verify: Verify = nested(Verify)
    """How success is checked before escalating."""
    scale: ScaleAction | None = None
    """Settings for type scale."""
    delete_pod: DeletePodAction | None = None
    """Settings for type deletePod."""
    adjust_resources: AdjustResourcesAction | None = None
    """Settings for type adjustResources."""
    notify: NotifyAction | None = None
    """Settings for type notify."""
    retrain: RetrainAction | None = None
    """Settings for type retrain."""
    suspend_rule: SuspendRuleAction | None = None
    """Settings for type suspendRule."""
    job: JobAction | None = None
    """Settings for type job."""
    webhook: WebhookAction | None = None
    """Settings for type webhook."""

    @model_validator(mode="after")
    def _settings_match_type(self) -> Action:
        settings = {
            "scale": self.scale,
            "deletePod": self.delete_pod,
            "adjustResources": self.adjust_resources,
            "notify": self.notify,
            "retrain": self.retrain,
            "suspendRule": self.suspend_rule,
            "job": self.job,
            "webhook": self.webhook,
        }
        for name, value in settings.items():
            if value is not None and name != self.type:
                raise ValueError(f"{name} is set but type is {self.type}")
        if self.type in _NEEDS_SETTINGS and settings[self.type] is None:
            raise ValueError(f"type {self.type} needs its settings in {self.type}")
        return self


class CircuitBreaker(ApiModel):
    """Stop acting when acting does not help."""

    max_unverified: int = Field(default=3, ge=1, le=100)
    """Executions in a row that did not resolve the anomaly before the playbook is Suspended."""


class Guardrails(ApiModel):
    """Limits on how often and how hard the playbook acts."""

    cooldown: Duration = "10m"
    """Least time between two executions on the same target."""
    max_executions: int = Field(default=3, ge=1, le=1000)
    """Executions allowed per window."""
    window: Duration = "1h"
    """The window of maxExecutions."""
    min_healthy: IntOrPercent = 1
    """Ready pods that must remain; a deletePod or restart (by its update strategy) that would leave fewer is Refused."""
    circuit_breaker: CircuitBreaker = nested(CircuitBreaker)
    """Suspend after repeated failures."""
    suppress_during_rollout: bool = True
    """Do nothing while the target is rolling out or retraining."""


class Approval(ApiModel):
    """Human approval before acting."""

    required: bool = False
    """Wait in AwaitingApproval for the mlaiops.dev/approve: <execution-id> annotation, or an Approve in chat (notify actions carry Approve / Reject buttons; docs/approvals.md)."""
    timeout: Duration = "1h"
    """The execution expires if not approved within this time."""


class Silence(ApiModel):
    """A maintenance window: from start to end the playbook starts no execution and sends no incident
    notification, and says so (Refused executions with reason Silenced; Suppressed notifications)."""

    name: str = Field(min_length=1, max_length=63)
    """Name, for status and events."""
    start: datetime
    """When it begins (RFC 3339)."""
    end: datetime
    """When it ends (RFC 3339); after start."""
    comment: str = Field(default="", max_length=1024)
    """Why, for people."""

    @model_validator(mode="after")
    def _ordered(self) -> Silence:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) must be after start ({self.start.isoformat()})")
        return self


class IncidentSettings(ApiModel):
    """How anomalies are grouped into Incidents."""

    correlation_window: Duration = "10m"
    """Anomalies on related objects that begin within this time of an incident's first anomaly belong to it; one that fires again within this time after resolving (flapping) stays in it."""
    max_hops: int = Field(default=3, ge=0, le=6)
    """How far apart in the topology (ModelDeployment, its Deployments, Pods, Services, HPA, HTTPRoute; RetrainPolicies; AnomalyRules and their targets) two anomalies' objects may be to join one incident."""
    notify: NotifyAction | None = None
    """Where to announce incidents: once when one opens and once when it has stayed resolved for correlationWindow, never per anomaly."""
    silences: list[Silence] | None = Field(default=None, max_length=20)
    """Maintenance windows: no new execution and no incident notification while one is active."""


class RemediationPlaybookSpec(ApiModel):
    """Desired state of a RemediationPlaybook."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.target) || self.target.kind == 'ModelDeployment' || self.actions.all(a, a.type != 'rollback')",
                "rollback acts only on a ModelDeployment (it restores the last promoted model)",
                message_expression="'rollback acts only on a ModelDeployment (it restores the last promoted model); "
                "spec.target.kind is ' + self.target.kind",
                field_path=".actions",
            )
        )
    )

    triggers: list[Trigger] = Field(min_length=1, max_length=20)
    """Signals that start the playbook; any one is enough."""
    target: WorkloadReference | None = None
    """Act on this workload; when empty, on the target of the anomaly's rule."""
    actions: list[Action] = Field(
        min_length=1,
        max_length=10,
        json_schema_extra=validations(
            rule(
                "self.all(a, !has(a.name) || self.exists_one(b, has(b.name) && b.name == a.name))",
                "action names must be unique",
            )
        ),
    )
    """The escalation ladder, run in order until one step is verified."""
    guardrails: Guardrails = nested(Guardrails)
    """Rate limits and safety checks."""
    approval: Approval = nested(Approval)
    """Human approval."""
    incident: IncidentSettings = nested(IncidentSettings)
    """Incident correlation."""
    dry_run: bool = False
    """Record what would be done without doing it."""
    suspend: bool = False
    """Do not start new executions."""

    @model_validator(mode="after")
    def _unique_step_names(self) -> RemediationPlaybookSpec:
        names = [action.name for action in self.actions if action.name]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"action names must be unique: {', '.join(duplicates)}")
        return self


# --- status ------------------------------------------------------------------------------------


class StepRecord(ApiModel):
    """What one step did."""

    action: str
    """Step name."""
    target: str | None = None
    """kind/name it acted on."""
    started_at: datetime | None = None
    """When it started."""
    finished_at: datetime | None = None
    """When it finished."""
    result: Literal["Running", "Succeeded", "Failed", "DryRun", "Skipped", "Refused"]
    """How it ended."""
    message: str = ""
    """Details."""
    verified: bool | None = None
    """Whether the anomaly was seen resolved within verify.within of finishedAt while the step's effect held (e.g. the replicas it asked for Ready)."""
    params: dict[str, str] | None = None
    """Absolute values decided before acting (e.g. replicas, pod), so a resumed step repeats the same change."""


class ApprovalRecord(ApiModel):
    """The human decision an execution waited for, who took it, and the requests sent for it."""

    decision: Literal["Approved", "Rejected"] | None = None
    """The decision, once taken."""
    via: Literal["annotation", "slack"] | None = None
    """How it came: the mlaiops.dev/approve annotation, or a button in Slack."""
    user: str | None = None
    """The Kubernetes identity that decided (Slack: the one its user maps to, checked by a SubjectAccessReview); unknown for the annotation, whose writer the API server's audit log names."""
    slack_user: str | None = None
    """The Slack user who pressed the button: id and, after a space, the user name."""
    decided_at: datetime | None = None
    """When the decision was taken."""
    requests: list[StepRecord] | None = Field(default=None, max_length=10)
    """Approval requests with Approve / Reject buttons sent through the playbook's notify actions (one per action)."""


class ExecutionRecord(ApiModel):
    """One execution of the playbook; written before its first action."""

    id: str
    """Execution id (for approvals)."""
    trigger: str = ""
    """Rule or alert that started it."""
    fingerprint: str | None = None
    """Fingerprint of the anomaly."""
    incident: str | None = None
    """Incident it belongs to."""
    target: str | None = None
    """kind/name it acts on."""
    state: Literal[
        "Pending",
        "AwaitingApproval",
        "Running",
        "Verifying",
        "Succeeded",
        "Failed",
        "Expired",
        "Refused",
        "Rejected",
        "DryRun",
    ]
    """Where the execution is."""
    reason: str | None = None
    """CamelCase reason of the last transition (e.g. Verified, AwaitingEffect, Exhausted, Unverified, VerificationExpired, OutOfScope)."""
    message: str | None = None
    """Details of the last transition."""
    since: datetime | None = None
    """When the triggering anomaly or alert began firing."""
    started_at: datetime | None = None
    """When it started."""
    finished_at: datetime | None = None
    """When it ended."""
    steps: list[StepRecord] | None = None
    """Steps run so far."""
    approval: ApprovalRecord | None = None
    """Approval (spec.approval.required): the requests sent and who decided."""


class PendingEvent(ApiModel):
    """A Kubernetes Event decided by a pass and written here before it is posted; removed once posted."""

    key: str = Field(max_length=512)
    """Stable key of the transition (execution id, step, reason); the Event's name derives from it, so posting twice creates one Event."""
    type: Literal["Normal", "Warning"]
    """Event type."""
    reason: str = Field(max_length=128)
    """Event reason."""
    message: str = Field(default="", max_length=4096)
    """Event message."""
    about: list[str] | None = Field(default=None, max_length=10)
    """Other objects it concerns besides the playbook (rule:<namespace>/<name>, target:<namespace>/<kind>/<name>)."""
    time: datetime
    """When the transition happened."""


class SuspendedRule(ApiModel):
    """An AnomalyRule muted by a suspendRule step."""

    rule: str
    """namespace/name of the rule."""
    until: datetime
    """When its triggers count again."""


class RemediationPlaybookStatus(ApiModel):
    """Observed state of a RemediationPlaybook."""

    state: Literal["Idle", "Running", "AwaitingApproval", "CoolingDown", "Suspended", "Invalid"] | None = None
    """Short summary for printer columns."""
    observed_generation: int | None = None
    """The spec generation this status describes."""
    executions: list[ExecutionRecord] | None = Field(default=None, max_length=50)
    """Executions, newest first (bounded)."""
    total_executions: int | None = None
    """Executions since creation."""
    verified_executions: int | None = None
    """Executions that fixed the problem."""
    consecutive_unverified: int | None = None
    """Executions in a row that did not (circuit breaker input)."""
    last_execution_time: datetime | None = None
    """When the newest execution started."""
    last_action: str | None = None
    """The newest step, for printer columns."""
    circuit_opened_at: datetime | None = None
    """When the circuit breaker opened; reset by a spec change."""
    notifications: list[StepRecord] | None = Field(default=None, max_length=20)
    """Notify steps run when the circuit breaker opened."""
    suspended_rules: list[SuspendedRule] | None = Field(default=None, max_length=50)
    """AnomalyRules whose triggers this playbook ignores for a while (suspendRule; the rule itself is untouched)."""
    pending_events: list[PendingEvent] | None = Field(default=None, max_length=200)
    """Events of transitions already recorded here but not yet posted (e.g. the operator stopped in between); the next pass posts them."""
    conditions: Conditions | None = None
    """Ready, Suspended, ResolvedRefs."""
