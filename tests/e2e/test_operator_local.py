"""`mlaiops run` from a laptop: it creates the Lease's namespace or says in one line what is missing,
a taken port is one line and exit status 3, and a restarted operator takes its own Lease back at once."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlaiops_sandbox.apiserver.tls import token_kubeconfig
from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.testing import Kubectl, OperatorProcess, wait_for

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e


def local_operator(kubeconfig: Path, log: Path, lease_namespace: str, **env: str) -> OperatorProcess:
    """As a user starts it: no POD_NAME, default identity, the Lease namespace of the test."""
    return OperatorProcess(
        kubeconfig,
        None,
        log,
        identity=None,
        args=("-A",),
        extra_env={"MLAIOPS_LEASE_NAMESPACE": lease_namespace, **env},
    )


def leads(operator: OperatorProcess) -> bool:
    url = f"http://127.0.0.1:{operator.env['MLAIOPS_HEALTH_PORT']}/healthz"
    try:
        return bool(json.loads(urllib.request.urlopen(url, timeout=2).read())["leader"])
    except OSError:
        return False


def lease(admin: Kubectl, namespace: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(admin("get", "lease", "mlaiops-operator", "-n", namespace, "-o", "json"))["spec"]
    return spec


def no_rights_kubeconfig(sandbox: Sandbox, admin: Kubectl, namespace: str, output: Path) -> Path:
    """A kubeconfig of a ServiceAccount bound to nothing (not the operator's: its audit stays exact)."""
    admin("create", "serviceaccount", "nobody", "-n", namespace)
    token = admin("create", "token", "nobody", "-n", namespace).strip()
    assert sandbox.server is not None
    config = token_kubeconfig(sandbox.server.secure_url, sandbox.server.certificate.ca_pem, token)
    output.write_text(yaml.safe_dump(config))
    return output


def test_a_missing_lease_namespace_is_created_and_a_restart_leads_at_once(sandbox: Sandbox, tmp_path: Path) -> None:
    namespace = f"lease-{uuid.uuid4().hex[:6]}"
    operator = local_operator(sandbox.kubeconfig_path, tmp_path / "operator.log", namespace)
    with operator:
        wait_for(lambda: leads(operator), timeout=60, what="the local operator leads")
        admin = Kubectl(sandbox.kubeconfig_path)
        admin.run("get", "namespace", namespace)
        assert f"created namespace {namespace}" in operator.log.read_text()
        before = lease(admin, namespace)
        operator.stop(kill=True)  # no release of the Lease: it still names us
        operator.start()
        wait_for(lambda: leads(operator), timeout=60, what="the restarted operator leads")
        # Its identity is stable outside a pod: it renews its own Lease (same holder, same acquireTime,
        # no transition) instead of waiting for it to expire and taking it over as a newcomer.
        after = lease(admin, namespace)
        assert after["holderIdentity"] == before["holderIdentity"]
        assert (after["acquireTime"], after.get("leaseTransitions", 0)) == (
            before["acquireTime"],
            before.get("leaseTransitions", 0),
        )
        # A second one with the same default identity refuses to start (2), also when a port the launcher
        # chose for it was taken first (3, then a relaunch on new ports). Stopped whatever happens: a
        # stray operator acting on the whole shared sandbox would break every other test of the group.
        second = local_operator(sandbox.kubeconfig_path, tmp_path / "second.log", namespace)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", int(second.env["MLAIOPS_METRICS_PORT"])))
            taken.listen()
            with second:
                assert second.wait() == 2 and second.attempt >= 2  # a relaunch on new ports
        assert "MLAIOPS_IDENTITY" in second.log.read_text()


def test_a_lease_it_may_not_touch_is_one_line_with_the_fix(sandbox: Sandbox, tmp_path: Path) -> None:
    """A user who may not touch Leases there: the refusal is said once, without headers."""
    namespace = f"elsewhere-{uuid.uuid4().hex[:6]}"
    admin = Kubectl(sandbox.kubeconfig_path)
    admin.ensure_namespace(namespace)
    kubeconfig = no_rights_kubeconfig(sandbox, admin, namespace, tmp_path / "nobody-kubeconfig")
    operator = local_operator(kubeconfig, tmp_path / "operator.log", namespace)
    with operator:
        wait_for(lambda: "--no-leader-elect" in operator.log.read_text(), timeout=30, what="the refusal")
        time.sleep(5)  # two more retry periods
        text = operator.log.read_text()
    lines = [line for line in text.splitlines() if "leader election attempt failed" in line]
    assert len(lines) == 1 and "(403)" in lines[0] and f"leases in {namespace}" in lines[0], text
    assert "HTTP response headers" not in text and "Traceback" not in text


def test_a_taken_port_is_one_line_and_exit_status_3(sandbox: Sandbox, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        operator = local_operator(
            sandbox.kubeconfig_path, tmp_path / "operator.log", "mlaiops-system", MLAIOPS_METRICS_PORT=str(port)
        )
        with operator:  # the port was chosen here, not by the launcher: no relaunch, 3 is the answer
            assert operator.wait() == 3
    text = operator.log.read_text()
    assert f"metrics port 127.0.0.1:{port} is already in use" in text and "Traceback" not in text


def test_the_test_launcher_starts_again_on_new_ports_when_one_it_chose_was_taken(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A port the launcher found free can be taken before the operator binds it (or while a test has
    stopped it): the launcher starts it again on new ports instead of leaving the group without one."""
    operator = local_operator(sandbox.kubeconfig_path, tmp_path / "operator.log", f"clash-{uuid.uuid4().hex[:6]}")
    chosen = int(operator.env["MLAIOPS_METRICS_PORT"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", chosen))
        taken.listen()
        with operator:
            operator.wait_healthy()
            assert operator.exited() is None and operator.attempt == 2
            assert int(operator.env["MLAIOPS_METRICS_PORT"]) != chosen
            assert f"metrics port 127.0.0.1:{chosen} is already in use" in operator.log.read_text()


def test_sandbox_up_with_operator_refuses_what_the_webhook_refuses(tmp_path: Path) -> None:
    """`mlaiops-sandbox up --with-operator` is the whole local stack: CRDs installed, the operator running
    with its validating webhook registered, so `kubectl apply` of a spec only the operator can judge (an
    impossible cron, PromQL Prometheus cannot parse) is refused as in a real install; SIGTERM stops both, exit status 0."""
    output = tmp_path / "up.log"
    with output.open("wb") as sink:
        up = subprocess.Popen(
            [sys.executable, "-m", "mlaiops_sandbox", "up", "--with-operator", "--dir", str(tmp_path / "state")],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "operator: running" in output.read_text(), timeout=120, what=f"the stack ({output})")
        kubeconfig = tmp_path / "state" / "kubeconfig"
        policy = yaml.safe_load((ROOT / "examples" / "20-retrainpolicy.yaml").read_text())
        policy["metadata"]["namespace"] = "default"
        policy["spec"]["triggers"]["schedule"]["cron"] = "61 * * * *"
        rule = next(yaml.safe_load_all((ROOT / "examples" / "30-anomalyrules.yaml").read_text()))
        rule["metadata"]["namespace"] = "default"
        rule["spec"]["query"] = "sum(rate(http_requests_total[5m]"  # unbalanced: Prometheus cannot parse it

        def refused(document: dict[str, Any]) -> Callable[[], str | None]:
            def attempt() -> str | None:
                done = subprocess.run(
                    ["kubectl", "--kubeconfig", str(kubeconfig), "apply", "-f", "-"],
                    input=yaml.safe_dump(document),
                    capture_output=True,
                    text=True,
                )
                assert done.returncode != 0, f"admitted: {done.stdout}"
                return done.stderr if "denied the request" in done.stderr else None

            return attempt

        message = wait_for(refused(policy), timeout=60, what="the webhook to answer")
        assert "spec.triggers.schedule.cron" in message and "61 * * * *" in message
        message = wait_for(refused(rule), timeout=30, what="the PromQL refusal")
        assert "spec.query" in message
    finally:
        up.terminate()
        status = up.wait(60)
    assert status == 0, output.read_text()
    assert "mlaiops-sandbox stopped" in output.read_text()
