"""The operator's distribution ships the operator only: the sandbox is its own distribution."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def test_the_operator_wheel_holds_no_sandbox_or_demo() -> None:
    packages = find_packages(where=str(ROOT / "operator"))
    assert "mlaiops" in packages
    assert not [p for p in packages if "sandbox" in p or "demo" in p], packages


def test_the_operator_has_no_sandbox_only_dependency() -> None:
    """cryptography was needed only for the emulator's certificates."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith(("cryptography", "mlaiops-sandbox"))]
    sandbox = tomllib.loads((ROOT / "sandbox" / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("cryptography") for d in sandbox["dependencies"])
    assert sandbox["scripts"] == {"mlaiops-sandbox": "mlaiops_sandbox.cli:main"}
