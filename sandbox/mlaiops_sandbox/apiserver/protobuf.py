"""Decoding of the few protobuf request bodies kubectl's typed clients send.

kubectl's imperative commands (`kubectl create namespace|configmap|secret|serviceaccount`) encode
built-in objects as `application/vnd.kubernetes.protobuf` and do not fall back to JSON on a 415;
so do `kubectl create token` (TokenRequest) and `kubectl auth can-i|whoami` (the review kinds).
This decodes exactly those kinds (wire format + field numbers from k8s.io/api generated.proto) into
the JSON shape; every other protobuf body stays a 415."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"
Fields = dict[int, list[Any]]


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Fields:
    """Raw fields by number: varints as int, length-delimited as bytes (fixed widths skipped)."""
    out: Fields = {}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _str(f: Fields | None, n: int) -> str | None:
    return f[n][-1].decode() if f and n in f else None


def _strs(f: Fields, n: int) -> list[str]:
    return [v.decode() for v in f.get(n, [])]


def _map(f: Fields, n: int, as_bytes: bool = False) -> dict[str, str] | None:
    if n not in f:
        return None
    out = {}
    for entry in f[n]:
        e = _fields(entry)
        value = e.get(2, [b""])[-1]
        out[e[1][-1].decode()] = base64.b64encode(value).decode() if as_bytes else value.decode()
    return out


def _time(f: Fields, n: int) -> str | None:
    if n not in f:
        return None
    seconds = _fields(f[n][-1]).get(1, [0])[-1]
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prune(d: dict[str, Any]) -> dict[str, Any]:
    """Generated protobuf code writes empty strings and zeros too; JSON omits them."""
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {} and v != ""}


def _owner(buf: bytes) -> dict[str, Any]:
    f = _fields(buf)
    return _prune(
        {
            "kind": _str(f, 1),
            "name": _str(f, 3),
            "uid": _str(f, 4),
            "apiVersion": _str(f, 5),
            "controller": bool(f[6][-1]) if 6 in f else None,
            "blockOwnerDeletion": bool(f[7][-1]) if 7 in f else None,
        }
    )


def _meta(buf: bytes) -> dict[str, Any]:
    f = _fields(buf)
    return _prune(
        {
            "name": _str(f, 1),
            "generateName": _str(f, 2),
            "namespace": _str(f, 3),
            "uid": _str(f, 5),
            "resourceVersion": _str(f, 6),
            "generation": f[7][-1] if f.get(7, [0])[-1] else None,
            "creationTimestamp": _time(f, 8),
            "labels": _map(f, 11),
            "annotations": _map(f, 12),
            "ownerReferences": [_owner(b) for b in f.get(13, [])],
            "finalizers": _strs(f, 14),
        }
    )


def _namespace(f: Fields) -> dict[str, Any]:
    spec = _fields(f[2][-1]) if 2 in f else {}
    return _prune({"spec": _prune({"finalizers": _strs(spec, 1)})})


def _configmap(f: Fields) -> dict[str, Any]:
    return _prune(
        {"data": _map(f, 2), "binaryData": _map(f, 3, as_bytes=True), "immutable": bool(f[4][-1]) if 4 in f else None}
    )


def _secret(f: Fields) -> dict[str, Any]:
    return _prune(
        {
            "data": _map(f, 2, as_bytes=True),
            "type": _str(f, 3),
            "stringData": _map(f, 4),
            "immutable": bool(f[5][-1]) if 5 in f else None,
        }
    )


def _serviceaccount(f: Fields) -> dict[str, Any]:
    pull = [{"name": _str(_fields(b), 1)} for b in f.get(3, [])]
    return _prune({"imagePullSecrets": pull, "automountServiceAccountToken": bool(f[4][-1]) if 4 in f else None})


def _token_request(f: Fields) -> dict[str, Any]:
    """`kubectl create token`: audiences (1), boundObjectRef (3), expirationSeconds (4)."""
    spec = _fields(f[2][-1]) if 2 in f else {}
    bound = _fields(spec[3][-1]) if 3 in spec else None
    ref = _prune({"kind": _str(bound, 1), "apiVersion": _str(bound, 2), "name": _str(bound, 3), "uid": _str(bound, 4)})
    return {
        "spec": _prune(
            {
                "audiences": _strs(spec, 1),
                "expirationSeconds": spec[4][-1] if 4 in spec else None,
                "boundObjectRef": ref if bound is not None else None,
            }
        )
    }


def _access_review(f: Fields) -> dict[str, Any]:
    """`kubectl auth can-i`: resourceAttributes (1) or nonResourceAttributes (2)."""
    spec = _fields(f[2][-1]) if 2 in f else {}
    out: dict[str, Any] = {}
    if 1 in spec:
        r = _fields(spec[1][-1])
        keys = ("namespace", "verb", "group", "version", "resource", "subresource", "name")
        out["resourceAttributes"] = {key: _str(r, n) or "" for n, key in enumerate(keys, start=1)}
    if 2 in spec:
        r = _fields(spec[2][-1])
        out["nonResourceAttributes"] = {"path": _str(r, 1) or "", "verb": _str(r, 2) or ""}
    return {"spec": out}


def _rules_review(f: Fields) -> dict[str, Any]:
    """`kubectl auth can-i --list`: namespace (1)."""
    spec = _fields(f[2][-1]) if 2 in f else {}
    return {"spec": {"namespace": _str(spec, 1) or ""}}


DECODERS: dict[tuple[str, str], Callable[[Fields], dict[str, Any]]] = {
    ("v1", "Namespace"): _namespace,
    ("v1", "ConfigMap"): _configmap,
    ("v1", "Secret"): _secret,
    ("v1", "ServiceAccount"): _serviceaccount,
    ("authentication.k8s.io/v1", "TokenRequest"): _token_request,
    ("authentication.k8s.io/v1", "SelfSubjectReview"): lambda f: {},
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): _access_review,
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): _rules_review,
}


def decode(body: bytes) -> dict[str, Any] | None:
    """The JSON form of a protobuf-encoded object, or None when the kind is not supported."""
    if not body.startswith(MAGIC):
        return None
    unknown = _fields(body[len(MAGIC) :])
    type_meta = _fields(unknown.get(1, [b""])[-1])
    api_version, kind = _str(type_meta, 1) or "", _str(type_meta, 2) or ""
    decoder = DECODERS.get((api_version, kind))
    if decoder is None or 2 not in unknown:
        return None
    fields = _fields(unknown[2][-1])
    obj = {"apiVersion": api_version, "kind": kind, "metadata": _meta(fields[1][-1]) if 1 in fields else {}}
    obj.update(decoder(fields))
    return obj
