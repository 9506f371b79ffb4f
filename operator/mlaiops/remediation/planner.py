"""One pass over a RemediationPlaybook, pure: from spec, status, signals and rule states to steps and a status.

The pass runs in the order an operator restart must be able to resume: first the executions
already in status are driven as far as facts allow, then firing signals that no execution covers
start new ones (or are refused, visibly), then the circuit breaker, then the summary.

Acting needs the cluster, so the planner is a generator: it yields each ``Step`` the controller
must carry out and receives the step's ``Outcome``. Between yields it only changes ``status``,
which the controller writes before every step it carries out, so an execution is in status before
its first action, a step is Running (with the absolute values it will set) before it acts, and its
result is written right after. ``Planner.run`` returns the events to emit, each with a key that is
stable across passes and restarts (the controller names the Kubernetes Event after it, so a repeat
is a no-op); time comes in as ``now`` and as each outcome's ``at``, never from the clock.

Verification is decided here from observations only: whether the anomaly resolved (the rule's
status) and whether the last step's effect holds (``Facts.effects``, read by the controller for the
steps ``needs_effect_check`` names, judged by ``mlaiops.remediation.effects``).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from mlaiops.api.annotations import APPROVE_ANNOTATION
from mlaiops.api.common import Condition, seconds
from mlaiops.api.remediationplaybook import (
    Action,
    ExecutionRecord,
    RemediationPlaybookSpec,
    RemediationPlaybookStatus,
    StepRecord,
    SuspendedRule,
)
from mlaiops.remediation import approvals, effects, guardrails, ladder
from mlaiops.remediation.effects import Observed
from mlaiops.remediation.incidents import Signal, covering_execution, incident_name
from mlaiops.remediation.signals import parse_time

JSON = dict[str, Any]
MAX_EXECUTIONS_KEPT = 50
RETRY_WINDOW = timedelta(seconds=60)
"""How long a step keeps retrying transient API errors before it counts as Failed."""
NOT_REPEATABLE = frozenset({"webhook"})
"""Action types whose effect cannot be read back: a step of them found Running after a restart may have
acted already, so it is never carried out again (at most once per step); it is recorded Failed."""

Target = tuple[str, str, str]
"""(namespace, kind, name) of the workload a step acts on."""


@dataclass(frozen=True)
class Facts:
    """What the controller read from the cluster for this pass."""

    signals: list[Signal]
    """Firing signals that match a trigger, earliest first."""
    rules: dict[str, JSON] = field(default_factory=dict)
    """AnomalyRule objects by namespace/name: every matched rule and the rule of every unfinished execution."""
    alerts: dict[str, Signal] = field(default_factory=dict)
    """Alertmanager alerts by fingerprint (firing or resolved)."""
    busy: dict[Target, str] = field(default_factory=dict)
    """Why a target is changing on its own (rolling out, retraining), for targets that are."""
    approve: str | None = None
    """The playbook's approve annotation (an execution id)."""
    effects: dict[tuple[str, int], Observed] = field(default_factory=dict)
    """What the target of each step awaiting verification shows, by (execution id, step index); read
    after the step finished (``needs_effect_check`` says which)."""
    decisions: dict[str, approvals.Decision] = field(default_factory=dict)
    """Verified decisions taken in chat, by execution id (the mlaiops.dev/approvals annotation)."""
    silenced: str | None = None
    """The active silence (spec.incident.silences) that holds new executions back, if one is active."""
    incidents: dict[tuple[str, str], str] = field(default_factory=dict)
    """The Incident each firing signal joined, by (rule, fingerprint) (``remediation/correlation.py``): related
    signals start no execution of their own while one of their incident's handles them (``handled``)."""


