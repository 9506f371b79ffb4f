"""Where the election gets its Lease namespace, identity and timings from."""

from __future__ import annotations

import argparse
import getpass
import os
import socket

import pytest
from pydantic import ValidationError

from mlaiops import runner
from mlaiops.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("MLAIOPS_") or key in ("POD_NAME", "POD_NAMESPACE"):
            monkeypatch.delenv(key)


def parse(*argv: str) -> Settings:
    parser = argparse.ArgumentParser()
    runner.register(parser.add_subparsers())
    return runner.settings_from_args(parser.parse_args(["run", *argv]))


def test_defaults_elect_in_mlaiops_system_as_host_and_pid_in_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    settings = Settings()
    assert settings.leader_elect and settings.lease_name == "mlaiops-operator"
    assert settings.lease_namespace == "mlaiops-system"
    assert settings.identity == f"{socket.gethostname()}_{os.getpid()}"
    assert (settings.lease_duration, settings.renew_deadline, settings.retry_period) == (15, 10.0, 2.0)
    assert settings.bind_address == settings.webhook_listen == "0.0.0.0"


def test_outside_a_pod_the_identity_is_stable_and_ports_bind_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A restarted local operator renews its own Lease: the identity must not change with the pid."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr("mlaiops.settings.SERVICE_ACCOUNT_TOKEN", "/nonexistent/token")
    first, second = Settings(), Settings()
    assert first.identity == second.identity == f"{getpass.getuser()}@{socket.gethostname()}"
    assert first.bind_address == first.webhook_listen == "127.0.0.1"
    assert first.alertmanager_host == "127.0.0.1"


def test_default_ports_leave_prometheus_its_own() -> None:
    settings = Settings()
    assert 9090 not in (settings.health_port, settings.metrics_port)
    assert parse("--bind-address", "0.0.0.0", "--metrics-port", "9464").bind_address == "0.0.0.0"
    assert parse("--lease-namespace", "mine").lease_namespace == "mine"
    with pytest.raises(ValidationError, match="bind_address must be an IP address"):
        parse("--bind-address", "localhost")


def test_the_downward_api_names_the_pod_and_its_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "mlaiops-operator-7d9f-abcde")
    monkeypatch.setenv("POD_NAMESPACE", "ops")
    settings = Settings()
    assert (settings.identity, settings.lease_namespace) == ("mlaiops-operator-7d9f-abcde", "ops")
    monkeypatch.setenv("MLAIOPS_LEASE_NAMESPACE", "elsewhere")
    monkeypatch.setenv("MLAIOPS_IDENTITY", "me")
    settings = Settings()
    assert (settings.identity, settings.lease_namespace) == ("me", "elsewhere")


def test_election_can_be_turned_off_by_flag_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse("-A").leader_elect
    assert not parse("--no-leader-elect").leader_elect
    monkeypatch.setenv("MLAIOPS_LEADER_ELECT", "false")
    assert not parse().leader_elect


def test_timings_that_allow_two_leaders_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLAIOPS_RENEW_DEADLINE", "20")
    with pytest.raises(ValidationError, match="lease_duration > renew_deadline > retry_period"):
        Settings()
    monkeypatch.setenv("MLAIOPS_LEADER_ELECT", "false")
    assert Settings().renew_deadline == 20
