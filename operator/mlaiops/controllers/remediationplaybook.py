"""RemediationPlaybook controller: firing anomalies and alerts become executions of an escalation ladder.

Where state lives: the playbook's status. Every execution is written there (with an id) before its
first action, every step as Running before it acts (with the absolute values it will set) and with
its result right after; the triggering anomaly's truth is the AnomalyRule's status. Each pass reads
the playbook fresh from the API server, so a restarted operator resumes an execution where the last
write left it: a finished step is never run again, a step left Running re-applies the same values
(unless it is past its action's timeout: then it is recorded Failed, timed out, and the ladder goes on).

Every decision is ``mlaiops.remediation.planner``'s: this module reads (signals, rules, busy targets,
the effect of every step awaiting verification), runs the planner, writes status before every step
it carries out, acts, and posts the events.

Events are posted exactly once across restarts (``mlaiops.remediation.events``): each is written to
``status.pendingEvents`` in the same write as the transition it describes, then posted under a
deterministic name (a 409 AlreadyExists means an earlier, interrupted pass posted it), then removed.

Each playbook has a daemon that runs a level-triggered pass every ``reconcile_interval`` and at once
when woken (``mlaiops.remediation.wake``): an AnomalyRule it triggers on changed state (announced after
the rule's status is written) or Alertmanager alerts arrived. The wake carries no facts, so status
alone still suffices after a restart; the interval is the safety net for a lost wake.

suspendRule never touches the AnomalyRule (its spec belongs to the user): the playbook records the
suspension in its own status and ignores that rule's triggers until it expires.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from mlaiops import API_VERSION, GROUP, VERSION
from mlaiops.api.annotations import APPROVE_ANNOTATION
from mlaiops.api.remediationplaybook import PendingEvent, RemediationPlaybookSpec, RemediationPlaybookStatus
from mlaiops.controllers import alertreceiver, incident, references, settings  # noqa: F401  (alertreceiver: registers the receiver)
from mlaiops.controllers.common import InvalidSpec, invalid_spec_status, parse_status, status_changed, status_patch
from mlaiops.controllers.problems import checked_spec
from mlaiops.kube import JSON, Kube
from mlaiops.metrics import operator as operator_metrics
from mlaiops.remediation import (
    actions,
    approval_notify,
    approvals,
    events,
    extensible,
    ladder,
    outbound,
    signals,
    silences,
    slack_endpoint,
    wake,
)
from mlaiops.remediation.alertmanager import ALERTS
from mlaiops.remediation.effects import Observed
from mlaiops.remediation.incidents import Signal
from mlaiops.remediation.planner import (
    Facts,
    Outcome,
    Planner,
    Step,
    Target,
    needs_busy_check,
    needs_effect_check,
    request_reason,
)

# --- read ------------------------------------------------------------------------------------------


def collect_signals(
    kube: Kube, spec: RemediationPlaybookSpec, namespace: str, alerts: list[Signal]
) -> tuple[list[Signal], dict[str, JSON]]:
    """Firing signals that match a trigger, and the rules they came from (by namespace/name).

    Rules named in ``rules`` are looked up in the playbook's namespace; a ``selector`` matches rules
    in every namespace the operator can see, so that acting outside the playbook's namespace is
    refused visibly (with a reason in status) rather than silently ignored.
    """
    found: list[Signal] = []
    rules: dict[str, JSON] = {}
    everywhere: list[JSON] | None = None
    local: list[JSON] | None = None
    for trigger in spec.triggers:
        if trigger.source != "AnomalyRule":
            found += signals.alert_signals(trigger, alerts)
            continue
        if trigger.selector is not None and everywhere is None:
            everywhere = kube.list(API_VERSION, "AnomalyRule", None)
        if trigger.rules and local is None:
            local = kube.list(API_VERSION, "AnomalyRule", namespace)
        for rule in signals.chosen_rules(trigger, local or [], everywhere or []):
            rules[signals.rule_key(rule)] = rule
            found += signals.rule_signals(trigger, rule)
    return signals.unique(found), rules


def read_facts(
    kube: Kube, body: JSON, spec: RemediationPlaybookSpec, status: RemediationPlaybookStatus, now: datetime
) -> Facts:
    """Everything the planner needs from the cluster: signals, the rules of running executions, busy targets."""
    namespace = body["metadata"]["namespace"]
    # One snapshot for the whole pass: only alerts whose namespace label names this playbook's namespace
    # (or a namespace the operator made cluster-wide), so no tenant's alert drives another's playbook.
    alerts = ALERTS.for_playbook(namespace, settings().alertmanager_clusterwide_namespaces)
    known = {a.fingerprint: a for a in alerts}
    found, rules = collect_signals(kube, spec, namespace, alerts)
    for execution in status.executions or []:
        key = execution.trigger.removeprefix("rule:")
        if execution.state in ladder.FINAL_STATES or key in rules:
            continue
        if execution.trigger.startswith("alert:"):
            # A resolved alert is no longer in the snapshot: its remembered state verifies the step.
            alert = ALERTS.get(execution.fingerprint or "")
            if alert is not None and execution.fingerprint not in known:
                known[alert.fingerprint] = alert
            continue
        rule_namespace, _, name = key.partition("/")
        rule = kube.get(API_VERSION, "AnomalyRule", rule_namespace or namespace, name)
        if rule is not None:  # a deleted rule stays out: nothing fires any more
            rules[key] = rule
    busy = {t: why for t in needs_busy_check(spec, status, found, namespace, now) if (why := target_busy(kube, t))}
    annotations = body["metadata"].get("annotations") or {}
    approve = annotations.get(APPROVE_ANNOTATION)
    decisions = approvals.parse(
        annotations.get(approvals.APPROVALS_ANNOTATION), slack_endpoint.decision_key(settings())
    )
    return Facts(found, rules, known, busy, approve, observe_effects(kube, body, spec, status, now), decisions)


def observe_effects(
    kube: Kube, body: JSON, spec: RemediationPlaybookSpec, status: RemediationPlaybookStatus, now: datetime
) -> dict[tuple[str, int], Observed]:
    """What the target of every finished step awaiting verification shows now (after the step finished)."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    executions = {e.id: e for e in status.executions or []}
    seen: dict[tuple[str, int], Observed] = {}
    for execution_id, index in needs_effect_check(spec, status):
        execution = executions[execution_id]
        step = (execution.steps or [])[index]
        kind, _, target = (execution.target or "/").partition("/")
        reason = request_reason(name, execution_id)
        ctx = actions.Context(kube, namespace, kind, target, spec, spec.actions[index], execution_id, reason, now=now)
        try:
            seen[(execution_id, index)] = actions.observe(ctx, step.params or {})
        except ApiException as error:  # not observed: the step is not credited on a guess
            seen[(execution_id, index)] = Observed(error=f"API error {error.status}: {error.reason}")
        except (KeyError, TypeError, ValueError) as error:  # an object we cannot read: neither crash nor credit
            seen[(execution_id, index)] = Observed(error=f"unreadable target: {error!r}")
    return seen


