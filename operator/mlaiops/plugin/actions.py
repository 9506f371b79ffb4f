"""The annotations ``approve``, ``rollback`` and ``retrain`` set, and which object an approval is for.

The operator acts on each distinct annotation value once, so requests carry a timestamp. Rollback
and retrain requests go through ``mlaiops.kube_requests``, the module remediation uses too, so the
plugin and a playbook send the same annotation; only the errors are turned into PluginErrors here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from mlaiops import kube_requests
from mlaiops.api.annotations import APPROVE_ANNOTATION, RETRAIN_ANNOTATION, ROLLBACK_ANNOTATION
from mlaiops.api.common import DNS_SUBDOMAIN_PATTERN
from mlaiops.plugin.cluster import Connection, PluginError

JSON = dict[str, Any]
__all__ = ["APPROVE_ANNOTATION", "RETRAIN_ANNOTATION", "ROLLBACK_ANNOTATION", "request_value"]


def request_value(reason: str, now: datetime | None = None) -> str:
    """``<reason>@<UTC timestamp>``: the value of a rollback or retrain request, refusing unusable reasons."""
    try:
        return kube_requests.rollback_value(reason, now)
    except kube_requests.InvalidReason as error:
        raise PluginError(str(error)) from None


def send_request(connection: Connection, kind: str, name: str, reason: str) -> str:
    """Ask for a rollback (ModelDeployment) or a retraining run (RetrainPolicy); returns the annotation value."""
    request = kube_requests.request_rollback if kind == "ModelDeployment" else kube_requests.request_retrain
    namespace = connection.namespace_or_default
    try:
        return request(connection.kube, namespace, name, reason)
    except kube_requests.InvalidReason as error:
        raise PluginError(str(error)) from None
    except ApiException as error:
        if error.status == 404:
            raise PluginError(f"{kind} {name!r} not found in namespace {namespace!r}") from None
        raise


def parse_ref(text: str, kinds: dict[str, str]) -> tuple[str, str]:
    """``md/fraud`` or a bare ``fraud`` -> (``ModelDeployment``, ``fraud``); ``kinds`` maps accepted prefixes
    to the one kind the command acts on, so a bare name is never ambiguous."""
    accepted = ", ".join(sorted({p for p in kinds if "." not in p}))
    prefix, slash, name = text.partition("/")
    if not slash:
        prefix, name = next(iter(kinds)), text
    if not name or prefix.lower() not in kinds:
        raise PluginError(f"expected NAME or TYPE/NAME with TYPE one of {accepted}, got {text!r}")
    if not re.fullmatch(DNS_SUBDOMAIN_PATTERN, name) or len(name) > 253:
        raise PluginError(f"{name!r} is not a valid object name (lowercase letters, digits, '-' and '.')")
    return kinds[prefix.lower()], name


MODEL_DEPLOYMENT = {
    "md": "ModelDeployment",
    "modeldeployment": "ModelDeployment",
    "modeldeployments": "ModelDeployment",
}
RETRAIN_POLICY = {"rtp": "RetrainPolicy", "retrainpolicy": "RetrainPolicy", "retrainpolicies": "RetrainPolicy"}
ANOMALY_RULE = {"ar": "AnomalyRule", "anomalyrule": "AnomalyRule", "anomalyrules": "AnomalyRule"}


@dataclass(frozen=True)
class Approval:
    """The object to annotate for an approval, and what is being approved."""

    kind: str
    namespace: str
    name: str
    what: str
    """``execution`` (a playbook execution) or ``run`` (a manual promotion of a retraining run)."""


def find_approval(ident: str, playbooks: list[JSON], policies: list[JSON]) -> Approval:
    """The playbook execution or retraining run with this id that awaits approval.

    Raises PluginError naming what was found instead (not awaiting, several matches) or what was searched.
    """
    awaiting: list[Approval] = []
    other: list[str] = []
    for playbook in playbooks:
        for execution in (playbook.get("status") or {}).get("executions") or []:
            if execution.get("id") != ident:
                continue
            meta = playbook["metadata"]
            if execution.get("state") == "AwaitingApproval":
                awaiting.append(Approval("RemediationPlaybook", meta.get("namespace", ""), meta["name"], "execution"))
            else:
                other.append(f"execution {ident} of rpb/{meta['name']} is {execution.get('state')}")
    for policy in policies:
        for run in (policy.get("status") or {}).get("runs") or []:
            if run.get("id") != ident:
                continue
            meta = policy["metadata"]
            if run.get("phase") == "AwaitingApproval":
                awaiting.append(Approval("RetrainPolicy", meta.get("namespace", ""), meta["name"], "run"))
            else:
                other.append(f"run {ident} of rtp/{meta['name']} is {run.get('phase')}")
    if len(awaiting) > 1:
        where = ", ".join(f"{a.kind}/{a.name} in {a.namespace}" for a in awaiting)
        raise PluginError(f"{ident} awaits approval in several objects ({where}); pass -n to choose the namespace")
    if awaiting:
        return awaiting[0]
    if other:
        raise PluginError(f"nothing to approve: {'; '.join(other)}, not AwaitingApproval")
    raise PluginError(
        f"no RemediationPlaybook execution or RetrainPolicy run with id {ident!r} "
        f"(searched {len(playbooks)} playbooks and {len(policies)} retrain policies)"
    )
