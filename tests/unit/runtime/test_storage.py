"""Fetching artifacts: file:// and pvc:// mapping, folders, sha256 checks, and http:// from a real local server."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from mlaiops.runtime import storage

FILENAMES = ("model.joblib", "model.pkl")


def fetch(uri: str, pvc_root: Path, **kwargs: Any) -> storage.Artifact:
    return asyncio.run(storage.fetch(uri, pvc_root=pvc_root, filenames=FILENAMES, **kwargs))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_file_uri_absolute_and_folder(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"model-bytes")
    direct = fetch((tmp_path / "model.pkl").as_uri(), tmp_path)
    assert direct.path == tmp_path / "model.pkl"
    assert direct.sha256 == digest(b"model-bytes")
    assert fetch(tmp_path.as_uri(), tmp_path).path == tmp_path / "model.pkl"


def test_file_uri_with_localhost_host(tmp_path: Path) -> None:
    (tmp_path / "m.joblib").write_bytes(b"x")
    assert storage.local_path(f"file://localhost{tmp_path}/m.joblib", Path("/unused")) == tmp_path / "m.joblib"


def test_pvc_uri_maps_into_the_claim_folder(tmp_path: Path) -> None:
    claim = tmp_path / "models-pvc" / "fraud" / "v3"
    claim.mkdir(parents=True)
    (claim / "model.joblib").write_bytes(b"v3")
    artifact = fetch("pvc://models-pvc/fraud/v3/model.joblib", tmp_path)
    assert artifact.path == claim / "model.joblib"
    assert fetch("pvc://models-pvc/fraud/v3", tmp_path).path == claim / "model.joblib"


def test_pvc_uri_may_not_leave_the_claim(tmp_path: Path) -> None:
    with pytest.raises(storage.UnsupportedUri, match="leaves claim"):
        storage.local_path("pvc://claim/../other/model.joblib", tmp_path)


def test_missing_file_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(storage.ArtifactNotFound, match="does not exist"):
        fetch((tmp_path / "nope.joblib").as_uri(), tmp_path)
    (tmp_path / "README").write_text("hi")
    with pytest.raises(storage.ArtifactNotFound, match=r"no model file; looked for model.joblib, model.pkl.*README"):
        fetch(tmp_path.as_uri(), tmp_path)


def test_sha256_match_and_mismatch_names_both_hashes(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(b"abc")
    assert fetch(path.as_uri(), tmp_path, sha256=digest(b"abc").upper()).sha256 == digest(b"abc")
    wrong = "0" * 64
    with pytest.raises(storage.ChecksumMismatch) as caught:
        fetch(path.as_uri(), tmp_path, sha256=wrong)
    assert f"expected {wrong}, got {digest(b'abc')}" in str(caught.value)
    assert caught.value.reason == "ChecksumMismatch"


def test_unsupported_scheme_and_s3_without_boto3(tmp_path: Path) -> None:
    with pytest.raises(storage.UnsupportedUri, match="unsupported scheme 'gs'"):
        fetch("gs://bucket/model.joblib", tmp_path)
    try:
        import boto3  # noqa: F401
    except ImportError:
        with pytest.raises(storage.UnsupportedUri, match="s3:// needs boto3"):
            fetch("s3://bucket/model.joblib", tmp_path, download_dir=tmp_path)


async def _with_http_server(handler: Callable[[web.Request], Awaitable[web.StreamResponse]], body: Any) -> Any:
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        return await body(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


def test_http_download_verifies_sha256(tmp_path: Path) -> None:
    payload = b"\x80\x04model" * 50_000
    calls: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(request.path)
        if request.path == "/models/fraud.joblib":
            return web.Response(body=payload)
        if request.path == "/flaky":
            return web.Response(status=503)
        return web.Response(status=404)

    async def scenario(base: str) -> list[Any]:
        results: list[Any] = []
        ok = await storage.fetch(
            f"{base}/models/fraud.joblib", pvc_root=tmp_path, download_dir=tmp_path, sha256=digest(payload)
        )
        results.append(ok)
        for uri, kwargs in (
            (f"{base}/models/fraud.joblib", {"sha256": "f" * 64}),
            (f"{base}/missing.joblib", {}),
            (f"{base}/flaky", {}),
        ):
            try:
                await storage.fetch(uri, pvc_root=tmp_path, download_dir=tmp_path, **kwargs)
            except storage.StorageError as error:
                results.append(error)
        return results

    ok, mismatch, missing, flaky = asyncio.run(_with_http_server(handler, scenario))
    assert ok.path.read_bytes() == payload
    assert ok.path.name == "fraud.joblib"
    assert tmp_path in ok.path.parents
    assert isinstance(mismatch, storage.ChecksumMismatch)
    assert isinstance(missing, storage.ArtifactNotFound)
    assert "HTTP 404" in str(missing)
    assert isinstance(flaky, storage.DownloadFailed)
    assert flaky.transient
    assert calls == ["/models/fraud.joblib", "/models/fraud.joblib", "/missing.joblib", "/flaky"]
    # Failed downloads leave no folder behind (retries would otherwise fill the disk).
    assert len(list(tmp_path.glob("mlaiops-model-*"))) == 2


def test_http_connection_refused_is_transient(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(storage.DownloadFailed) as caught:
        fetch(f"http://127.0.0.1:{port}/model.joblib", tmp_path, download_dir=tmp_path)
    assert caught.value.transient


def test_pvc_uri_follows_where_the_pod_mounted_the_claim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The controller sets MLAIOPS_PVC_MOUNT_<CLAIM> to the mount path; it wins over <pvc_root>/<claim>."""
    mounted = tmp_path / "elsewhere"
    monkeypatch.setenv("MLAIOPS_PVC_MOUNT_FRAUD_MODELS", str(mounted))
    assert (
        storage.local_path("pvc://fraud-models/v1/model.joblib", tmp_path / "root")
        == (mounted / "v1" / "model.joblib").resolve()
    )
    assert storage.local_path("pvc://other/x", tmp_path / "root") == (tmp_path / "root" / "other" / "x").resolve()
    with pytest.raises(storage.UnsupportedUri, match="leaves claim"):
        storage.local_path("pvc://fraud-models/../../etc/passwd", tmp_path / "root")


