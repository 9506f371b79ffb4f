"""Fetch a model artifact named by a URI to a local file, and check its sha256.

``file://`` and ``pvc://<claim>/<path>`` are read in place (a claim is mounted at
``<pvc_root>/<claim>``); ``http(s)://`` is downloaded into a folder we own; ``s3://`` works when
boto3 is installed. A URI naming a folder resolves to the one model file inside it (KServe's
convention: ``model.joblib``, ``model.pkl``, ...).

Whoever controls an artifact controls what a pickle runs, so no URI may reach further than it
says: ``file://`` stays under a configured root, a claim must be a DNS-1123 label and the path
may not climb out of it, and http(s) redirects are followed only on the same host.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

_CHUNK = 1 << 20
MAX_REDIRECTS = 5
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class StorageError(Exception):
    """The artifact cannot be fetched. ``reason`` is a short CamelCase word for metrics and logs."""

    reason = "FetchFailed"
    transient = False
    """True when trying again later may succeed (network errors, HTTP 5xx)."""


class ArtifactNotFound(StorageError):
    reason = "NotFound"


class ChecksumMismatch(StorageError):
    reason = "ChecksumMismatch"


class UnsupportedUri(StorageError):
    reason = "UnsupportedUri"


class DownloadFailed(StorageError):
    reason = "DownloadFailed"

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class Artifact:
    """A local model file and its sha256."""

    path: Path
    sha256: str


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _within(path: Path, base: Path) -> bool:
    return path == base or base in path.parents


def local_path(uri: str, pvc_root: Path, file_root: Path | None = None) -> Path | None:
    """The local path of a ``file://`` or ``pvc://`` URI; None for remote schemes.

    ``file:///abs/path`` is absolute, ``file://rel/path`` relative to the working directory; with
    ``file_root`` set, the path (symbolic links resolved) must lie under it.
    ``pvc://claim/a/b`` is ``<mount>/a/b`` and may not climb out of the claim; ``<mount>`` is
    ``$MLAIOPS_PVC_MOUNT_<CLAIM>`` when the pod says where it mounted the claim, else ``<pvc_root>/claim``.
    """
    parts = urlsplit(uri)
    if parts.scheme == "file":
        host = parts.netloc if parts.netloc not in ("", "localhost") else ""
        path = Path(unquote(host + parts.path))
        if file_root is not None:
            root = file_root.resolve()
            if not _within(path.resolve(), root):
                raise UnsupportedUri(f"{uri}: file:// URIs must point under {root} (--file-root)")
        return path
    if parts.scheme == "pvc":
        claim = parts.netloc
        if not claim:
            raise UnsupportedUri(f"{uri}: pvc:// URIs look like pvc://<claim>/<path>")
        if not _DNS_LABEL.match(claim):
            raise UnsupportedUri(
                f"{uri}: claim {claim!r} is not a valid PersistentVolumeClaim name "
                "(lower-case letters, digits and '-', at most 63 characters)"
            )
        mounted = os.environ.get("MLAIOPS_PVC_MOUNT_" + "".join(c if c.isalnum() else "_" for c in claim.upper()))
        base = (Path(mounted) if mounted else pvc_root / claim).resolve()
        path = (base / unquote(parts.path).lstrip("/")).resolve()
        if not _within(path, base):
            raise UnsupportedUri(f"{uri}: the path leaves claim {claim!r}")
        return path
    return None


def pick_model_file(path: Path, filenames: Sequence[str]) -> Path:
    """``path`` itself when it is a file; inside a folder, the first of ``filenames`` that exists."""
    if path.is_file():
        return path
    if path.is_dir():
        for name in filenames:
            if (path / name).is_file():
                return path / name
        present = sorted(child.name for child in path.iterdir())[:10]
        raise ArtifactNotFound(
            f"folder {path} has no model file; looked for {', '.join(filenames)}; it contains: "
            f"{', '.join(present) or 'nothing'}"
        )
    raise ArtifactNotFound(f"model file {path} does not exist")


def verify(artifact: Artifact, expected: str | None) -> None:
    """Raise :class:`ChecksumMismatch` naming both hashes when ``expected`` is set and differs."""
    if expected is not None and artifact.sha256 != expected.lower():
        raise ChecksumMismatch(
            f"sha256 mismatch for {artifact.path}: expected {expected.lower()}, got {artifact.sha256}"
        )


def _redirect_target(uri: str, location: str | None) -> str:
    """Where a redirect goes, if it stays on the same host (and never from https to http)."""
    if not location:
        raise DownloadFailed(f"{uri}: redirect without a Location", transient=False)
    target = urljoin(uri, location)
    source, dest = urlsplit(uri), urlsplit(target)
    if (
        dest.scheme not in ("http", "https")
        or dest.hostname != source.hostname
        or (source.scheme == "https" and dest.scheme != "https")
    ):
        raise DownloadFailed(
            f"{uri}: redirected to {target}, another host or scheme; point storageUri at the artifact itself",
            transient=False,
        )
    return target


async def _download_http(uri: str, folder: Path, timeout: float) -> Artifact:
    import aiohttp

    name = Path(urlsplit(uri).path).name or "model"
    target = folder / name
    digest = hashlib.sha256()
    client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=30, sock_read=60)
    url = uri
    try:
        async with aiohttp.ClientSession(timeout=client_timeout) as session:
            for _ in range(MAX_REDIRECTS + 1):
                async with session.get(url, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308):
                        url = _redirect_target(url, response.headers.get("Location"))
                        continue
                    if response.status == 404:
                        raise ArtifactNotFound(f"{uri}: HTTP 404 Not Found")
                    if response.status >= 400:
                        transient = response.status >= 500 or response.status in (408, 429)
                        raise DownloadFailed(f"{uri}: HTTP {response.status} {response.reason}", transient=transient)
                    with target.open("wb") as handle:
                        async for chunk in response.content.iter_chunked(_CHUNK):
                            digest.update(chunk)
                            handle.write(chunk)
                    return Artifact(target, digest.hexdigest())
    except (aiohttp.ClientError, TimeoutError) as error:
        raise DownloadFailed(f"{uri}: {type(error).__name__}: {error}", transient=True) from None
    raise DownloadFailed(f"{uri}: more than {MAX_REDIRECTS} redirects", transient=False)


def _download_s3(uri: str, folder: Path) -> Artifact:
    try:
        import boto3  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise UnsupportedUri(
            f"{uri}: s3:// needs boto3, which is not installed in this image; install boto3 "
            "or serve the model from http(s)://, pvc:// or file://"
        ) from None
    parts = urlsplit(uri)
    key = parts.path.lstrip("/")
    target = folder / (Path(key).name or "model")
    try:
        boto3.client("s3").download_file(parts.netloc, key, str(target))
    except Exception as error:  # botocore raises many unrelated classes; the message says which
        raise DownloadFailed(f"{uri}: {type(error).__name__}: {error}", transient=True) from None
    return Artifact(target, sha256_file(target))


async def fetch(
    uri: str,
    *,
    pvc_root: Path,
    filenames: Sequence[str] = (),
    download_dir: Path | None = None,
    sha256: str | None = None,
    timeout: float = 600.0,
    file_root: Path | None = None,
) -> Artifact:
    """Make the artifact of ``uri`` available locally and verify ``sha256`` when given.

    ``file_root``: where ``file://`` URIs may point (None: anywhere, for callers that trust the URI).
    """
    scheme = urlsplit(uri).scheme
    path = local_path(uri, pvc_root, file_root)
    if path is not None:
        model_file = pick_model_file(path, filenames)
        if file_root is not None and scheme == "file" and not _within(model_file.resolve(), file_root.resolve()):
            raise UnsupportedUri(f"{uri}: {model_file} links outside {file_root.resolve()} (--file-root)")
        artifact = Artifact(model_file, await asyncio.to_thread(sha256_file, model_file))
    elif scheme in ("http", "https", "s3"):
        folder = Path(tempfile.mkdtemp(prefix="mlaiops-model-", dir=download_dir))
        try:
            if scheme == "s3":
                artifact = await asyncio.to_thread(_download_s3, uri, folder)
            else:
                artifact = await _download_http(uri, folder, timeout)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # no half-downloaded files left behind by retries
            raise
    else:
        raise UnsupportedUri(f"{uri}: unsupported scheme {scheme!r}; use file://, pvc://, http(s):// or s3://")
    verify(artifact, sha256)
    return artifact
