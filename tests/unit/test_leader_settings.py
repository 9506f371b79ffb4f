"""Where the election gets its Lease namespace, identity and timings from."""

from __future__ import annotations

import argparse
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


def test_defaults_elect_in_mlaiops_system_as_host_and_pid() -> None:
    settings = Settings()
    assert settings.leader_elect and settings.lease_name == "mlaiops-operator"
    assert settings.lease_namespace == "mlaiops-system"
    assert settings.identity == f"{socket.gethostname()}_{os.getpid()}"
    assert (settings.lease_duration, settings.renew_deadline, settings.retry_period) == (15, 10.0, 2.0)


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
