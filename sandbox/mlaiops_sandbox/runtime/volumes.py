"""Pod volumes as local folders under the pod's directory (or the sandbox's, for claims).

emptyDir -> fresh folder; configMap/secret -> one file per key (``items`` honoured), written once at
pod start; persistentVolumeClaim -> ``<sandbox>/volumes/<namespace>/<claim>`` so data outlives the pod;
projected -> its sources' files in one folder (``serviceAccountToken`` through the TokenRequest API for
the pod's ServiceAccount, as the kubelet asks for it, but written once and never refreshed;
``configMap``, ``secret``, ``downwardAPI``), downwardAPI -> the pod's metadata fields; anything else
(hostPath, ...) -> an empty folder.
"""

from __future__ import annotations

import base64
import contextlib
import os
from pathlib import Path

from mlaiops_sandbox.runtime.client import CONFIGMAPS, JSON, PVCS, SECRETS, ApiClient, ApiError, Resource
from mlaiops_sandbox.runtime.informer import Informer, key_of
from mlaiops_sandbox.runtime.workqueue import Controller


class VolumeError(Exception):
    """A referenced ConfigMap/Secret is missing: the kubelet keeps the pod in ContainerCreating."""


def _write_items(folder: Path, data: dict[str, bytes], items: list[JSON] | None, mode: int | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    selected = [(item["key"], item.get("path") or item["key"]) for item in items or []] or [(key, key) for key in data]
    for key, rel in selected:
        if key not in data:
            continue
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[key])
        if mode is not None:
            with contextlib.suppress(OSError):
                os.chmod(target, mode)


SERVICEACCOUNTS = Resource("v1", "serviceaccounts")
DEFAULT_TOKEN_SECONDS = 3607  # what the kube-api-access volume asks for


def _selected(data: dict[str, bytes], items: list[JSON] | None) -> dict[str, bytes]:
    """``items`` (key -> path) of ``data``, or every key under its own name."""
    if not items:
        return dict(data)
    return {item.get("path") or item["key"]: data[item["key"]] for item in items if item["key"] in data}


def downward_value(pod: JSON, field_path: str) -> str:
    """A ``fieldRef`` of a downwardAPI file: the pod's name, namespace, uid, labels or annotations."""
    meta = pod.get("metadata") or {}
    for source in ("labels", "annotations"):
        if field_path == f"metadata.{source}":
            return "\n".join(f'{k}="{v}"' for k, v in sorted((meta.get(source) or {}).items()))
        if field_path.startswith(f"metadata.{source}["):
            return str((meta.get(source) or {}).get(field_path.split("[", 1)[1][:-1].strip("'\""), ""))
    simple = {"metadata.name": "name", "metadata.namespace": "namespace", "metadata.uid": "uid"}
    return str(meta.get(simple[field_path], "")) if field_path in simple else ""


async def _object_data(client: ApiClient, kind: str, namespace: str, name: str, optional: bool) -> dict[str, bytes]:
    resource = SECRETS if kind == "secret" else CONFIGMAPS
    obj = await client.get_or_none(resource, namespace, name)
    if obj is None:
        if optional:
            return {}
        raise VolumeError(f'{kind.lower()} "{name}" not found')
    if kind == "secret":
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        return data | {k: v.encode() for k, v in (obj.get("stringData") or {}).items()}
    data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    return data | {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}


async def _token(client: ApiClient, pod: JSON, namespace: str, source: JSON) -> bytes:
    """A ServiceAccount token for the pod, bound to it, from the TokenRequest API."""
    account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
    meta = pod.get("metadata") or {}
    spec: JSON = {
        "expirationSeconds": int(source.get("expirationSeconds") or DEFAULT_TOKEN_SECONDS),
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta.get("name"), "uid": meta.get("uid")},
    }
    if source.get("audience"):
        spec["audiences"] = [source["audience"]]
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    try:
        issued = await client.request("POST", SERVICEACCOUNTS.path(namespace, account, "token"), body=body)
    except ApiError as error:
        raise VolumeError(f'serviceaccount "{account}" not found' if error.status == 404 else str(error)) from error
    return str((issued.get("status") or {}).get("token", "")).encode()


