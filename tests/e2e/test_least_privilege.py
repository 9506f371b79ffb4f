"""Least privilege, proven: the operator's RBAC in manifests/ grants exactly what the e2e suite made it use.

The RBAC checked is manifests/ plus its webhook-self-signed component, whose ClusterRole the webhook
e2e test needs (it runs the operator in kopf's managed webhook mode).

The operator runs as its ServiceAccount with the manifests' ClusterRole and Role enforced by the
sandbox (a missing rule is a 403 and a failing test), and the sandbox audits every request with
its user (the test first checks that no audit record was dropped by the audit's bound or cleared).
This test runs last (conftest orders it) and compares the operator's audited requests
with the grants: every (verb, group, resource[/subresource], scope) used is granted, and, when the
whole e2e directory ran, every grant was used. When the suite runs in parallel (``make test``), the
fault runs and the demo story each play on a cluster of their own; their operators' requests are
shared through files after their last tests, and this test waits for them. kubectl calls made by tests run
as the admin and do not count.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.conftest import (
    ISOLATED_GROUPS,
    OPERATOR_USER,
    WHOLE_SUITE,
    Cluster,
    operator_rbac,
    operator_records,
    wait_for_audit,
)

Grant = tuple[str, str, str, str]  # verb, group, resource[/subresource], scope ("*" = any namespace and cluster)
ANY = "*"


def _bound_roles(docs: list[dict[str, Any]]) -> Iterable[tuple[dict[str, Any], str]]:
    """(role, scope) for every role bound to the operator's ServiceAccount."""
    namespace, name = OPERATOR_USER.split(":")[2:]
    for binding in docs:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        subjects = binding.get("subjects") or []
        if not any(
            s["kind"] == "ServiceAccount" and (s["name"], s.get("namespace")) == (name, namespace) for s in subjects
        ):
            continue
        ref = binding["roleRef"]
        scope = ANY if binding["kind"] == "ClusterRoleBinding" else binding["metadata"]["namespace"]
        role = next(d for d in docs if d["kind"] == ref["kind"] and d["metadata"]["name"] == ref["name"])
        yield role, scope


def _grants(docs: list[dict[str, Any]]) -> dict[Grant, set[str]]:
    """Each granted tuple with its resourceNames (empty: any name). Wildcards would not expand: forbid them."""
    grants: dict[Grant, set[str]] = {}
    for role, scope in _bound_roles(docs):
        for rule in role["rules"]:
            assert "*" not in [*rule["verbs"], *rule["apiGroups"], *rule["resources"]], rule
            for verb in rule["verbs"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        key = (verb, group, resource, scope)
                        assert key not in grants, f"{key} is granted twice"
                        grants[key] = set(rule.get("resourceNames") or [])
    return grants


def _used(records: list[dict[str, Any]], grants: dict[Grant, set[str]]) -> dict[Grant, set[str]]:
    """The operator's requests as grant tuples: a namespaced grant when one covers the request, else cluster-wide."""
    used: dict[Grant, set[str]] = {}
    for record in records:
        resource = record["resource"] + (f"/{record['subresource']}" if record["subresource"] else "")
        key = (record["verb"], record["group"], resource, record["namespace"])
        if key not in grants:
            key = (*key[:3], ANY)
        used.setdefault(key, set()).add(record["name"])
    return used


def _request(record: dict[str, Any]) -> tuple[str, ...]:
    return tuple(record[key] for key in ("verb", "group", "resource", "subresource", "namespace", "name"))


def _allowed(cluster: Cluster, record: dict[str, Any]) -> bool:
    """Ask the sandbox's authorizer (SubjectAccessReview): a 403 that RBAC allows came from elsewhere,
    e.g. the real server's refusal to create objects in a terminating namespace."""
    keys = ("verb", "group", "resource", "subresource", "namespace", "name")
    attributes = {key: record[key] for key in keys if record[key]}
    groups = ["system:serviceaccounts", "system:serviceaccounts:mlaiops-system", "system:authenticated"]
    review = {"spec": {"user": OPERATOR_USER, "groups": groups, "resourceAttributes": attributes}}
    api = client.AuthorizationV1Api(cluster.api)
    return bool(api.create_subject_access_review(review).status.allowed)


def _show(keys: Iterable[Grant]) -> str:
    return "\n".join(
        f"  {verb} {group or 'core'} {resource} ({scope})" for verb, group, resource, scope in sorted(keys)
    )


def test_operator_rbac_is_exactly_what_it_uses(
    cluster: Cluster, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every permission the operator used is granted (none was refused), and, after the whole suite,
    no grant went unused."""
    records = operator_records(cluster.sandbox)  # fails if the audit dropped or cleared a record
    assert records, f"no request of {OPERATOR_USER} was audited: the operator does not run as its ServiceAccount"
    whole = request.config.stash.get(WHOLE_SUITE, False)
    if whole:  # the isolated groups (faults, demo story) drove operators of their own clusters: judge all
        for group in ISOLATED_GROUPS:
            records += wait_for_audit(tmp_path_factory, group)

    grants = _grants(operator_rbac())
    used = _used(records, grants)
    print(f"the operator used:\n{_show(used)}")  # shown with -rP: the grants a full run needs
    problems = []
    refused = sorted(
        {_request(r) for r in records if r["code"] == 401 or (r["code"] == 403 and not _allowed(cluster, r))}
    )
    if refused:
        problems.append(
            f"RBAC refused these operator requests (verb, group, resource, subresource, namespace, name): {refused}"
        )
    missing = used.keys() - grants.keys()
    if missing:
        problems.append(f"the operator used permissions the manifests do not grant (add them):\n{_show(missing)}")
    for key, names in used.items():
        if grants.get(key) and not names <= grants[key]:
            problems.append(f"{key} used on {names - grants[key]}, granted only for {grants[key]}")
    unused = grants.keys() - used.keys()
    if whole and unused:
        problems.append(f"the whole e2e suite ran and never used these grants (remove them):\n{_show(unused)}")
    # A partial run cannot prove a grant unnecessary: then only the subset direction is asserted.
    scope = (
        "the whole e2e suite ran: grants must equal use"
        if whole
        else (
            "only part of the e2e suite ran, so only 'every permission used is granted' is asserted "
            f"(grants this run did not exercise:\n{_show(unused)})"
        )
    )
    assert not problems, scope + "\n" + "\n".join(problems)