@dataclass(frozen=True)
class Step:
    """Something the controller must do against the cluster, then report as an ``Outcome``.

    ``prepare``: decide the step's absolute values (``Outcome.params``), reading only.
    ``act``: apply ``params``. ``notify``: post ``text`` (the circuit breaker opened).
    ``approval``: post the approval request with Approve / Reject buttons through notify action ``index``.
    """

    kind: Literal["prepare", "act", "notify", "approval"]
    execution: str
    index: int
    action: Action
    target: Target
    reason: str
    """The value a rollback or retrain request carries (one per execution)."""
    params: dict[str, str] = field(default_factory=dict)
    text: str = ""
    trigger: str = ""
    """The execution's trigger (``rule:<namespace>/<name>`` or ``alert:<name>``), for job and webhook."""
    fingerprint: str = ""
    incident: str = ""

    @property
    def target_name(self) -> str:
        return f"{self.target[1]}/{self.target[2]}"


@dataclass(frozen=True)
class Outcome:
    """How a step went. ``Retry``: a transient API error; the step is tried again at the next pass.
    ``Pending``: the action started and is not done yet (a Job running); the step stays Running and is
    carried out again at the next pass, until its timeout."""

    result: Literal["Succeeded", "Failed", "Refused", "Retry", "Pending"]
    message: str = ""
    at: datetime | None = None
    """When the step returned (the controller's clock); the pass's ``now`` when not given."""
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event on the playbook and on the objects named in ``about``.

    ``about`` holds ``rule:<namespace>/<name>`` and ``target:<namespace>/<kind>/<name>`` references.
    """

    type: str
    reason: str
    message: str
    about: tuple[str, ...] = ()
    key: str = ""
    """Stable across passes and restarts: ``<execution id>/<step index>/<reason>`` and the like."""


class RetryLater(Exception):
    """A step met a transient error: the execution goes on at the next pass."""


def target_of(spec: RemediationPlaybookSpec, signal: Signal, namespace: str) -> Target | None:
    """(namespace, kind, name) to act on: spec.target in the playbook's namespace, else the rule's target."""
    if spec.target is not None:
        return namespace, spec.target.kind, spec.target.name
    if signal.target_kind and signal.target_name:
        return signal.namespace or namespace, signal.target_kind, signal.target_name
    return None


def target_key(playbook_namespace: str, target: Target) -> str:
    """kind/name in status; namespace/kind/name for a target outside the playbook's namespace (refused)."""
    namespace, kind, name = target
    return f"{kind}/{name}" if namespace == playbook_namespace else f"{namespace}/{kind}/{name}"


def is_resolved(execution: ExecutionRecord, facts: Facts) -> bool:
    """Whether the anomaly that started ``execution`` no longer fires (from the rule's status)."""
    if execution.trigger.startswith("alert:"):
        alert = facts.alerts.get(execution.fingerprint or "")
        return alert is not None and not alert.firing
    rule = facts.rules.get(execution.trigger.removeprefix("rule:"))
    if rule is None:
        return True  # the rule was deleted: nothing fires any more
    status = rule.get("status") or {}
    if status.get("state") in ("Error", "NoData", None):
        return False  # we cannot tell; do not claim a fix
    series = next((s for s in status.get("series") or [] if s.get("fingerprint") == execution.fingerprint), None)
    if series is None or series.get("state") != "Firing":
        return True
    return bool(series.get("since")) and parse_time(series["since"]) != execution.since  # fired again: a new episode


def handled(incident: str, since: datetime, executions: list[ExecutionRecord]) -> bool:
    """Whether an execution of ``incident`` covers a signal that began at ``since``: one still running, or one
    that ended after it began. A flap that fires again after the execution ended is in the same incident
    (no new notification) but may start a new execution, as the guardrails allow."""
    return any(
        e.incident == incident and e.state != "Refused" and (e.finished_at is None or since <= e.finished_at)
        for e in executions
    )


def needs_busy_check(
    spec: RemediationPlaybookSpec,
    status: RemediationPlaybookStatus,
    signals: list[Signal],
    namespace: str,
    now: datetime,
) -> set[Target]:
    """Targets to look at (rolling out? retraining?) before this pass may start an execution on them."""
    if not spec.guardrails.suppress_during_rollout:
        return set()
    muted = {s.rule for s in status.suspended_rules or [] if s.until > now}
    wanted = set()
    for signal in signals:
        target = target_of(spec, signal, namespace) if signal.rule not in muted else None
        if target is None or target[0] != namespace or target[1] != "ModelDeployment":
            continue
        if covering_execution(target_key(namespace, target), signal.since, status.executions or []) is None:
            wanted.add(target)
    return wanted


