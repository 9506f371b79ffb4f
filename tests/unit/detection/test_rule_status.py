"""A rule's status after an evaluation, and how multivariate queries are joined per entity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from mlaiops.api.anomalyrule import AnomalyRuleStatus
from mlaiops.detection.joins import entity, join_history, join_samples, key_of
from mlaiops.detection.rule_status import condition, evaluated_conditions, keep_transition_times

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Sample:
    labels: dict[str, str]
    value: float


def test_an_unchanged_condition_keeps_its_transition_time_a_changed_one_takes_now() -> None:
    old = [condition("Ready", True, "Evaluating", "", T0, 1), condition("Firing", False, "NoAnomaly", "", T0, 1)]
    later = T0 + timedelta(minutes=5)
    new = [
        condition("Ready", True, "Evaluating", "", later, 2),
        condition("Firing", True, "AnomalyFiring", "", later, 2),
    ]
    kept = {c.type: c for c in keep_transition_times(new, old)}
    assert kept["Ready"].last_transition_time == T0
    assert kept["Firing"].last_transition_time == later


def test_an_error_state_makes_ready_false_with_the_query_error() -> None:
    status = AnomalyRuleStatus(state="Error", message="connection refused", firing_series=0)
    conditions = {c.type: c for c in evaluated_conditions(status, None, T0, 3)}
    assert conditions["Ready"].status == "False" and conditions["Ready"].reason == "QueryFailed"
    assert conditions["Ready"].message == "connection refused"
    assert conditions["Firing"].status == "False" and conditions["Ready"].observed_generation == 3


def test_a_firing_state_sets_firing_true_and_counts_series() -> None:
    status = AnomalyRuleStatus(state="Firing", firing_series=2)
    conditions = {c.type: c for c in evaluated_conditions(status, None, T0, 1)}
    assert conditions["Ready"].status == "True"
    assert conditions["Firing"].status == "True" and conditions["Firing"].message == "2 series firing"


def test_entities_ignore_the_metric_name_and_keys_ignore_label_order() -> None:
    assert entity({"__name__": "x", "pod": "a"}) == {"pod": "a"}
    assert key_of({"b": "2", "a": "1"}) == key_of({"a": "1", "b": "2"})


def test_samples_join_only_entities_present_in_every_query() -> None:
    first = [Sample({"__name__": "cpu", "pod": "a"}, 1.0), Sample({"__name__": "cpu", "pod": "b"}, 2.0)]
    second = [Sample({"__name__": "mem", "pod": "a"}, 10.0)]
    assert join_samples([first, second]) == [({"pod": "a"}, [1.0, 10.0])]


def test_history_joins_on_the_timestamps_every_query_shares() -> None:
    labels = {"pod": "a"}
    per_query = [
        {key_of(labels): (labels, {1.0: 1.0, 2.0: 2.0, 3.0: 3.0})},
        {key_of(labels): (labels, {2.0: 20.0, 3.0: 30.0, 4.0: 40.0})},
    ]
    [(joined_labels, times, values)] = join_history(per_query)
    assert joined_labels == labels
    assert times.tolist() == [2.0, 3.0]
    assert np.array_equal(values, np.array([[2.0, 3.0], [20.0, 30.0]]))
