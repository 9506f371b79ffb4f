"""kubectl against one kubeconfig: what tests, benchmarks and the demo use to act as a user would."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any] | list[dict[str, Any]] | str


class KubectlError(RuntimeError):
    """kubectl exited non-zero; the message carries its stderr."""


class Kubectl:
    """``kubectl --kubeconfig <path> ...``; failures raise ``KubectlError`` with kubectl's own message."""

    def __init__(self, kubeconfig: str | Path, timeout: float = 60) -> None:
        self.kubeconfig = str(kubeconfig)
        self.timeout = timeout

    def run(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", self.kubeconfig, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=self.timeout,
        )
        if check and result.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def __call__(self, *args: str, input: str | None = None, check: bool = True) -> str:
        """kubectl's standard output."""
        return self.run(*args, input=input, check=check).stdout

    def apply(self, manifest: Manifest, namespace: str | None = None) -> None:
        """Apply one object, a list of objects or YAML text (as ``kubectl apply -f -``)."""
        if isinstance(manifest, str):
            text = manifest
        elif isinstance(manifest, list):
            text = yaml.safe_dump_all(manifest)
        else:
            text = yaml.safe_dump(manifest)
        self.run("apply", *(["-n", namespace] if namespace else []), "-f", "-", input=text)

    def apply_path(self, path: str | Path) -> None:
        """Apply a file or every manifest in a folder (``kubectl apply -f PATH``)."""
        self.run("apply", "-f", str(path))

    def ensure_namespace(self, name: str) -> str:
        """Create the namespace if it is missing (idempotent, as ``kubectl apply``)."""
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name