def target_busy(kube: Kube, target: Target) -> str | None:
    """Why a ModelDeployment is changing on its own (rolling out, retraining), if it is."""
    namespace, _, name = target
    md = kube.get(API_VERSION, "ModelDeployment", namespace, name)
    canary = ((md or {}).get("status") or {}).get("canaryModel")
    if canary:
        return f"rolling out {canary.get('version') or 'a new model'}"
    for policy in kube.list(API_VERSION, "RetrainPolicy", namespace):
        if ((policy.get("spec") or {}).get("modelDeploymentRef") or {}).get("name") != name:
            continue
        active = [r for r in (policy.get("status") or {}).get("runs") or [] if r.get("phase") in ("Pending", "Running")]
        if active:
            return f"retraining (RetrainPolicy {policy['metadata']['name']} run {active[0].get('id')})"
    return None


# --- act -------------------------------------------------------------------------------------------


def transient(error: ApiException) -> bool:
    """Server-side and concurrency errors pass (5xx, 409 Conflict, 429); 4xx mistakes do not."""
    return not error.status or error.status >= 500 or error.status in (409, 429)


def carry_out(
    step: Step, kube: Kube, prometheus: Any, spec: RemediationPlaybookSpec, now: datetime, playbook: JSON | None = None
) -> Outcome:
    """Do one step against the cluster and say how it went (errors become outcomes, never exceptions)."""
    namespace, kind, name = step.target
    ctx = actions.Context(
        kube,
        namespace,
        kind,
        name,
        spec,
        step.action,
        step.execution,
        step.reason,
        prometheus,
        now,
        outbound_policy=outbound.Policy.from_settings(settings()),
        playbook=playbook,
        index=step.index,
        trigger=step.trigger,
        fingerprint=step.fingerprint,
        incident=step.incident,
    )
    extended = step.action.type in extensible.TYPES and step.kind != "notify"
    try:
        if step.kind == "prepare":
            return Outcome("Succeeded", params=extensible.plan(ctx) if extended else actions.plan(ctx))
        if step.kind == "notify":
            message = actions.notify(ctx, step.text, {"event": "CircuitOpen"})
        elif step.kind == "approval":
            message = approval_notify.send(
                ctx, approval_notify.pending(ctx, step.params["playbook"], step.params.get("trigger"))
            )
        else:
            message = extensible.run(ctx, step.params) if extended else actions.run(ctx, step.params)
        return Outcome("Succeeded", message, at=datetime.now(UTC))
    except actions.ActionPending as error:
        return Outcome("Pending", str(error), at=datetime.now(UTC))
    except actions.ActionRefused as error:
        return Outcome("Refused", str(error), at=datetime.now(UTC))
    except actions.ActionError as error:
        return Outcome("Failed", str(error), at=datetime.now(UTC))
    except ApiException as error:
        message = f"API error {error.status}: {error.reason}"
        retry = transient(error) and step.kind not in ("notify", "approval")
        return Outcome("Retry" if retry else "Failed", message, at=datetime.now(UTC))


