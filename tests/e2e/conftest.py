"""The e2e suite's project-specific parts; the sandbox, the operator process and the ``cluster``
fixture come from the sandbox's pytest plugin (``mlaiops_sandbox.testing.plugin``).

The operator runs as a real `mlaiops run` subprocess with its ServiceAccount's token and the
manifests' RBAC enforced, as it would in a pod; tests talk to the cluster with the kubernetes
client and kubectl.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlaiops_sandbox.testing import OperatorProcess, free_port, wait_for
from mlaiops_sandbox.testing import operator as harness_operator
from mlaiops_sandbox.testing.plugin import Cluster, operator_for

ROOT = Path(__file__).resolve().parents[2]
LEASE_NAMESPACE = harness_operator.OPERATOR_NAMESPACE
OPERATOR_USER = "system:serviceaccount:mlaiops-system:mlaiops-operator"
# The webhook e2e test runs the operator in that managed mode: its RBAC is part of what it is granted.
COMPONENTS = ("components/webhook-self-signed",)
WHOLE_SUITE = pytest.StashKey[bool]()

__all__ = [
    "LEASE_NAMESPACE",
    "ROOT",
    "Cluster",
    "OperatorProcess",
    "free_port",
    "operator_for",
    "operator_rbac",
    "wait_for",
]


def operator_rbac() -> list[dict[str, Any]]:
    """The RBAC objects the operator runs with: manifests/ plus its webhook-self-signed component."""
    return harness_operator.operator_rbac(ROOT / "manifests", COMPONENTS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The least-privilege audit runs last, after every other test has driven the operator; and the
    whole e2e suite is one xdist group: one worker plays it on one session cluster and operator while
    other workers run the unit and integration tiers (``pytest -n 2 --dist loadgroup``)."""
    items.sort(key=lambda item: Path(str(item.fspath)).name == "test_least_privilege.py")
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.xdist_group("e2e"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember whether every e2e test file is in this run (then the audit must match exactly)."""
    here = Path(__file__).parent
    files = {Path(str(item.fspath)).resolve() for item in session.items}
    everything = {path.resolve() for path in here.glob("test_*.py")}
    selective = bool(session.config.option.keyword or session.config.option.markexpr)
    session.config.stash[WHOLE_SUITE] = everything <= files and not selective
