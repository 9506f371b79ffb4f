"""The sandbox plugin's teardown hook deletes the namespaces made through the session ``cluster`` after the
last test of each module, never between two tests of one module (a module fixture's namespace must outlive
its first test), and only for tests that used ``cluster``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from mlaiops_sandbox.testing.plugin import Cluster, pytest_runtest_teardown


class RecordingCluster(Cluster):
    """A ``Cluster`` without a sandbox that counts the deletions it is asked for."""

    def __init__(self) -> None:
        self.made = ["ns"]
        self.deletions = 0

    def delete_namespaces(self) -> None:
        self.deletions += 1


@dataclass
class FakeItem:
    path: Path
    funcargs: dict[str, Any] = field(default_factory=dict)


def tear_down(item: FakeItem, nextitem: FakeItem | None) -> None:
    """Drive the wrapper as pluggy does: up to its ``yield``, then past it with the inner hooks' result."""
    wrapper = pytest_runtest_teardown(cast(pytest.Item, item), cast(pytest.Item | None, nextitem))
    next(wrapper)
    with pytest.raises(StopIteration):
        wrapper.send(None)


A, B = Path("tests/e2e/test_a.py"), Path("tests/e2e/test_b.py")


def test_namespaces_are_deleted_at_a_module_boundary_and_at_the_end_only() -> None:
    cluster = RecordingCluster()
    tear_down(FakeItem(A, {"cluster": cluster}), FakeItem(A, {"cluster": cluster}))
    assert cluster.deletions == 0, "deleted between two tests of one module"
    tear_down(FakeItem(A, {"cluster": cluster}), FakeItem(B))
    assert cluster.deletions == 1
    tear_down(FakeItem(B, {"cluster": cluster}), None)
    assert cluster.deletions == 2


def test_a_test_without_the_cluster_fixture_deletes_nothing() -> None:
    cluster = RecordingCluster()
    tear_down(FakeItem(A, {"other": cluster}), FakeItem(B))
    tear_down(FakeItem(B), None)
    assert cluster.deletions == 0