def event_objects(kube: Kube, body: JSON, about: list[str], rules: dict[str, JSON]) -> list[JSON]:
    """The playbook and the objects an event concerns (a vanished rule or target is left out; one that could
    not be read raises, so the event is not taken for posted on a passing API error)."""
    objects = [body]
    for ref in about:
        what, _, key = ref.partition(":")
        try:
            if what == "rule":
                rule_namespace, _, rule_name = key.partition("/")
                obj = rules.get(key) or kube.get(API_VERSION, "AnomalyRule", rule_namespace, rule_name)
            elif what == "target":
                namespace, kind, name = key.split("/", 2)
                obj = kube.get(API_VERSION if kind == "ModelDeployment" else "apps/v1", kind, namespace, name)
            else:
                obj = None
        except ApiException as error:
            if error.status != 404:
                raise  # unknown, not vanished: post_events keeps the event for the next pass if transient
            obj = None
        objects += [obj] if obj else []
    return objects


def post_events(
    kube: Kube, body: JSON, pending: list[PendingEvent], rules: dict[str, JSON], logger: Any
) -> list[PendingEvent]:
    """Post each pending event on its objects under its deterministic name; returns those still to post.

    409 AlreadyExists: an interrupted earlier pass posted it. A transient error keeps the event for
    the next pass; any other error drops it (logged): a refused Event must not block the rest.
    """
    owner = str(body["metadata"].get("uid") or f"{body['metadata']['namespace']}/{body['metadata']['name']}")
    left = []
    for record in pending:
        try:
            for obj in event_objects(kube, body, record.about or [], rules):
                try:
                    kube.create(events.event_object(record, owner, obj))
                except ApiException as error:
                    if error.status != 409:
                        raise
            logger.info("%s: %s", record.reason, record.message)
        except ApiException as error:
            if transient(error):
                left.append(record)
            else:
                logger.warning("event %s dropped: API error %s: %s", record.key, error.status, error.reason)
    return left


# --- the pass --------------------------------------------------------------------------------------

# Passes block on the API (and a webhook step on its receiver, within its timeout): they run on threads
# of their own so playbooks and the other controllers' handlers never starve each other.
PASSES = ThreadPoolExecutor(max_workers=8, thread_name_prefix="playbook")
RETRY_AFTER_ERROR = 5.0  # seconds before a pass that raised is tried again (kopf's timer backoff before)


def parsed_spec(spec: Any) -> RemediationPlaybookSpec | None:
    """The playbook's spec for deciding which signals wake it; None (wake on any) when it does not parse."""
    try:
        return RemediationPlaybookSpec.model_validate(dict(spec or {}))
    except ValueError:
        return None


