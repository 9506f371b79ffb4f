"""The table `make demo` ends with: each step, when it started, how long it took, how fast the loop was."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class StepLike(Protocol):
    name: str
    started: float
    finished: float | None
    outcome: str
    detection: float | None
    remediation: float | None


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}s"


def summary_table(steps: Sequence[StepLike]) -> str:
    """A Markdown table; a step that never finished says FAILED (its durations are what was measured)."""
    lines = [
        "",
        "| step | started | took | detected after | remediated after | outcome |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for step in steps:
        took = step.finished - step.started if step.finished is not None else None
        outcome = step.outcome if step.finished is not None else "FAILED"
        lines.append(
            f"| {step.name} | +{step.started:.1f}s | {_seconds(took)} | {_seconds(step.detection)} "
            f"| {_seconds(step.remediation)} | {outcome.replace('|', '/')} |"
        )
    return "\n".join(lines)
