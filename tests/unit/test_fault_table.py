"""The faults table says n/a where a column cannot be non-zero, and counts where it can."""

from __future__ import annotations

from mlaiops_sandbox.testing.faults import Outcome, catalogue, table


def row(outcome: Outcome) -> list[str]:
    return [cell.strip() for cell in table([outcome]).splitlines()[-1].strip("|").split("|")]


def test_decisions_without_data_are_counted_only_under_an_outage() -> None:
    faults = catalogue(outage=15)
    outage = Outcome(faults["prometheus-down"], converged=True, spurious=["rule latency fired while data was missing"])
    assert row(outage)[5] == "1"
    assert row(Outcome(faults["prometheus-down"], converged=True))[5] == "0"
    for name in ("none", "api-errors", "latency", "watch-drops", "sigkill"):
        assert row(Outcome(faults[name], converged=True))[5] == "n/a", name


def test_duplicates_and_lost_records_are_counted_for_every_fault() -> None:
    outcome = Outcome(catalogue()["sigkill"], converged=True, duplicates=["job x twice"], lost=["a", "b"])
    assert row(outcome)[3:5] == ["1", "2"]