def needs_effect_check(spec: RemediationPlaybookSpec, status: RemediationPlaybookStatus) -> list[tuple[str, int]]:
    """(execution id, step index) of the finished steps awaiting verification whose effect must be observed."""
    wanted = []
    for execution in status.executions or []:
        steps = execution.steps or []
        if execution.state in ladder.FINAL_STATES or not steps or len(steps) > len(spec.actions):
            continue
        last = steps[-1]
        observed = spec.actions[len(steps) - 1].type in effects.OBSERVED_TYPES
        if last.result == "Succeeded" and last.verified is None and observed:
            wanted.append((execution.id, len(steps) - 1))
    return wanted


def request_reason(playbook: str, execution_id: str) -> str:
    """The value a rollback or retrain request of an execution carries (one per execution)."""
    return f"playbook-{playbook}-{execution_id[-14:]}"


def effect_of(spec: RemediationPlaybookSpec, execution: ExecutionRecord, facts: Facts, reason: str) -> effects.Effect:
    """Whether the last step of ``execution`` still has its effect, from the observation made for it."""
    steps = execution.steps or []
    if not steps or len(steps) > len(spec.actions) or steps[-1].result != "Succeeded":
        return effects.HOLDS
    index = len(steps) - 1
    action = spec.actions[index]
    if action.type not in effects.OBSERVED_TYPES:
        return effects.HOLDS
    seen = facts.effects.get((execution.id, index))
    if seen is None:
        return effects.NOT_OBSERVED  # e.g. the step finished in this pass, after the reading
    return effects.judge(action, steps[-1].params or {}, reason, steps[-1].started_at, seen)


def timed_out(action: Action, started: datetime | None, at: datetime) -> bool:
    """Whether a step that started at ``started`` is past its action's ``timeout`` at ``at``."""
    return started is not None and at - started > timedelta(seconds=seconds(action.timeout))


