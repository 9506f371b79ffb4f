"""`mlaiops-sandbox up --with-operator`: the whole local stack, webhook included, in one command.

The sandbox never imports the operator (the layering contract): it runs the installed ``mlaiops``
command as a subprocess, as a user would, after installing its CRDs (``mlaiops crds``) and a serving
certificate for the validating webhook, so a user's ``kubectl apply`` meets the same refusals as in a
real install. The operator registers its own ValidatingWebhookConfiguration (``MLAIOPS_WEBHOOK_MANAGED``)
pointing at 127.0.0.1, and removes nothing on exit: the sandbox's state goes with the sandbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mlaiops_sandbox.apiserver.tls import ServingCert
from mlaiops_sandbox.testing.operator import EXIT_PORT_IN_USE, PORT_ATTEMPTS, stop_process
from mlaiops_sandbox.testing.ports import free_port
from mlaiops_sandbox.testing.wait import seconds_until

WEBHOOK_CONFIGURATION = "mlaiops.dev"


class OperatorUnavailable(RuntimeError):
    """The operator could not be started; the message says what to do."""


@dataclass
class LocalOperator:
    """A ``mlaiops run`` child process of ``mlaiops-sandbox up``."""

    process: subprocess.Popen[bytes]
    health_port: int
    metrics_port: int
    webhook_port: int
    log: Path

    def stop(self, timeout: float = 20) -> None:
        stop_process(self.process, timeout=timeout)


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise OperatorUnavailable(f"{what} failed: {detail[-1] if detail else f'exit status {done.returncode}'}")


def _operator_command() -> list[str]:
    """The installed operator: this interpreter's ``mlaiops`` module, else the command on PATH."""
    probe = subprocess.run([sys.executable, "-c", "import mlaiops"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "mlaiops"]
    if (command := shutil.which("mlaiops")) is not None:
        return [command]
    raise OperatorUnavailable("the operator is not installed: pip install mlaiops (or run without --with-operator)")


# A free port can be taken by another process between being found and being bound: the operator is then
# started again on new ports.


def _launch(command: list[str], env: dict[str, str], log: Path) -> LocalOperator:
    """``mlaiops run`` on free ports, once it answers /healthz or has exited (its returncode says which)."""
    ports = {name: free_port() for name in ("health", "metrics", "webhook")}
    env = {
        **env,
        "MLAIOPS_HEALTH_PORT": str(ports["health"]),
        "MLAIOPS_METRICS_PORT": str(ports["metrics"]),
        "MLAIOPS_WEBHOOK_PORT": str(ports["webhook"]),
    }
    with log.open("ab") as output:
        process = subprocess.Popen([*command, "run", "-A"], env=env, stdout=output, stderr=subprocess.STDOUT)
    operator = LocalOperator(process, ports["health"], ports["metrics"], ports["webhook"], log)
    url = f"http://127.0.0.1:{ports['health']}/healthz"

    def healthy_or_exited() -> bool:
        if process.poll() is not None:
            return True
        try:
            return bool(urllib.request.urlopen(url, timeout=2).status == 200)
        except OSError:
            return False

    try:
        seconds_until(healthy_or_exited, 60, interval=0.2, what="the operator's /healthz")
    except AssertionError as error:
        operator.stop()
        raise OperatorUnavailable(f"the operator did not become healthy in 60 s (see {log}): {error}") from None
    return operator


def start_operator(directory: Path, kubeconfig: Path, prometheus_url: str | None) -> LocalOperator:
    """Install the CRDs, write a webhook certificate, start ``mlaiops run`` and wait until it is healthy."""
    command = _operator_command()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    crds = directory / "crds"
    _run([*command, "crds", "--output", str(crds)], env, "rendering the CRDs (mlaiops crds)")
    _run(["kubectl", "apply", "--server-side", "-f", str(crds)], env, "installing the CRDs (kubectl apply)")
    certificate = ServingCert.create("127.0.0.1")
    cert, key = directory / "webhook.crt", directory / "webhook.key"
    cert.write_bytes(certificate.cert_pem + certificate.ca_pem)
    key.write_bytes(certificate.key_pem)
    key.chmod(0o600)
    env.update(
        {
            "MLAIOPS_WEBHOOK_LISTEN": "127.0.0.1",
            "MLAIOPS_WEBHOOK_HOST": "127.0.0.1",
            "MLAIOPS_WEBHOOK_CERT_FILE": str(cert),
            "MLAIOPS_WEBHOOK_KEY_FILE": str(key),
            "MLAIOPS_WEBHOOK_MANAGED": "true",
        }
    )
    if prometheus_url is not None:
        env["MLAIOPS_PROMETHEUS_URL"] = prometheus_url
    log = directory / "operator.log"
    for _ in range(PORT_ATTEMPTS):
        operator = _launch(command, env, log)
        if operator.process.returncode != EXIT_PORT_IN_USE:
            break
    if operator.process.returncode is not None:
        lines = log.read_text(errors="replace").strip().splitlines()
        raise OperatorUnavailable(f"the operator exited ({operator.process.returncode}): {lines[-1] if lines else ''}")

    def webhooks_registered() -> bool:
        # kopf may create its configuration first and fill in the webhooks in a later write.
        found = subprocess.run(
            ["kubectl", "get", "validatingwebhookconfiguration", WEBHOOK_CONFIGURATION, "-o", "jsonpath={.webhooks}"],
            env=env,
            capture_output=True,
            text=True,
        )
        return found.returncode == 0 and found.stdout.strip() not in ("", "[]")

    try:
        seconds_until(webhooks_registered, 60, interval=0.2, what="the operator's webhook configuration")
    except AssertionError as error:
        operator.stop()
        raise OperatorUnavailable(f"the operator registered no webhook in 60 s (see {log}): {error}") from None
    return operator
