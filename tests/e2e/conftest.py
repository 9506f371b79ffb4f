"""The e2e suite's project-specific parts; the sandbox, the operator process and the ``cluster``
fixture come from the sandbox's pytest plugin (``mlaiops_sandbox.testing.plugin``).

The operator runs as a real `mlaiops run` subprocess with its ServiceAccount's token and the
manifests' RBAC enforced, as it would in a pod; tests talk to the cluster with the kubernetes
client and kubectl.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.testing import OperatorProcess, free_port, wait_for
from mlaiops_sandbox.testing import operator as harness_operator
from mlaiops_sandbox.testing.plugin import Cluster, operator_for

ROOT = Path(__file__).resolve().parents[2]
LEASE_NAMESPACE = harness_operator.OPERATOR_NAMESPACE
OPERATOR_USER = "system:serviceaccount:mlaiops-system:mlaiops-operator"
# The webhook e2e test runs the operator in that managed mode: its RBAC is part of what it is granted.
COMPONENTS = ("components/webhook-self-signed",)
WHOLE_SUITE = pytest.StashKey[bool]()
# Under ``pytest -n N --dist loadgroup`` (``make test``) the e2e suite is seven xdist groups, each on its own
# worker, session cluster and operator, beside the unit and integration tiers on the other workers. The
# fault runs and the demo story stop Prometheus and inject API faults for their whole operator, so they
# must not share it; the rest is split in three parts of about equal length. The order is the order in
# which xdist hands the groups out: the longest first, so none waits behind another on one worker.
# e2e-containers (short, last) runs pods as podman containers of the project's image, on a cluster its
# module starts (the session's runs them as processes); skipped, it leaves an empty audit.
MAIN_GROUP = "e2e"
GROUP_ORDER = ("e2e-b", MAIN_GROUP, "e2e-faults-a", "e2e-c", "e2e-story", "e2e-faults-b", "e2e-containers")
FILE_GROUPS = {
    "test_demo_story.py": "e2e-story",
    "test_faults.py": "e2e-faults-b",
    "test_canary.py": "e2e-b",
    "test_retrain.py": "e2e-b",
    "test_retrain_mlflow.py": "e2e-b",
    "test_plugin.py": "e2e-b",
    "test_modeldeployment_lifecycle.py": "e2e-b",
    "test_require_sha256.py": "e2e-b",
    "test_operator_process.py": "e2e-b",
    "test_model_status.py": "e2e-b",
    "test_remediation_approvals.py": "e2e-b",
    # Routing through the Gateway, and the correlation story (its own operator with the receiver).
    "test_incident_correlation.py": "e2e-c",
    "test_gateway_routing.py": "e2e-c",
    "test_gateway_canary.py": "e2e-c",
    # SIGKILLs the group's operator with API faults injected, as the fault runs do.
    "test_remediation_restart.py": "e2e-faults-a",
    "test_oom_remediation.py": "e2e-containers",
    # The short group: it starts last, on the first worker another group frees (measured 2026-12-06, test time
    # per group: e2e 408 s with the audit's wait, e2e-b 406, e2e-c 250, e2e-faults-a 240, e2e-story 179,
    # e2e-faults-b 146, e2e-containers 79; drift moved here from e2e-b, the long pole).
    "test_canary_labels.py": "e2e-containers",
    "test_drift.py": "e2e-containers",
}
# The slowest fault runs go beside the others (each group plays the module's reference loop itself).
TEST_GROUPS = {"test_api_latency": "e2e-faults-a", "test_api_500s_and_409s": "e2e-faults-a"}
# Every group but the main one leaves its operator's requests for the least-privilege audit.
ISOLATED_GROUPS = tuple(group for group in GROUP_ORDER if group != MAIN_GROUP)
AUDIT_FIELDS = ("user", "verb", "group", "resource", "subresource", "namespace", "name", "code")

__all__ = [
    "LEASE_NAMESPACE",
    "ROOT",
    "Cluster",
    "OperatorProcess",
    "free_port",
    "operator_for",
    "operator_rbac",
    "roll_out",
    "wait_for",
]


def roll_out(cluster: Cluster, namespace: str, name: str, version: str = "v2") -> None:
    """Point ModelDeployment ``name`` at the model the e2e fixtures store as ``pvc://models/<version>/model.joblib``:
    what a user's GitOps change does, so it starts a rollout."""
    model = {"storageUri": f"pvc://models/{version}/model.joblib", "version": version}
    cluster.kubectl(
        "patch", "-n", namespace, f"md/{name}", "--type=merge", "-p", json.dumps({"spec": {"model": model}})
    )


