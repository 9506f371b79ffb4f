"""Annotation values of rollback/retrain requests, TYPE/NAME arguments, and which object an approval is for."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mlaiops.plugin.actions import (
    ANOMALY_RULE,
    MODEL_DEPLOYMENT,
    RETRAIN_POLICY,
    find_approval,
    parse_ref,
    request_value,
)
from mlaiops.plugin.cluster import PluginError
from tests.unit.plugin.fixtures import execution, playbook, retrain_policy


def test_request_value_is_reason_at_utc_stamp() -> None:
    assert request_value("latency", datetime(2026, 11, 27, 8, 5, 9, tzinfo=UTC)) == "latency@20261127T080509Z"
    cet = timezone(timedelta(hours=1))
    assert request_value("x", datetime(2026, 11, 27, 9, 5, 9, tzinfo=cet)) == "x@20261127T080509Z"
    assert re.fullmatch(r"manual@\d{8}T\d{6}Z", request_value("manual"))


@pytest.mark.parametrize("reason", ["", "a@b"])
def test_request_value_rejects_reasons_that_would_be_ambiguous(reason: str) -> None:
    with pytest.raises(PluginError, match="invalid reason"):
        request_value(reason)


def test_parse_ref_accepts_short_and_long_names() -> None:
    assert parse_ref("md/fraud", MODEL_DEPLOYMENT) == ("ModelDeployment", "fraud")
    assert parse_ref("ModelDeployments/fraud", MODEL_DEPLOYMENT) == ("ModelDeployment", "fraud")
    assert parse_ref("rtp/r", RETRAIN_POLICY) == ("RetrainPolicy", "r")
    assert parse_ref("ar/x", ANOMALY_RULE) == ("AnomalyRule", "x")


def test_a_bare_name_is_the_commands_one_kind() -> None:
    assert parse_ref("fraud", MODEL_DEPLOYMENT) == ("ModelDeployment", "fraud")
    assert parse_ref("fraud-retrain", RETRAIN_POLICY) == ("RetrainPolicy", "fraud-retrain")
    assert parse_ref("x.y", ANOMALY_RULE) == ("AnomalyRule", "x.y")


@pytest.mark.parametrize("text", ["ar/fraud", "md/", "/fraud", ""])
def test_parse_ref_rejects_other_kinds_and_empty_names(text: str) -> None:
    with pytest.raises(PluginError, match="expected NAME or TYPE/NAME with TYPE one of md, modeldeployment"):
        parse_ref(text, MODEL_DEPLOYMENT)


@pytest.mark.parametrize("text", ["Fraud", "md/fr aud", "md/b/c", "md/-x"])
def test_parse_ref_rejects_names_kubernetes_would_refuse(text: str) -> None:
    with pytest.raises(PluginError, match="is not a valid object name"):
        parse_ref(text, MODEL_DEPLOYMENT)


def test_an_execution_awaiting_approval_is_found_on_its_playbook() -> None:
    playbooks = [
        playbook("a", [{"rules": [{"name": "r"}]}], [execution("e0")]),
        playbook("b", [{"rules": [{"name": "r"}]}], [execution("e1", "AwaitingApproval")]),
    ]
    found = find_approval("e1", playbooks, [retrain_policy()])
    assert (found.kind, found.namespace, found.name, found.what) == ("RemediationPlaybook", "shop", "b", "execution")


def test_a_run_awaiting_manual_promotion_is_found_on_its_policy() -> None:
    policy = retrain_policy(runs=[{"id": "r1", "trigger": "manual", "phase": "AwaitingApproval"}])
    found = find_approval("r1", [], [policy])
    assert (found.kind, found.name, found.what) == ("RetrainPolicy", "fraud-retrain", "run")


def test_an_id_that_is_not_awaiting_says_what_state_it_is_in() -> None:
    with pytest.raises(PluginError, match=r"execution e0 of rpb/a is Succeeded, not AwaitingApproval"):
        find_approval("e0", [playbook("a", [{"rules": [{"name": "r"}]}], [execution("e0")])], [])
    with pytest.raises(PluginError, match=r"run r20261127-080000 of rtp/fraud-retrain is Promoted"):
        find_approval("r20261127-080000", [], [retrain_policy()])


def test_an_unknown_id_says_what_was_searched() -> None:
    with pytest.raises(PluginError, match=r"no RemediationPlaybook execution or RetrainPolicy run with id 'nope' "):
        find_approval("nope", [playbook("a", [{"rules": [{"name": "r"}]}])], [retrain_policy()])


def test_the_same_id_awaiting_in_two_namespaces_is_ambiguous() -> None:
    one = playbook("a", [{"rules": [{"name": "r"}]}], [execution("e1", "AwaitingApproval")])
    two = playbook("a", [{"rules": [{"name": "r"}]}], [execution("e1", "AwaitingApproval")])
    two["metadata"]["namespace"] = "other"
    with pytest.raises(PluginError, match="awaits approval in several objects"):
        find_approval("e1", [one, two], [])
