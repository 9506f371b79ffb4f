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
# Files played on a cluster of their own when the suite runs in parallel.
ISOLATED = ("test_faults.py", "test_demo_story.py")

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
    """The least-privilege audit runs last, after every other test has driven the operator.

    Under ``pytest -n N --dist loadgroup`` (what ``make test`` runs) the e2e suite is two xdist groups,
    each played by one worker on its own session cluster and operator while other workers run the
    unit and integration tiers: the fault runs and the demo story (which stop Prometheus and inject
    API faults for the whole operator, so they must not share it) and everything else.
    """
    items.sort(key=lambda item: Path(str(item.fspath)).name == "test_least_privilege.py")
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if here in path.parents:
            group = "e2e-isolated" if path.name in ISOLATED else "e2e"
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember whether every e2e test file is in this run (then the audit must match exactly)."""
    here = Path(__file__).parent
    files = {Path(str(item.fspath)).resolve() for item in session.items}
    everything = {path.resolve() for path in here.glob("test_*.py")}
    selective = bool(session.config.option.keyword or session.config.option.markexpr)
    session.config.stash[WHOLE_SUITE] = everything <= files and not selective