class Planner:
    """One pass over one playbook; ``status`` is the status being built (a copy of the one read)."""

    def __init__(
        self,
        namespace: str,
        name: str,
        generation: int,
        spec: RemediationPlaybookSpec,
        status: RemediationPlaybookStatus,
        facts: Facts,
        now: datetime,
        dry_run: bool = False,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.generation = generation
        self.spec = spec
        self.status = status.model_copy(deep=True)
        self.facts = facts
        self.now = now
        self.dry_run = dry_run or spec.dry_run
        self.events: list[Event] = []

    # the pass ----------------------------------------------------------------------------------

    def run(self) -> Generator[Step, Outcome, list[Event]]:
        """Yield the steps to carry out, in order; return the events."""
        state = self.status
        if state.observed_generation not in (None, self.generation) and state.circuit_opened_at is not None:
            state.circuit_opened_at, state.consecutive_unverified, state.notifications = None, 0, None  # edited
        state.suspended_rules = [s for s in state.suspended_rules or [] if s.until > self.now] or None
        for running in [e for e in state.executions or [] if e.state not in ladder.FINAL_STATES]:
            yield from self.drive(running)
        muted = {s.rule for s in state.suspended_rules or []}
        for signal in self.facts.signals:
            if signal.rule in muted:
                continue
            target = target_of(self.spec, signal, self.namespace)
            if target is None:
                continue
            if covering_execution(target_key(self.namespace, target), signal.since, state.executions or []) is not None:
                continue  # part of an incident an execution already handles or handled
            incident = self.facts.incidents.get((signal.rule, signal.fingerprint))
            if incident and handled(incident, signal.since, state.executions or []):
                continue  # joined an incident (a related object, its Alertmanager group) an execution handles
            execution = self.start(signal, target, incident)
            if execution is not None:
                yield from self.drive(execution)
        yield from self.circuit()
        self.summarise()
        self.bound()
        return self.events

    def bound(self) -> None:
        """Keep at most MAX_EXECUTIONS_KEPT executions: every unfinished one, then the newest finished."""
        executions = self.status.executions or []
        if len(executions) > MAX_EXECUTIONS_KEPT:
            active = [e for e in executions if e.state not in ladder.FINAL_STATES]
            rest = [e for e in executions if e.state in ladder.FINAL_STATES]
            self.status.executions = active + rest[: MAX_EXECUTIONS_KEPT - len(active)]

    def _emit(self, step: Step) -> Step:
        """A step to yield, with status bounded as it will be written."""
        self.bound()
        return step

    # starting ----------------------------------------------------------------------------------

    def start(self, signal: Signal, target: Target, incident: str | None = None) -> ExecutionRecord | None:
        """A new execution for ``signal`` on ``target``, or a Refused record saying why not."""
        namespace, kind, name = target
        tname = target_key(self.namespace, target)
        state = self.status
        executions = state.executions or []
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
            busy = self.facts.busy.get(target) if self.spec.guardrails.suppress_during_rollout else None
            live = [e for e in executions if e.state != "Refused"]
            verdict = guardrails.admit(self.spec, live, state.consecutive_unverified or 0, tname, self.now, busy)
        if verdict.allowed and self.facts.silenced:
            verdict = guardrails.Verdict(False, "Silenced", f"no action during {self.facts.silenced}")
        trigger = f"{'alert' if signal.source == 'Alertmanager' else 'rule'}:{signal.rule}"
        about = (f"rule:{signal.rule}",) if signal.rule in self.facts.rules else ()
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
                state.executions = [refused, *executions]
                self.events.append(
                    Event(
                        "Warning",
                        verdict.reason,
                        f"{signal.rule}: {verdict.message}",
                        about,
                        key=f"{refused.id}/{verdict.reason}",
                    )
                )
            if (refused.reason, refused.message) != (verdict.reason, verdict.message):
                refused.reason, refused.message, refused.finished_at = verdict.reason, verdict.message, self.now
            return None
        if refused is not None:
            executions = [e for e in executions if e is not refused]
        approval = self.spec.approval.required
        execution = ExecutionRecord(
            id=self._new_id(),
            trigger=trigger,
            fingerprint=signal.fingerprint,
            since=signal.since,
            incident=incident or incident_name(self.name, name, signal.since),
            target=tname,
            state="AwaitingApproval" if approval else "Running",
            started_at=self.now,
            reason="AwaitingApproval" if approval else "Started",
            message=f"started by {signal.rule}",
        )
        if approval:
            execution.message = (
                f"approve with: kubectl annotate rpb {self.name} {APPROVE_ANNOTATION}={execution.id} "
                f"(expires after {self.spec.approval.timeout})"
            )
        state.executions = [execution, *executions]
        state.total_executions = (state.total_executions or 0) + 1
        state.last_execution_time = self.now
        self.events.append(
            Event(
                "Normal",
                "AwaitingApproval" if approval else "ExecutionStarted",
                f"execution {execution.id} on {tname} for {signal.rule}" + (" awaits approval" if approval else ""),
                about,
                key=f"{execution.id}/{'AwaitingApproval' if approval else 'ExecutionStarted'}",
            )
        )
        return execution

    def _new_id(self) -> str:
        base = f"{self.name[:40]}-{self.now.strftime('%Y%m%d%H%M%S')}"
        taken = {e.id for e in self.status.executions or []}
        suffix = 0
        while (candidate := f"{base}{f'-{suffix}' if suffix else ''}") in taken:
            suffix += 1
        return candidate

    # driving -----------------------------------------------------------------------------------

    def drive(self, execution: ExecutionRecord) -> Generator[Step, Outcome, None]:
        """Take ``execution`` as far as it can go in this pass."""
        if execution.state == "AwaitingApproval":
            decision = approvals.decided(execution.id, self.facts.approve, self.facts.decisions)
            if decision is not None:  # the annotation's and chat's decisions, one way through
                approvals.apply(execution, decision, self.now)
                if not decision.approved:
                    self.finished(execution)
                    return
                self.events.append(
                    Event(
                        "Normal",
                        "Approved",
                        f"execution {execution.id} approved" + (f" by {decision.who()}" if decision.user else ""),
                        key=f"{execution.id}/Approved",
                    )
                )
            elif ladder.approval_expired(execution, self.spec.approval.timeout, self.now):
                message = f"not approved within {self.spec.approval.timeout}"
                ladder.finish(execution, "Expired", "ApprovalExpired", message, self.now)
                self.events.append(
                    Event(
                        "Warning",
                        "ApprovalExpired",
                        f"execution {execution.id} expired without approval",
                        key=f"{execution.id}/ApprovalExpired",
                    )
                )
                return
            else:
                yield from self.request_approval(execution)
                return
        while True:
            before = execution.state
            effect = effect_of(self.spec, execution, self.facts, self.request_reason(execution))
            move = ladder.progress(self.spec, execution, is_resolved(execution, self.facts), self.now, effect)
            if move.kind == "done":
                if before != execution.state:
                    self.finished(execution)
                return
            if move.kind == "wait":
                return
            assert move.step is not None
            try:
                yield from self.act(execution, move.step, resume=move.kind == "resume")
            except RetryLater:
                return  # the next pass plans again or resumes the Running step

    def request_approval(self, execution: ExecutionRecord) -> Generator[Step, Outcome, None]:
        """Send the approval request once through each notify action (recorded Running before it is sent)."""
        notify_steps = [(i, ladder.step_name(a, i)) for i, a in enumerate(self.spec.actions) if a.type == "notify"]
        for index, name in approvals.unsent_requests(notify_steps, execution):
            record = approvals.begin_request(execution, name, self.now)
            if self.dry_run:
                ladder.end_step(record, "DryRun", "dry run: approval request not sent", self.now)
                continue
            outcome = yield self._emit(
                self._step("approval", execution, index, params={"playbook": self.name, "trigger": execution.trigger})
            )
            result = "Succeeded" if outcome.result == "Succeeded" else "Failed"
            ladder.end_step(record, result, outcome.message, outcome.at or self.now)
            if result == "Failed":
                self.events.append(
                    Event(
                        "Warning",
                        "ApprovalRequestFailed",
                        f"execution {execution.id}: approval request through {name} not sent: {outcome.message}",
                        key=f"{execution.id}/{name}/ApprovalRequestFailed",
                    )
                )

    def _step(
        self,
        kind: Literal["prepare", "act", "notify", "approval"],
        execution: ExecutionRecord,
        index: int,
        **extra: Any,
    ) -> Step:
        namespace = self.namespace
        kind_, _, name = (execution.target or "/").partition("/")
        return Step(
            kind=kind,
            execution=execution.id,
            index=index,
            action=self.spec.actions[index],
            target=(namespace, kind_, name),
            reason=self.request_reason(execution),
            trigger=execution.trigger,
            fingerprint=execution.fingerprint or "",
            incident=execution.incident or "",
            **extra,
        )

    def request_reason(self, execution: ExecutionRecord) -> str:
        return request_reason(self.name, execution.id)

    def act(self, execution: ExecutionRecord, index: int, resume: bool) -> Generator[Step, Outcome, None]:
        """Prepare (unless resuming), record Running, act, record the result."""
        action = self.spec.actions[index]
        if resume:
            record = (execution.steps or [])[-1]
            if timed_out(action, record.started_at, self.now):
                self._end(
                    execution, record, "Failed", self._timeout_message(action, "the step was still running"), self.now
                )
                return
            if action.type in NOT_REPEATABLE:
                message = f"interrupted: the operator stopped while the {action.type} step ran; not repeated"
                self._end(execution, record, "Failed", message, self.now)
                return
        else:
            prepared = yield self._emit(self._step("prepare", execution, index))
            if prepared.result == "Retry":
                raise RetryLater  # nothing was done or recorded yet
            if prepared.result != "Succeeded":
                record = ladder.begin_step(self.spec, execution, index, execution.target or "", self.now)
                ladder.end_step(record, prepared.result, prepared.message, self.now)
                self.events.append(
                    Event(
                        "Warning",
                        f"Step{prepared.result}",
                        f"{record.action} on {record.target}: {record.message}",
                        key=f"{execution.id}/{index}/Step{prepared.result}",
                    )
                )
                return
            record = ladder.begin_step(self.spec, execution, index, execution.target or "", self.now, prepared.params)
        params = record.params or {}
        if self.dry_run:
            described = " ".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "from")
            self._end(execution, record, "DryRun", f"would {action.type} {record.target} {described}".strip(), self.now)
            return
        outcome = yield self._emit(self._step("act", execution, index, params=params))
        at = outcome.at or self.now
        if outcome.result == "Pending":
            if timed_out(action, record.started_at, at):
                self._end(execution, record, "Failed", self._timeout_message(action, outcome.message), at)
                return
            record.message = outcome.message
            raise RetryLater  # the step stays Running: the next pass looks again
        if outcome.result == "Retry":
            if timed_out(action, record.started_at, at):
                self._end(execution, record, "Failed", self._timeout_message(action, outcome.message), at)
                return
            if self.now - (record.started_at or self.now) < RETRY_WINDOW:
                raise RetryLater  # the step stays Running: the next pass resumes it
            self._end(execution, record, "Failed", outcome.message, at)
            return
        message = outcome.message
        if outcome.result == "Succeeded" and timed_out(action, record.started_at, at):
            self._end(
                execution, record, "Failed", self._timeout_message(action, f"it returned only then: {message}"), at
            )
            return
        if outcome.result == "Succeeded" and action.type == "suspendRule":
            message = self.suspend_rule(execution, action.suspend_rule.duration if action.suspend_rule else "1h")
        self._end(execution, record, outcome.result, message, at)

    @staticmethod
    def _timeout_message(action: Action, detail: str) -> str:
        return f"timed out: not finished within timeout {action.timeout} ({detail})"

    def _end(self, execution: ExecutionRecord, record: StepRecord, result: str, message: str, at: datetime) -> None:
        ladder.end_step(record, result, message, at)
        self.status.last_action = f"{record.action}: {record.result}"
        kind, _, name = (execution.target or "/").partition("/")
        self.events.append(
            Event(
                "Normal" if record.result in ("Succeeded", "DryRun") else "Warning",
                f"Step{record.result}",
                f"{execution.id} {record.action} on {record.target}: {record.message}",
                (f"target:{self.namespace}/{kind}/{name}",),
                key=f"{execution.id}/{len(execution.steps or []) - 1}/Step{record.result}",
            )
        )

    def suspend_rule(self, execution: ExecutionRecord, duration: str) -> str:
        """Mute the execution's rule in this playbook's status (the rule itself is untouched)."""
        rule = execution.trigger.removeprefix("rule:")
        until = self.now + timedelta(seconds=seconds(duration))
        kept = [s for s in self.status.suspended_rules or [] if s.rule != rule]
        self.status.suspended_rules = [*kept, SuspendedRule(rule=rule, until=until)]
        return f"triggers from AnomalyRule {rule} ignored until {until.isoformat()} (the rule itself is untouched)"

    def finished(self, execution: ExecutionRecord) -> None:
        state = self.status
        if execution.state == "Succeeded" and execution.reason == "Verified":
            state.verified_executions = (state.verified_executions or 0) + 1
            state.consecutive_unverified = 0
        elif ladder.counts_as_unverified(execution):
            state.consecutive_unverified = (state.consecutive_unverified or 0) + 1
        rule = execution.trigger.removeprefix("rule:")
        about = (f"rule:{rule}",) if rule in self.facts.rules else ()
        kind = "Normal" if execution.state in ("Succeeded", "DryRun") else "Warning"
        self.events.append(
            Event(
                kind,
                f"Execution{execution.state}",
                f"{execution.id}: {execution.message}",
                about,
                key=f"{execution.id}/Execution{execution.state}",
            )
        )

    # circuit breaker ---------------------------------------------------------------------------

    def circuit(self) -> Generator[Step, Outcome, None]:
        """Open the breaker after maxUnverified unverified executions in a row, and send its notifications."""
        state = self.status
        limit = self.spec.guardrails.circuit_breaker.max_unverified
        if state.circuit_opened_at is None and (state.consecutive_unverified or 0) >= limit:
            state.circuit_opened_at = self.now
            state.notifications = [
                StepRecord(action=ladder.step_name(a, i), target=self.name, started_at=self.now, result="Running")
                for i, a in enumerate(self.spec.actions)
                if a.type == "notify"
            ] or None
            self.events.append(
                Event(
                    "Warning",
                    "CircuitOpen",
                    f"{state.consecutive_unverified} executions in a row did not resolve the anomaly; playbook suspended",
                    key=f"circuit/{self.now.isoformat()}/CircuitOpen",
                )
            )
        for record in state.notifications or []:
            if record.result != "Running":
                continue
            index = next((i for i, a in enumerate(self.spec.actions) if ladder.step_name(a, i) == record.action), None)
            last = next((e for e in state.executions or [] if e.state != "Refused"), None)
            if index is None or last is None or self.dry_run:
                ladder.end_step(record, "DryRun" if self.dry_run else "Skipped", "circuit breaker opened", self.now)
                continue
            text = (
                f"RemediationPlaybook {self.namespace}/{self.name} suspended: "
                f"{state.consecutive_unverified} executions in a row did not resolve the anomaly on {last.target}"
            )
            outcome = yield self._emit(self._step("notify", last, index, text=text))
            result = "Succeeded" if outcome.result == "Succeeded" else "Failed"
            ladder.end_step(record, result, outcome.message, outcome.at or self.now)

    # summary -----------------------------------------------------------------------------------

    def summarise(self) -> None:
        """The printer-column state and the Ready and Suspended conditions."""
        state, spec, now = self.status, self.spec, self.now
        live = [e for e in state.executions or [] if e.state != "Refused"]
        cooldown = timedelta(seconds=seconds(spec.guardrails.cooldown))
        last_end = max((e.finished_at for e in live if e.finished_at), default=None)
        if state.circuit_opened_at is not None or spec.suspend:
            summary = "Suspended"
        elif any(e.state == "AwaitingApproval" for e in live):
            summary = "AwaitingApproval"
        elif any(e.state not in ladder.FINAL_STATES for e in live):
            summary = "Running"
        elif last_end is not None and now - last_end < cooldown:
            summary = "CoolingDown"
        else:
            summary = "Idle"
        state.state = summary  # type: ignore[assignment]
        state.observed_generation = self.generation
        if state.circuit_opened_at is not None:
            suspended = ("True", "CircuitOpen", "executions did not resolve the anomaly; edit the playbook to reset")
        elif spec.suspend:
            suspended = ("True", "Suspended", "spec.suspend is true")
        else:
            suspended = ("False", "Active", "")
        ready = (
            "True",
            "DryRun" if self.dry_run else "Ready",
            "dry run: actions are recorded, not performed" if self.dry_run else "",
        )
        previous = {c.type: c for c in state.conditions or []}
        conditions = []
        for kind, (value, reason, message) in (("Ready", ready), ("Suspended", suspended)):
            old = previous.get(kind)
            changed = old is None or old.status != value
            conditions.append(
                Condition(
                    type=kind,
                    status=cast(Literal["True", "False", "Unknown"], value),
                    reason=reason,
                    message=message,
                    last_transition_time=now if changed or old is None else old.last_transition_time,
                    observed_generation=self.generation,
                )
            )
        state.conditions = conditions
