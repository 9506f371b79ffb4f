"""What a rule's status says after an evaluation: the ranked series and the Ready/Firing conditions
(pure: the controller passes the results, the previous status and the time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

import numpy as np

from mlaiops.api.anomalyrule import AnomalyRuleStatus, AnomalyState, SeriesStatus
from mlaiops.api.common import Condition
from mlaiops.detection.rules import SeriesResult, finite, worst_state

MAX_STATUS_SERIES = 50


def condition(kind: str, value: bool, reason: str, message: str, now: datetime, generation: int) -> Condition:
    return Condition(
        type=kind,
        status="True" if value else "False",
        reason=reason,
        message=message,
        last_transition_time=now,
        observed_generation=generation,
    )


@dataclass(frozen=True)
class WarmStart:
    """How the last fit on ``fitWindow`` went: Loaded (it learned), NoHistory, or QueryFailed."""

    reason: Literal["Loaded", "NoHistory", "QueryFailed"]
    message: str

    @property
    def loaded(self) -> bool:
        return self.reason == "Loaded"


def warm_start_condition(outcome: WarmStart, now: datetime, generation: int) -> Condition:
    """WarmStart=True when the detector learned from history; False (with why) when it starts blind."""
    return condition("WarmStart", outcome.loaded, outcome.reason, outcome.message, now, generation)


def with_warm_start(
    conditions: list[Condition] | None,
    outcome: WarmStart | None,
    previous: list[Condition] | None,
    now: datetime,
    generation: int,
) -> list[Condition]:
    """``conditions`` plus the WarmStart condition (replacing an older one), transition times kept."""
    kept = [c for c in conditions or [] if c.type != "WarmStart"]
    if outcome is not None:
        kept.append(warm_start_condition(outcome, now, generation))
    return keep_transition_times(kept, previous)


def keep_transition_times(new: list[Condition], old: list[Condition] | None) -> list[Condition]:
    """A condition whose status did not change keeps the time it last changed (API conventions)."""
    previous = {c.type: c for c in old or []}
    kept = []
    for current in new:
        before = previous.get(current.type)
        if before is not None and before.status == current.status and before.last_transition_time is not None:
            current = current.model_copy(update={"last_transition_time": before.last_transition_time})
        kept.append(current)
    return kept


def apply_results(status: AnomalyRuleStatus, results: list[SeriesResult], busy: bool) -> None:
    """The series (firing first, then pending, then by score; at most ``MAX_STATUS_SERIES``) and the rule's state."""
    ranked = sorted(
        results, key=lambda r: (r.state != "Firing", r.state != "Pending", -(r.score if np.isfinite(r.score) else 0))
    )
    status.series = [
        SeriesStatus(
            labels=r.labels,
            fingerprint=r.fingerprint,
            state=cast(AnomalyState, r.state),
            value=finite(r.value),
            expected=finite(r.expected),
            lower=finite(r.lower),
            upper=finite(r.upper),
            score=finite(r.score),
            since=r.since,
        )
        for r in ranked[:MAX_STATUS_SERIES]
    ]
    status.firing_series = sum(r.state == "Firing" for r in results)
    status.state = cast(AnomalyState, worst_state([r.state for r in results]))
    status.message = "target is rolling out: points kept out of the baseline" if busy else None


def evaluated_conditions(
    status: AnomalyRuleStatus,
    previous: list[Condition] | None,
    now: datetime,
    generation: int,
    error_reason: str = "QueryFailed",
) -> list[Condition]:
    """Ready (False with ``error_reason`` while in Error: QueryFailed while Prometheus errs, NoProfile for a
    drift rule on a model without a reference profile) and Firing, transition times kept."""
    ready = status.state != "Error"
    firing = status.state == "Firing"
    conditions = [
        condition(
            "Ready",
            ready,
            "Evaluating" if ready else error_reason,
            "" if ready else status.message or "",
            now,
            generation,
        ),
        condition(
            "Firing",
            firing,
            "AnomalyFiring" if firing else "NoAnomaly",
            f"{status.firing_series or 0} series firing",
            now,
            generation,
        ),
    ]
    return keep_transition_times(conditions, previous)