def operator_rbac() -> list[dict[str, Any]]:
    """The RBAC objects the operator runs with: manifests/ plus its webhook-self-signed component."""
    return harness_operator.operator_rbac(ROOT / "manifests", COMPONENTS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The e2e groups first, longest first (xdist hands groups out in the order they first appear),
    and the least-privilege audit last, after every other test has driven an operator."""

    def rank(item: pytest.Item) -> tuple[int, bool]:
        last = Path(str(item.fspath)).name == "test_least_privilege.py"
        if not is_e2e(item):
            return len(GROUP_ORDER), last
        return GROUP_ORDER.index(group_of(item)), last

    items.sort(key=rank)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Each e2e test joins its xdist group (see ``GROUP_ORDER``)."""
    if is_e2e(item):
        item.add_marker(pytest.mark.xdist_group(group_of(item)))


def is_e2e(item: pytest.Item) -> bool:
    return Path(__file__).parent in Path(str(item.fspath)).parents


def group_of(item: pytest.Item) -> str:
    """The xdist group of an e2e test (by file name: only meaningful for items under tests/e2e)."""
    test = getattr(item, "originalname", None) or item.name
    return TEST_GROUPS.get(test) or FILE_GROUPS.get(Path(str(item.fspath)).name, MAIN_GROUP)


# --- the operator's requests on every e2e cluster, for the least-privilege audit ------------------------


def shared_folder(factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this run sees (the parent of the workers' own temp folders)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def audit_file(factory: pytest.TempPathFactory, group: str) -> Path:
    return shared_folder(factory) / f"operator-audit-{group}.json"


def operator_records(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The operator's audited requests on this cluster (what the least-privilege audit compares)."""
    reply = requests.get(f"{sandbox.api_url}/sandbox/audit", timeout=60).json()
    # The audit is bounded: a record evicted (or cleared) could hide a refused or an unused permission.
    assert (reply["dropped"], reply["cleared"]) == (0, 0), (
        f"the audit is incomplete ({reply['dropped']} records dropped by its bound, {reply['cleared']} cleared, "
        f"{len(reply['items'])} kept): nothing can be concluded about the operator's permissions"
    )
    return [{key: record[key] for key in AUDIT_FIELDS} for record in reply["items"] if record["user"] == OPERATOR_USER]


@pytest.fixture(autouse=True)
def _the_operator_stays_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """A group's operator that exited on its own fails the test it died in, with its log's end, and is
    started again: one crash must not time out every later test of the group without a word."""
    if "cluster" not in request.fixturenames:
        yield
        return
    operator = request.getfixturevalue("cluster").operator
    check_alive(operator, "before this test")
    yield
    check_alive(operator, "during this test")


def check_alive(operator: OperatorProcess, when: str) -> None:
    status = operator.exited()
    if status is None:
        return
    tail = "\n".join(operator.log.read_text(errors="replace").splitlines()[-40:])
    operator.start()
    pytest.fail(f"the group's operator exited {when} (status {status}); the end of its log:\n{tail}")


@pytest.fixture(autouse=True)
def _the_groups_cluster(sandbox: Sandbox) -> None:
    """Every e2e test holds its group's cluster (a session fixture, so it is up before any module
    fixture of the test can fail): the audit hand-over below reads it."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Hand an isolated group's audit over after its last test, before that test's fixtures are torn
    down (its cluster still runs). A hook, not a fixture: a test whose module fixture failed at setup
    never reaches a function-scoped fixture, and its group would then leave no audit at all."""
    if is_e2e(item):
        hand_over_audit(item)
    yield


def hand_over_audit(item: pytest.Item) -> None:
    """Record ``item`` as done; once every test of its isolated group is, write the group's operator
    requests to a shared file, so the least-privilege audit (on the main group's cluster) judges the
    whole suite's use. A group that cannot tell (no cluster came up) writes why instead, and the audit
    fails at once with that reason rather than waiting for records that will never come."""
    group = group_of(item)
    if group == MAIN_GROUP:
        return
    factory: pytest.TempPathFactory = item.config._tmp_path_factory  # type: ignore[attr-defined]
    folder = shared_folder(factory)
    done = folder / f"done-{group}.txt"
    with done.open("a") as log:
        log.write(item.nodeid + "\n")
    members = {other.nodeid for other in item.session.items if is_e2e(other) and group_of(other) == group}
    path = audit_file(factory, group)
    if not members <= set(done.read_text().splitlines()) or path.exists():  # a skipped module wrote its own
        return
    sandbox = item.funcargs.get("sandbox") if isinstance(item, pytest.Function) else None
    if not isinstance(sandbox, Sandbox):
        publish(path, {"error": f"no cluster came up for {item.nodeid}"})
        return
    try:
        publish(path, operator_records(sandbox))
    except (AssertionError, requests.RequestException, ValueError) as error:
        publish(path, {"error": f"{type(error).__name__}: {error}"})


def publish(path: Path, payload: object) -> None:
    """Write ``path`` whole or not at all (a temporary file renamed over it): the audit polls for it from
    another worker, and once read a half-written file as empty JSON."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(payload))
    partial.replace(path)


def wait_for_audit(factory: pytest.TempPathFactory, group: str, timeout: float = 900) -> list[dict[str, Any]]:
    """The records another group's cluster left, waiting while that group still runs (bounded)."""
    path = audit_file(factory, group)
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"the {group} group left no operator audit in {timeout:.0f}s ({path})")
        time.sleep(2)
    records: list[dict[str, Any]] | dict[str, str] = json.loads(path.read_text())
    if isinstance(records, dict):
        raise AssertionError(f"the {group} group could not leave its operator audit: {records['error']}")
    return records


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember whether every e2e test file is in this run (then the audit must match exactly)."""
    here = Path(__file__).parent
    files = {Path(str(item.fspath)).resolve() for item in session.items}
    everything = {path.resolve() for path in here.glob("test_*.py")}
    selective = bool(session.config.option.keyword or session.config.option.markexpr)
    session.config.stash[WHOLE_SUITE] = everything <= files and not selective


@contextmanager
def receiver_operator(
    cluster: Cluster, folder: Path, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[OperatorProcess, int, str]]:
    """The group's operator swapped for one with the Alertmanager receiver on (127.0.0.1, a bearer token in
    ``folder``): its process, port and token. The group's own operator starts again afterwards (the body
    of the module fixtures that need the receiver)."""
    token = secrets.token_urlsafe(32)
    (folder / "token").write_text(token + "\n")
    port = free_port()
    env = {
        "MLAIOPS_ALERTMANAGER_PORT": str(port),
        "MLAIOPS_ALERTMANAGER_HOST": "127.0.0.1",
        "MLAIOPS_ALERTMANAGER_TOKEN_FILE": str(folder / "token"),
        **(extra_env or {}),
    }
    cluster.operator.stop()  # graceful: the session operator releases the Lease
    operator = operator_for(cluster.sandbox, folder / "operator.log", extra_env=env)
    operator.start()
    try:
        yield operator, port, token
    finally:
        operator.stop()
        cluster.operator.start()