# --- no URI reaches further than it says -------------------------------------------------------------


def test_file_uri_must_stay_under_the_file_root(tmp_path: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    (root / "model.joblib").write_bytes(b"in")
    (tmp_path / "secret.joblib").write_bytes(b"out")
    assert fetch((root / "model.joblib").as_uri(), tmp_path, file_root=root).path == root / "model.joblib"
    with pytest.raises(storage.UnsupportedUri, match=r"file:// URIs must point under .*models \(--file-root\)"):
        fetch((tmp_path / "secret.joblib").as_uri(), tmp_path, file_root=root)
    with pytest.raises(storage.UnsupportedUri, match="must point under"):
        fetch(f"file://{root}/../secret.joblib", tmp_path, file_root=root)
    (root / "link").mkdir()
    (root / "link" / "model.joblib").symlink_to(tmp_path / "secret.joblib")
    with pytest.raises(storage.UnsupportedUri, match="links outside"):
        fetch((root / "link").as_uri(), tmp_path, file_root=root)


@pytest.mark.parametrize("claim", ["..", "Models", "a_b", "-models", "x" * 64, "models.v1"])
def test_pvc_claim_must_be_a_dns_label(tmp_path: Path, claim: str) -> None:
    with pytest.raises(storage.UnsupportedUri, match="not a valid PersistentVolumeClaim name"):
        storage.local_path(f"pvc://{claim}/model.joblib", tmp_path)


def test_http_redirects_are_followed_on_the_same_host_only(tmp_path: Path) -> None:
    payload = b"model"

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/moved":
            raise web.HTTPFound("/real/model.joblib")
        if request.path == "/away":
            raise web.HTTPFound(f"http://localhost:{request.url.port}/real/model.joblib")
        if request.path == "/loop":
            raise web.HTTPFound("/loop")
        return web.Response(body=payload)

    async def scenario(base: str) -> list[Any]:
        results: list[Any] = []
        for path in ("/moved", "/away", "/loop"):
            try:
                results.append(await storage.fetch(base + path, pvc_root=tmp_path, download_dir=tmp_path))
            except storage.StorageError as error:
                results.append(error)
        return results

    moved, away, loop = asyncio.run(_with_http_server(handler, scenario))
    assert moved.sha256 == digest(payload)
    assert isinstance(away, storage.DownloadFailed) and not away.transient
    assert "another host" in str(away)
    assert isinstance(loop, storage.DownloadFailed) and "more than 5 redirects" in str(loop)
