"""The `mlaiops` command line and its settings."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from mlaiops import __version__
from mlaiops.cli import COMMANDS, build_parser
from mlaiops.runner import settings_from_args
from mlaiops.settings import Settings


def _mlaiops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlaiops", *args], capture_output=True, text=True)


def test_version() -> None:
    result = _mlaiops("version")
    assert result.returncode == 0 and result.stdout.strip() == f"mlaiops {__version__}"


def test_run_help_lists_the_options() -> None:
    result = _mlaiops("run", "--help")
    assert result.returncode == 0
    for option in ("--namespace", "--all-namespaces", "--standalone", "--dry-run", "--prometheus-url"):
        assert option in result.stdout


def test_every_subcommand_is_listed_with_the_module_that_registers_it() -> None:
    """``COMMANDS`` is what lets a named subcommand import one module: it must match what each registers."""
    for name, module in COMMANDS.items():
        subparsers = build_parser([name])._subparsers._group_actions[0].choices  # type: ignore[union-attr]
        assert set(subparsers) == {name, "version"}, module
    assert list(build_parser()._subparsers._group_actions[0].choices) == [*COMMANDS, "version"]  # type: ignore[union-attr]


def test_a_model_server_does_not_import_the_api_models() -> None:
    """One ``mlaiops serve`` process per replica: its parser must not pay for what ``crds`` imports."""
    probe = (
        "import sys; from mlaiops.cli import build_parser; build_parser(['serve']); print('mlaiops.api' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
    full = probe.replace("['serve']", "['crds']")
    assert (
        subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, check=True).stdout.strip()
        == "True"
    )


def test_unknown_command_fails() -> None:
    result = _mlaiops("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLAIOPS_NAMESPACES", "team-a, team-b")
    monkeypatch.setenv("MLAIOPS_DRY_RUN", "false")
    monkeypatch.setenv("MLAIOPS_PROMETHEUS_URL", "http://prom.example:9090")
    from_env = settings_from_args(build_parser().parse_args(["run"]))
    assert from_env.namespaces == ["team-a", "team-b"] and not from_env.clusterwide
    assert str(from_env.prometheus_url) == "http://prom.example:9090/"
    assert from_env.dry_run is False
    from_flags = settings_from_args(build_parser().parse_args(["run", "-n", "team-c", "--dry-run"]))
    assert from_flags.namespaces == ["team-c"] and from_flags.dry_run is True
    everything = settings_from_args(build_parser().parse_args(["run", "-A"]))
    assert everything.clusterwide


def test_namespace_and_all_namespaces_exclude_each_other() -> None:
    result = _mlaiops("run", "-n", "a", "-A")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("MLAIOPS_LOG_FORMAT", "xml", "log_format"),
        ("MLAIOPS_PROMETHEUS_URL", "not a url", "prometheus_url"),
        ("MLAIOPS_NAMESPACES", "Bad_Name", "namespaces"),
        ("MLAIOPS_HEALTH_PORT", "70000", "health_port"),
    ],
)
def test_invalid_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert caught.value.errors()[0]["loc"][0] == field


def test_invalid_environment_gives_a_clear_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLAIOPS_LOG_FORMAT", "xml")
    result = _mlaiops("run")
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr and "log_format" in result.stderr
