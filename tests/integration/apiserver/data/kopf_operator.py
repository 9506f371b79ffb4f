"""A throwaway kopf operator for the sandbox tests; every handler call appends a JSON line to
the file named by SANDBOX_KOPF_RECORDS so the test can count calls exactly."""

from __future__ import annotations

import json
import os
from typing import Any

import kopf

RESOURCE = ("kopf.dev", "v1", "kopfexamples")


def record(what: str, name: str, **extra: Any) -> None:
    with open(os.environ["SANDBOX_KOPF_RECORDS"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"what": what, "name": name, **extra}) + "\n")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.posting.level = 20  # post INFO events too
    settings.watching.server_timeout = 30


@kopf.on.create(*RESOURCE)
def created(body: kopf.Body, name: str, spec: kopf.Spec, **_: Any) -> dict[str, Any]:
    record("create", name, field=spec.get("field"))
    kopf.info(body, reason="Created", message=f"created {name}")
    return {"message": "created"}


@kopf.on.update(*RESOURCE)
def updated(name: str, spec: kopf.Spec, patch: kopf.Patch, **_: Any) -> None:
    record("update", name, field=spec.get("field"))
    patch.status["phase"] = f"updated-{spec.get('field')}"


@kopf.on.delete(*RESOURCE)
def deleted(name: str, **_: Any) -> None:
    record("delete", name)


@kopf.timer(*RESOURCE, interval=0.5)
def ticked(name: str, **_: Any) -> None:
    record("timer", name)
