"""RemediationPlaybook controller: firing anomalies and alerts become executions of an escalation ladder.

Where state lives: the playbook's status. Every execution is written there (with an id) before its
first action, every step as Running before it acts (with the absolute values it will set) and with
its result right after; the triggering anomaly's truth is the AnomalyRule's status. Each pass reads
the playbook fresh from the API server, so a restarted operator resumes an execution where the last
write left it: a finished step is never run again, a step left Running re-applies the same values.

The timer is level-triggered (every ``reconcile_interval``). The anomaly bus is not used: a pass
every interval is as fast as the rules' own intervals, and status alone must suffice after a restart.

suspendRule never touches the AnomalyRule (its spec belongs to the user): the playbook records the
suspension in its own status and ignores that rule's triggers until it expires.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION, GROUP, VERSION
from mlaiops.api.common import Condition, seconds
from mlaiops.api.remediationplaybook import (
    ExecutionRecord,
    RemediationPlaybookSpec,
    RemediationPlaybookStatus,
    StepRecord,
    SuspendedRule,
    Trigger,
)
from mlaiops.controllers import settings
from mlaiops.controllers.common import (
    InvalidSpec,
    invalid_spec_status,
    kube,
    parse_spec,
    parse_status,
    prometheus,
    status_changed,
    status_patch,
)
from mlaiops.kube import JSON
from mlaiops.remediation import actions, guardrails, ladder, outbound, receiver
from mlaiops.remediation.alertmanager import ALERTS
from mlaiops.remediation.incidents import Signal, covering_execution, incident_name
from mlaiops.remediation.matching import matches_all, selector_matches, severity_at_least

APPROVE_ANNOTATION = f"{GROUP}/approve"
MAX_EXECUTIONS_KEPT = 50
log = logging.getLogger(__name__)


# --- signals ---------------------------------------------------------------------------------------


def _rule_signals(trigger: Trigger, rule: JSON) -> list[Signal]:
    rspec = rule.get("spec") or {}
    rstatus = rule.get("status") or {}
    meta = rule["metadata"]
    target = rspec.get("target") or {}
    signals = []
    for series in rstatus.get("series") or []:
        if series.get("state") != "Firing" or not series.get("fingerprint") or not series.get("since"):
            continue
        labels = {**(series.get("labels") or {}), **(rspec.get("labels") or {})}
        if not severity_at_least(rspec.get("severity", "warning"), trigger.severity):
            continue
        if not matches_all(trigger.matchers, labels):
            continue
        signals.append(
            Signal(
                source="AnomalyRule",
                rule=f"{meta['namespace']}/{meta['name']}",
                fingerprint=series["fingerprint"],
                since=_time(series["since"]),
                labels=labels,
                severity=rspec.get("severity"),
                namespace=meta["namespace"],
                target_kind=target.get("kind", "ModelDeployment") if target.get("name") else None,
                target_name=target.get("name"),
            )
        )
    return signals


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def collect_signals(spec: RemediationPlaybookSpec, namespace: str) -> tuple[list[Signal], dict[str, JSON]]:
    """Firing signals that match a trigger, and the rules they came from (by namespace/name).

    Rules named in ``rules`` are looked up in the playbook's namespace; a ``selector`` matches rules
    in every namespace the operator can see, so that acting outside the playbook's namespace is
    refused visibly (with a reason in status) rather than silently ignored.
    """
    signals: list[Signal] = []
    rules: dict[str, JSON] = {}
    everywhere: list[JSON] | None = None
    local: list[JSON] | None = None
    for trigger in spec.triggers:
        if trigger.source == "AnomalyRule":
            if trigger.selector is not None and everywhere is None:
                everywhere = kube().list(API_VERSION, "AnomalyRule", None)
            if trigger.rules and local is None:
                local = kube().list(API_VERSION, "AnomalyRule", namespace)
            names = {ref.name for ref in trigger.rules or []}
            chosen = [r for r in local or [] if r["metadata"]["name"] in names]
            chosen += [
                r
                for r in everywhere or []
                if selector_matches(trigger.selector, r["metadata"].get("labels") or {}) and r not in chosen
            ]
            for rule in chosen:
                key = f"{rule['metadata']['namespace']}/{rule['metadata']['name']}"
                rules[key] = rule
                signals += _rule_signals(trigger, rule)
        else:
            for alert in ALERTS.for_playbook(namespace, settings().alertmanager_clusterwide_namespaces):
                if not alert.firing or not severity_at_least(alert.severity, trigger.severity):
                    continue
                if matches_all(trigger.matchers, alert.labels):
                    signals.append(alert)
    unique = {(s.source, s.rule, s.fingerprint): s for s in signals}
    return sorted(unique.values(), key=lambda s: s.since), rules


def is_resolved(execution: ExecutionRecord, rules: dict[str, JSON], namespace: str) -> bool:
    """Whether the anomaly that started ``execution`` no longer fires (from the rule's status)."""
    if execution.trigger.startswith("alert:"):
        alert = ALERTS.get(execution.fingerprint or "")
        return alert is not None and not alert.firing
    rule = rules.get(execution.trigger.removeprefix("rule:"))
    if rule is None:
        namespace_, _, name = execution.trigger.removeprefix("rule:").partition("/")
        rule = kube().get(API_VERSION, "AnomalyRule", namespace_ or namespace, name)
        if rule is None:
            return True  # the rule was deleted: nothing fires any more
    status = rule.get("status") or {}
    if status.get("state") in ("Error", "NoData", None):
        return False  # we cannot tell; do not claim a fix
    series = next((s for s in status.get("series") or [] if s.get("fingerprint") == execution.fingerprint), None)
    if series is None:
        return True
    if series.get("state") != "Firing":
        return True
    return bool(series.get("since")) and _time(series["since"]) != execution.since  # fired again: a new episode


def target_of(spec: RemediationPlaybookSpec, signal: Signal, namespace: str) -> tuple[str, str, str] | None:
    """(namespace, kind, name) to act on: spec.target in the playbook's namespace, else the rule's target."""
    if spec.target is not None:
        return namespace, spec.target.kind, spec.target.name
    if signal.target_kind and signal.target_name:
        return signal.namespace or namespace, signal.target_kind, signal.target_name
    return None


def target_key(playbook_namespace: str, target: tuple[str, str, str]) -> str:
    """kind/name in status; namespace/kind/name for a target outside the playbook's namespace (refused)."""
    namespace, kind, name = target
    return f"{kind}/{name}" if namespace == playbook_namespace else f"{namespace}/{kind}/{name}"


def target_busy(namespace: str, kind: str, name: str) -> str | None:
    """Why the target is changing on its own (rolling out, retraining), if it is."""
    if kind != "ModelDeployment":
        return None
    md = kube().get(API_VERSION, "ModelDeployment", namespace, name)
    canary = ((md or {}).get("status") or {}).get("canaryModel")
    if canary:
        return f"rolling out {canary.get('version') or 'a new model'}"
    for policy in kube().list(API_VERSION, "RetrainPolicy", namespace):
        if ((policy.get("spec") or {}).get("modelDeploymentRef") or {}).get("name") != name:
            continue
        active = [r for r in (policy.get("status") or {}).get("runs") or [] if r.get("phase") in ("Pending", "Running")]
        if active:
            return f"retraining (RetrainPolicy {policy['metadata']['name']} run {active[0].get('id')})"
    return None


# --- the pass --------------------------------------------------------------------------------------


class Pass:
    """One reconcile of one playbook: its spec, the status being built and how it is written."""

    def __init__(self, body: JSON, spec: RemediationPlaybookSpec, status: RemediationPlaybookStatus, now: datetime):
        self.body = body
        self.namespace = body["metadata"]["namespace"]
        self.name = body["metadata"]["name"]
        self.annotations = body["metadata"].get("annotations") or {}
        self.spec = spec
        self.state = status
        self.now = now
        self.written = status_patch(status)
        self.dry_run = spec.dry_run or settings().dry_run
        self.rules: dict[str, JSON] = {}
        self.events: list[tuple[list[JSON], str, str, str]] = []

    # status ------------------------------------------------------------------------------------

    def write(self) -> None:
        """Write status now if it changed (before and after every action)."""
        self.state.executions = self._bounded(self.state.executions or [])
        new = status_patch(self.state)
        if not status_changed(new, self.written):
            return
        kube().patch(API_VERSION, "RemediationPlaybook", self.namespace, self.name, {"status": new}, sub="status")
        self.written = new

    @staticmethod
    def _bounded(executions: list[ExecutionRecord]) -> list[ExecutionRecord]:
        if len(executions) <= MAX_EXECUTIONS_KEPT:
            return executions
        active = [e for e in executions if e.state not in ladder.FINAL_STATES]
        rest = [e for e in executions if e.state in ladder.FINAL_STATES]
        return active + rest[: MAX_EXECUTIONS_KEPT - len(active)]

    def event(self, objects: list[JSON], kind: str, reason: str, message: str) -> None:
        self.events.append(([self.body, *objects], kind, reason, message))

    # executions --------------------------------------------------------------------------------

    def start(self, signal: Signal, target: tuple[str, str, str]) -> None:
        namespace, kind, name = target
        tname = target_key(self.namespace, target)
        executions = self.state.executions or []
        refused = next(
            (
                e
                for e in executions
                if e.state == "Refused" and e.fingerprint == signal.fingerprint and e.since == signal.since
            ),
            None,
        )
        verdict = guardrails.check_scope(self.namespace, namespace, kind)
        if verdict.allowed:
            busy = target_busy(namespace, kind, name) if self.spec.guardrails.suppress_during_rollout else None
            live = [e for e in executions if e.state != "Refused"]
            verdict = guardrails.admit(self.spec, live, self.state.consecutive_unverified or 0, tname, self.now, busy)
        trigger = f"{'alert' if signal.source == 'Alertmanager' else 'rule'}:{signal.rule}"
        if not verdict.allowed:
            if refused is None:
                refused = ExecutionRecord(
                    id=self._new_id(),
                    trigger=trigger,
                    fingerprint=signal.fingerprint,
                    since=signal.since,
                    target=tname,
                    state="Refused",
                    finished_at=self.now,
                )
                self.state.executions = [refused, *executions]
                self.event(self._rule_objects(signal), "Warning", verdict.reason, f"{signal.rule}: {verdict.message}")
            if (refused.reason, refused.message) != (verdict.reason, verdict.message):
                refused.reason, refused.message, refused.finished_at = verdict.reason, verdict.message, self.now
            return
        if refused is not None:
            executions = [e for e in executions if e is not refused]
        approval = self.spec.approval.required
        execution = ExecutionRecord(
            id=self._new_id(),
            trigger=trigger,
            fingerprint=signal.fingerprint,
            since=signal.since,
            incident=incident_name(self.name, name, signal.since),
            target=tname,
            state="AwaitingApproval" if approval else "Running",
            started_at=self.now,
            reason="AwaitingApproval" if approval else "Started",
            message=(
                f"approve with: kubectl annotate rpb {self.name} {APPROVE_ANNOTATION}=<id> (expires after {self.spec.approval.timeout})"
                if approval
                else f"started by {signal.rule}"
            ),
        )
        if approval:
            execution.message = execution.message.replace("<id>", execution.id)  # type: ignore[union-attr]
        self.state.executions = [execution, *executions]
        self.state.total_executions = (self.state.total_executions or 0) + 1
        self.state.last_execution_time = self.now
        self.write()  # the execution exists in status before its first action
        self.event(
            self._rule_objects(signal),
            "Normal",
            "AwaitingApproval" if approval else "ExecutionStarted",
            f"execution {execution.id} on {tname} for {signal.rule}" + (" awaits approval" if approval else ""),
        )
        self.drive(execution)

    def _new_id(self) -> str:
        base = f"{self.name[:40]}-{self.now.strftime('%Y%m%d%H%M%S')}"
        taken = {e.id for e in self.state.executions or []}
        suffix = 0
        while (candidate := f"{base}{f'-{suffix}' if suffix else ''}") in taken:
            suffix += 1
        return candidate

    def _rule_objects(self, signal: Signal) -> list[JSON]:
        rule = self.rules.get(signal.rule)
        return [rule] if rule else []

    def drive(self, execution: ExecutionRecord) -> None:
        """Take ``execution`` as far as it can go in this pass."""
        if execution.state == "AwaitingApproval":
            if self.annotations.get(APPROVE_ANNOTATION) == execution.id:
                execution.state, execution.reason, execution.message = "Running", "Approved", "approved by annotation"
                self.event([], "Normal", "Approved", f"execution {execution.id} approved")
            elif ladder.approval_expired(execution, self.spec.approval.timeout, self.now):
                ladder.finish(
                    execution,
                    "Expired",
                    "ApprovalExpired",
                    f"not approved within {self.spec.approval.timeout}",
                    self.now,
                )
                self.event([], "Warning", "ApprovalExpired", f"execution {execution.id} expired without approval")
                return
            else:
                return
        while True:
            resolved = is_resolved(execution, self.rules, self.namespace)
            before = execution.state
            move = ladder.progress(self.spec, execution, resolved, self.now)
            if move.kind == "done":
                if before != execution.state:
                    self.finished(execution)
                return
            if move.kind == "wait":
                return
            assert move.step is not None
            try:
                self.act(execution, move.step, resume=move.kind == "resume")
            except RetryLater:
                return  # a transient API error: the next pass plans again or resumes the Running step

    def _context(self, execution: ExecutionRecord, index: int) -> actions.Context:
        kind, _, name = (execution.target or "/").partition("/")
        return actions.Context(
            kube=kube(),
            namespace=self.namespace,
            kind=kind,
            name=name,
            spec=self.spec,
            action=self.spec.actions[index],
            execution=execution.id,
            reason=f"playbook-{self.name}-{execution.id[-14:]}",
            prometheus=prometheus(),
            now=self.now,
            outbound_policy=outbound.Policy.from_settings(settings()),
        )

    def act(self, execution: ExecutionRecord, index: int, resume: bool) -> None:
        ctx = self._context(execution, index)
        if resume:
            record = (execution.steps or [])[-1]
        else:
            try:
                params = actions.plan(ctx)
            except ApiException as error:
                if transient(error):
                    raise RetryLater from error  # nothing was done or recorded yet
                record = ladder.begin_step(self.spec, execution, index, ctx.target, self.now)
                ladder.end_step(record, "Failed", _message(error), self.now)
                self.write()
                self.event([], "Warning", "StepFailed", f"{record.action} on {ctx.target}: {record.message}")
                return
            except (actions.ActionError, actions.ActionRefused) as error:
                record = ladder.begin_step(self.spec, execution, index, ctx.target, self.now)
                result = "Refused" if isinstance(error, actions.ActionRefused) else "Failed"
                ladder.end_step(record, result, _message(error), self.now)
                self.write()
                self.event([], "Warning", f"Step{result}", f"{record.action} on {ctx.target}: {record.message}")
                return
            record = ladder.begin_step(self.spec, execution, index, ctx.target, self.now, params)
            self.write()  # the step is Running in status before it acts
        params = record.params or {}
        if self.dry_run:
            ladder.end_step(
                record, "DryRun", f"would {ctx.action.type} {ctx.target} {_describe(params)}".strip(), self.now
            )
        else:
            try:
                message = actions.run(ctx, params)
                if ctx.action.type == "suspendRule":
                    message = self.suspend_rule(
                        execution, ctx.action.suspend_rule.duration if ctx.action.suspend_rule else "1h"
                    )
                ladder.end_step(record, "Succeeded", message, datetime.now(UTC))
            except actions.ActionRefused as error:
                ladder.end_step(record, "Refused", str(error), datetime.now(UTC))
            except ApiException as error:
                if transient(error) and self.now - (record.started_at or self.now) < RETRY_WINDOW:
                    raise RetryLater from error  # the step stays Running: the next pass resumes it
                ladder.end_step(record, "Failed", _message(error), datetime.now(UTC))
            except actions.ActionError as error:
                ladder.end_step(record, "Failed", _message(error), datetime.now(UTC))
        self.state.last_action = f"{record.action}: {record.result}"
        self.write()  # the step's result is in status right after it acted
        target = self._target_object(ctx)
        kind = "Normal" if record.result in ("Succeeded", "DryRun") else "Warning"
        self.event(
            target, kind, f"Step{record.result}", f"{execution.id} {record.action} on {ctx.target}: {record.message}"
        )

    def _target_object(self, ctx: actions.Context) -> list[JSON]:
        api_version = API_VERSION if ctx.kind == "ModelDeployment" else "apps/v1"
        try:
            obj = kube().get(api_version, ctx.kind, ctx.namespace, ctx.name)
        except ApiException:
            return []
        return [obj] if obj else []

    def suspend_rule(self, execution: ExecutionRecord, duration: str) -> str:
        rule = execution.trigger.removeprefix("rule:")
        until = self.now + timedelta(seconds=seconds(duration))
        kept = [s for s in self.state.suspended_rules or [] if s.rule != rule]
        self.state.suspended_rules = [*kept, SuspendedRule(rule=rule, until=until)]
        return f"triggers from AnomalyRule {rule} ignored until {until.isoformat()} (the rule itself is untouched)"

    def finished(self, execution: ExecutionRecord) -> None:
        if execution.state == "Succeeded" and execution.reason == "Verified":
            self.state.verified_executions = (self.state.verified_executions or 0) + 1
            self.state.consecutive_unverified = 0
        elif ladder.counts_as_unverified(execution):
            self.state.consecutive_unverified = (self.state.consecutive_unverified or 0) + 1
        self.write()
        kind = "Normal" if execution.state in ("Succeeded", "DryRun") else "Warning"
        rule = self.rules.get(execution.trigger.removeprefix("rule:"))
        self.event([rule] if rule else [], kind, f"Execution{execution.state}", f"{execution.id}: {execution.message}")

    # circuit breaker ---------------------------------------------------------------------------

    def circuit(self) -> None:
        limit = self.spec.guardrails.circuit_breaker.max_unverified
        if self.state.circuit_opened_at is None and (self.state.consecutive_unverified or 0) >= limit:
            self.state.circuit_opened_at = self.now
            self.state.notifications = [
                StepRecord(action=ladder.step_name(a, i), target=f"{self.name}", started_at=self.now, result="Running")
                for i, a in enumerate(self.spec.actions)
                if a.type == "notify"
            ] or None
            self.write()
            self.event(
                [],
                "Warning",
                "CircuitOpen",
                f"{self.state.consecutive_unverified} executions in a row did not resolve the anomaly; playbook suspended",
            )
        for record in self.state.notifications or []:
            if record.result != "Running":
                continue
            index = next(i for i, a in enumerate(self.spec.actions) if ladder.step_name(a, i) == record.action)
            last = next((e for e in self.state.executions or [] if e.state != "Refused"), None)
            ctx = self._context(last, index) if last else None
            if ctx is None or self.dry_run:
                ladder.end_step(record, "DryRun" if self.dry_run else "Skipped", "circuit breaker opened", self.now)
                continue
            text = (
                f"RemediationPlaybook {self.namespace}/{self.name} suspended: "
                f"{self.state.consecutive_unverified} executions in a row did not resolve the anomaly on {last.target}"
            )
            try:
                message = actions.notify(ctx, text, {"event": "CircuitOpen"})
                ladder.end_step(record, "Succeeded", message, datetime.now(UTC))
            except (actions.ActionError, ApiException) as error:
                ladder.end_step(record, "Failed", _message(error), datetime.now(UTC))
            self.write()

    # summary -----------------------------------------------------------------------------------

    def summarise(self, generation: int) -> None:
        executions = self.state.executions or []
        live = [e for e in executions if e.state != "Refused"]
        cooldown = timedelta(seconds=seconds(self.spec.guardrails.cooldown))
        last_end = max((e.finished_at for e in live if e.finished_at), default=None)
        if self.state.circuit_opened_at is not None or self.spec.suspend:
            state = "Suspended"
        elif any(e.state == "AwaitingApproval" for e in live):
            state = "AwaitingApproval"
        elif any(e.state not in ladder.FINAL_STATES for e in live):
            state = "Running"
        elif last_end is not None and self.now - last_end < cooldown:
            state = "CoolingDown"
        else:
            state = "Idle"
        self.state.state = state  # type: ignore[assignment]
        self.state.observed_generation = generation
        if self.state.circuit_opened_at is not None:
            suspended = ("True", "CircuitOpen", "executions did not resolve the anomaly; edit the playbook to reset")
        elif self.spec.suspend:
            suspended = ("True", "Suspended", "spec.suspend is true")
        else:
            suspended = ("False", "Active", "")
        ready = (
            "True",
            "DryRun" if self.dry_run else "Ready",
            "dry run: actions are recorded, not performed" if self.dry_run else "",
        )
        conditions = []
        previous = {c.type: c for c in self.state.conditions or []}
        for kind, (value, reason, message) in (("Ready", ready), ("Suspended", suspended)):
            old = previous.get(kind)
            changed = old is None or old.status != value
            conditions.append(
                Condition(
                    type=kind,
                    status=value,
                    reason=reason,
                    message=message,  # type: ignore[arg-type]
                    last_transition_time=self.now if changed else old.last_transition_time,
                    observed_generation=generation,
                )
            )
        self.state.conditions = conditions


class RetryLater(Exception):
    """A step met a transient API error; the execution goes on at the next pass."""


# How long a step keeps retrying transient API errors before it counts as Failed.
RETRY_WINDOW = timedelta(seconds=60)


def transient(error: ApiException) -> bool:
    """Server-side and concurrency errors pass (5xx, 409 Conflict, 429); 4xx mistakes do not."""
    return not error.status or error.status >= 500 or error.status in (409, 429)


def _message(error: Exception) -> str:
    if isinstance(error, ApiException):
        return f"API error {error.status}: {error.reason}"
    return str(error)


def _describe(params: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "from")


@kopf.timer(
    GROUP, VERSION, "remediationplaybooks", interval=settings().reconcile_interval, initial_delay=0.1, backoff=5
)
def reconcile(namespace: str, name: str, logger: kopf.Logger, **_: Any) -> None:
    """One level-triggered pass over a RemediationPlaybook."""
    now = datetime.now(UTC)
    body = kube().get(API_VERSION, "RemediationPlaybook", namespace, name)  # the server's status, never a stale copy
    if body is None:
        return
    generation = int(body["metadata"].get("generation", 0))
    try:
        spec = parse_spec(RemediationPlaybookSpec, body.get("spec") or {})
    except InvalidSpec as error:
        new = invalid_spec_status(str(error), generation, now.isoformat())
        if status_changed({**dict(body.get("status") or {}), **new}, body.get("status")):
            kube().patch(API_VERSION, "RemediationPlaybook", namespace, name, {"status": new}, sub="status")
        logger.warning("invalid spec: %s", error)
        return
    current = parse_status(RemediationPlaybookStatus, body.get("status"))
    run = Pass(body, spec, current.model_copy(deep=True), now)
    state = run.state
    if state.observed_generation not in (None, generation) and state.circuit_opened_at is not None:
        state.circuit_opened_at, state.consecutive_unverified, state.notifications = None, 0, None  # edited: reset
    state.suspended_rules = [s for s in state.suspended_rules or [] if s.until > now] or None

    signals, run.rules = collect_signals(spec, namespace)
    for execution in [e for e in state.executions or [] if e.state not in ladder.FINAL_STATES]:
        run.drive(execution)
    muted = {s.rule for s in state.suspended_rules or []}
    for signal in signals:
        if signal.rule in muted:
            continue
        target = target_of(spec, signal, namespace)
        if target is None:
            continue
        if covering_execution(target_key(namespace, target), signal.since, state.executions or []) is not None:
            continue  # part of an incident an execution already handles or handled
        run.start(signal, target)
    run.circuit()
    run.summarise(generation)
    run.write()
    from mlaiops.controllers import incident

    incident.update(run, signals)
    for objects, kind, reason, message in run.events:
        kopf.event(objects, type=kind, reason=reason, message=message)
        logger.info("%s: %s", reason, message)


# --- the Alertmanager receiver (remediation/receiver.py: authenticated, off unless configured) -------


@kopf.on.startup(retries=3, backoff=1)  # a failing start exits (and restarts), never 60 s loops
async def start_receiver(memo: kopf.Memo, **_: Any) -> None:
    """Serve the Alertmanager webhook receiver when a port and a credential are configured."""
    runner = await receiver.start(settings(), ALERTS)
    if runner is not None:
        memo["alertmanager_runner"] = runner


@kopf.on.cleanup(retries=1, backoff=1)
async def stop_receiver(memo: kopf.Memo, **_: Any) -> None:
    runner = memo.get("alertmanager_runner")
    if runner is not None:
        await asyncio.wait_for(runner.cleanup(), timeout=5)
