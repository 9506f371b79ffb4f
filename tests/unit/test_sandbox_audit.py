"""The sandbox's request audit is bounded, and says how many records it lost to the bound or a clear."""

from __future__ import annotations

from mlaiops_sandbox.apiserver.faults import AuditRecord, Faults


def record(i: int) -> AuditRecord:
    return AuditRecord("get", "", "v1", "pods", "", "default", f"pod-{i}")


def test_records_under_the_bound_are_all_kept() -> None:
    faults = Faults(audit_limit=10)
    for i in range(10):
        faults.record(record(i))
    assert len(faults.audit) == 10 and faults.audit_dropped == 0


def test_evicted_records_are_counted() -> None:
    faults = Faults(audit_limit=10)
    for i in range(25):
        faults.record(record(i))
    assert len(faults.audit) + faults.audit_dropped == 25
    assert faults.audit_dropped > 0 and faults.audit[-1].name == "pod-24"


def test_a_tiny_bound_still_bounds() -> None:
    faults = Faults(audit_limit=3)
    for i in range(20):
        faults.record(record(i))
    assert len(faults.audit) <= 3 and faults.audit_dropped == 17


def test_cleared_records_are_counted_apart() -> None:
    faults = Faults()
    for i in range(4):
        faults.record(record(i))
    faults.clear_audit()
    assert (faults.audit, faults.audit_dropped, faults.audit_cleared) == ([], 0, 4)
