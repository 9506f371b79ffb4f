"""The sandbox's Gateway API CRDs are upstream's v1.6.1 standard channel, byte for byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from mlaiops_sandbox.gateway.install import CRD_DIR, crd_documents

pytestmark = pytest.mark.unit

# sha256 of upstream's files (config/crd/standard/ at tag v1.6.1), as vendored.
UPSTREAM = {
    "gateway.networking.k8s.io_gatewayclasses.yaml": "53710048ba26f8620eed59d5e51b157ecf040daf5c6eef31a4b991e0808c4be5",
    "gateway.networking.k8s.io_gateways.yaml": "25b885f5870b8fff1ae82efa2628b2761cef3745900c2aecf8fb76629a01255a",
    "gateway.networking.k8s.io_grpcroutes.yaml": "53a8d029da8f07e55d3fa58a5cf6de5950dab19fbb8d6a8082fb5e51ca5ef6fc",
    "gateway.networking.k8s.io_httproutes.yaml": "a424a0d6c953b162e71d1d97bb7e75012d8f1ac264e7274f2763d1b96ab39852",
    "gateway.networking.k8s.io_referencegrants.yaml": "8c645e9333cfa67790cc2a53e0c00076f88b2bd4230d2b49688c78bc34f9b2c3",
}


def test_vendored_files_are_unchanged() -> None:
    found = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(CRD_DIR).glob("*.yaml"))}
    assert found == UPSTREAM
    assert "Apache License" in (CRD_DIR / "LICENSE").read_text()


def test_they_are_the_standard_channel_of_v1_6_1() -> None:
    docs = crd_documents()
    assert sorted(d["spec"]["names"]["kind"] for d in docs) == [  # type: ignore[index]
        "GRPCRoute",
        "Gateway",
        "GatewayClass",
        "HTTPRoute",
        "ReferenceGrant",
    ]
    for doc in docs:
        annotations = doc["metadata"]["annotations"]  # type: ignore[index]
        assert annotations["gateway.networking.k8s.io/bundle-version"] == "v1.6.1"
        assert annotations["gateway.networking.k8s.io/channel"] == "standard"