async def _projected_files(client: ApiClient, pod: JSON, namespace: str, sources: list[JSON]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for source in sources:
        if "serviceAccountToken" in source:
            files[source["serviceAccountToken"]["path"]] = await _token(
                client, pod, namespace, source["serviceAccountToken"]
            )
        for kind, key in (("configMap", "name"), ("secret", "name")):
            if kind in source:
                spec = source[kind]
                data = await _object_data(client, kind, namespace, spec[key], bool(spec.get("optional")))
                files |= _selected(data, spec.get("items"))
        if "downwardAPI" in source:
            files |= _downward_files(pod, source["downwardAPI"].get("items") or [])
    return files


def _downward_files(pod: JSON, items: list[JSON]) -> dict[str, bytes]:
    return {
        item["path"]: downward_value(pod, item["fieldRef"]["fieldPath"]).encode()
        for item in items
        if "fieldRef" in item
    }


async def prepare_volumes(client: ApiClient, pod: JSON, pod_dir: Path, sandbox_dir: Path) -> dict[str, Path]:
    """Create every volume of ``pod``; returns volume name -> local folder."""
    namespace = pod["metadata"].get("namespace") or "default"
    result: dict[str, Path] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume["name"]
        folder = pod_dir / "volumes" / name
        if "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            folder = sandbox_dir / "volumes" / namespace / claim
            folder.mkdir(parents=True, exist_ok=True)
        elif "configMap" in volume:
            spec = volume["configMap"]
            obj = await client.get_or_none(CONFIGMAPS, namespace, spec["name"])
            if obj is None and not spec.get("optional"):
                raise VolumeError(f'configmap "{spec["name"]}" not found')
            data = {k: v.encode() for k, v in ((obj or {}).get("data") or {}).items()}
            data |= {k: base64.b64decode(v) for k, v in ((obj or {}).get("binaryData") or {}).items()}
            _write_items(folder, data, spec.get("items"), spec.get("defaultMode"))
        elif "secret" in volume:
            spec = volume["secret"]
            obj = await client.get_or_none(SECRETS, namespace, spec["secretName"])
            if obj is None and not spec.get("optional"):
                raise VolumeError(f'secret "{spec["secretName"]}" not found')
            data = {k: base64.b64decode(v) for k, v in ((obj or {}).get("data") or {}).items()}
            data |= {k: v.encode() for k, v in ((obj or {}).get("stringData") or {}).items()}
            _write_items(folder, data, spec.get("items"), spec.get("defaultMode"))
        elif "projected" in volume:
            spec = volume["projected"]
            files = await _projected_files(client, pod, namespace, spec.get("sources") or [])
            _write_items(folder, files, None, spec.get("defaultMode"))
        elif "downwardAPI" in volume:
            spec = volume["downwardAPI"]
            _write_items(folder, _downward_files(pod, spec.get("items") or []), None, spec.get("defaultMode"))
        else:
            folder.mkdir(parents=True, exist_ok=True)
        result[name] = folder
    return result


def container_mounts(container: JSON, volumes: dict[str, Path]) -> dict[str, str]:
    """mountPath -> local path for one container (``subPath`` honoured)."""
    mounts: dict[str, str] = {}
    for mount in container.get("volumeMounts") or []:
        base = volumes.get(mount["name"])
        if base is None:
            continue
        local = base / mount["subPath"] if mount.get("subPath") else base
        if mount.get("subPath") and not local.exists():
            local.mkdir(parents=True, exist_ok=True)
        mounts[mount["mountPath"]] = str(local)
    return mounts


class ClaimBinder(Controller):
    """Binds every PersistentVolumeClaim at once (the folder is created when a pod mounts it).

    Stands in for a dynamic provisioner: ``status.phase: Bound`` with the requested capacity, so that
    tooling waiting for ``Bound`` proceeds. No PersistentVolume object is created.
    """

    name = "claim-binder"

    def __init__(self, client: ApiClient, claims: Informer) -> None:
        super().__init__()
        self.client, self.claims = client, claims
        claims.add_handler(lambda _k, obj, _o: self.enqueue(key_of(obj)))

    async def reconcile(self, key: str) -> None:
        claim = self.claims.store.get(key)
        if claim is None or (claim.get("status") or {}).get("phase") == "Bound":
            return
        spec = claim.get("spec") or {}
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        status = {
            "phase": "Bound",
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "capacity": {"storage": storage},
        }
        meta = claim["metadata"]
        written = await self.client.patch_status(PVCS, meta.get("namespace"), meta["name"], status)
        await self.claims.wait_for_write(written)


ALWAYS_READ_ONLY = ("configMap", "secret", "projected", "downwardAPI")  # the kubelet mounts these read-only
WRITABLE = ("emptyDir", "persistentVolumeClaim")  # world-writable, as the kubelet makes an emptyDir


def apply_fs_group(folder: Path, group: int, writable: bool) -> None:
    """The kubelet's volume ownership change for ``fsGroup``: every file's group becomes ``group``,
    group-readable (and writable, for writable volumes), folders setgid so new files inherit it."""
    paths = [folder, *folder.rglob("*")] if folder.is_dir() else [folder]
    for path in paths:
        with contextlib.suppress(OSError):
            os.chown(path, -1, group, follow_symlinks=False)
            mode = path.stat().st_mode
            extra = 0o040 | (0o020 if writable else 0) | (0o2010 if path.is_dir() else 0)
            os.chmod(path, mode | extra)


def container_bind_mounts(pod: JSON, container: JSON, volumes: dict[str, Path]) -> list[tuple[Path, str, bool]]:
    """(local folder or file, mountPath, read-only) for each of the container's volumeMounts, for a real
    container (``subPath`` honoured). emptyDir and claim folders are made writable for any user, so a
    non-root container can write to them as on a cluster; with the pod's ``fsGroup`` every volume's
    files get that group, as the kubelet's ownership change gives them."""
    fs_group = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    kinds = {v["name"]: next((k for k in v if k != "name"), "") for v in (pod.get("spec") or {}).get("volumes") or []}
    mounts: list[tuple[Path, str, bool]] = []
    for mount in container.get("volumeMounts") or []:
        base = volumes.get(mount["name"])
        if base is None:
            continue
        kind = kinds.get(mount["name"], "")
        local = base / mount["subPath"] if mount.get("subPath") else base
        if mount.get("subPath") and not local.exists():
            local.mkdir(parents=True, exist_ok=True)
        if kind in WRITABLE and local.is_dir():
            with contextlib.suppress(OSError):
                os.chmod(local, 0o777)
        if fs_group is not None and kind in (*WRITABLE, *ALWAYS_READ_ONLY):
            apply_fs_group(local, int(fs_group), kind in WRITABLE)
        mounts.append((local, mount["mountPath"], bool(mount.get("readOnly")) or kind in ALWAYS_READ_ONLY))
    return mounts