async def woken_or_due(stopped: kopf.DaemonStopped, event: asyncio.Event, delay: float) -> None:
    """Return when the playbook is woken, ``delay`` has passed, or the daemon is stopped."""

    async def stop() -> None:
        await stopped.wait(delay)

    waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


@kopf.daemon(GROUP, VERSION, "remediationplaybooks", cancellation_timeout=10, backoff=5)
async def run_playbook(
    stopped: kopf.DaemonStopped,
    namespace: str | None,
    name: str,
    spec: kopf.Spec,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """A pass now, then one every ``reconcile_interval`` or as soon as a signal the playbook acts on arrives."""
    assert namespace is not None  # a namespaced kind
    loop = asyncio.get_running_loop()
    waiter = wake.WAKEUPS.register(namespace, name, loop)
    one_pass = functools.partial(reconcile, namespace=namespace, name=name, memo=memo, logger=logger)
    try:
        while not stopped:
            waiter.spec = parsed_spec(spec)
            waiter.event.clear()  # a wake from now on (even during the pass) means one more pass
            delay = settings().reconcile_interval
            try:
                # the pass logs through kopf's per-object logger, which needs kopf's context variables
                await loop.run_in_executor(PASSES, contextvars.copy_context().run, one_pass)
            except Exception:  # the daemon outlives a failing pass, as the timer did
                logger.exception("pass failed; trying again in %.0f s", RETRY_AFTER_ERROR)
                delay = RETRY_AFTER_ERROR
            await woken_or_due(stopped, waiter.event, delay)
    finally:
        wake.WAKEUPS.unregister(waiter)


def reconcile(namespace: str | None, name: str, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """One level-triggered pass over a RemediationPlaybook: read, plan, write status before every act."""
    assert namespace is not None  # a namespaced kind
    kube: Kube = memo.kube
    now = datetime.now(UTC)
    body = kube.get(API_VERSION, "RemediationPlaybook", namespace, name)  # the server's status, never a stale copy
    if body is None:
        return
    generation = int(body["metadata"].get("generation", 0))
    try:
        spec = checked_spec(RemediationPlaybookSpec, body)
    except InvalidSpec as error:
        new = invalid_spec_status(error, generation, now.isoformat(), "state", body.get("status"))
        if status_changed({**dict(body.get("status") or {}), **new}, body.get("status")):
            kube.patch(API_VERSION, "RemediationPlaybook", namespace, name, {"status": new}, sub="status")
        logger.warning("invalid spec: %s", error)
        return
    status = parse_status(RemediationPlaybookStatus, body.get("status"))
    facts = read_facts(kube, body, spec, status, now)
    correlated = incident.correlate(kube, body, spec, facts.signals, status.executions or [], now)
    facts = dataclasses.replace(
        facts, incidents=correlated.plan.membership, silenced=silences.active(spec.incident.silences, now)
    )
    dangling = references.check(kube, spec, namespace)
    planner = Planner(namespace, name, generation, spec, status, facts, now, settings().dry_run)
    written = status_patch(status)

    def write() -> None:
        """Write status if it changed, with the events decided so far pending in the same write."""
        nonlocal written
        references.mark(planner.status, dangling, body, now)
        planner.status.pending_events = events.pending(status.pending_events, planner.events, now)
        new = status_patch(planner.status)
        if status_changed(new, written):
            kube.patch(API_VERSION, "RemediationPlaybook", namespace, name, {"status": new}, sub="status")
            before = parse_status(RemediationPlaybookStatus, written)
            operator_metrics.record_playbook(namespace, name, spec, before, planner.status)
            written = new

    steps = planner.run()
    try:
        step = next(steps)
        while True:
            write()  # the execution, and the step Running with its values, are in status before it acts
            step = steps.send(carry_out(step, kube, memo.prometheus, spec, now, body))
    except StopIteration:
        pass
    write()
    incident.update(kube, body, spec, planner.status, correlated, now)
    left = post_events(kube, body, planner.status.pending_events or [], facts.rules, logger)
    status.pending_events = left or None  # what write() starts from
    planner.events.clear()
    write()
