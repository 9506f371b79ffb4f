"""Container environment from the pod spec: ``env`` (value, fieldRef, secretKeyRef, configMapKeyRef,
resourceFieldRef) and ``envFrom``, in Kubernetes' order (``envFrom`` first, ``env`` overrides)."""

from __future__ import annotations

import base64

from mlaiops_sandbox.runtime.client import CONFIGMAPS, SECRETS, ApiClient
from mlaiops_sandbox.runtime.config import RuntimeConfig
from mlaiops_sandbox.runtime.util import JSON, meta


class ConfigError(Exception):
    """A referenced Secret/ConfigMap key is missing: CreateContainerConfigError, retried."""


class EnvResolver:
    """Reads the Secrets/ConfigMaps a container refers to, at container creation like the kubelet."""

    def __init__(self, client: ApiClient, pod: JSON, config: RuntimeConfig) -> None:
        self.client, self.pod, self.config = client, pod, config
        self.namespace: str = meta(pod).get("namespace") or "default"

    async def _data(self, kind: str, name: str) -> JSON | None:
        resource = SECRETS if kind == "secret" else CONFIGMAPS
        obj = await self.client.get_or_none(resource, self.namespace, name)
        if obj is None:
            return None
        if kind == "secret":
            data = {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
            return data | dict(obj.get("stringData") or {})
        return dict(obj.get("data") or {})

    def _field(self, path: str) -> str:
        pod, config = self.pod, self.config
        m = meta(pod)
        simple = {
            "metadata.name": m.get("name"),
            "metadata.namespace": self.namespace,
            "metadata.uid": m.get("uid"),
            "spec.nodeName": (pod.get("spec") or {}).get("nodeName") or config.node_name,
            "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName") or "default",
            "status.hostIP": config.host_ip,
            "status.hostIPs": config.host_ip,
            "status.podIP": config.pod_ip,
            "status.podIPs": config.pod_ip,
        }
        if path in simple:
            return str(simple[path] or "")
        for prefix, source in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
            if path.startswith(prefix + "["):
                key = path[len(prefix) + 1 : -1].strip("'\"")
                return str((m.get(source) or {}).get(key, ""))
        return ""

    async def pairs(self, container: JSON) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for source in container.get("envFrom") or []:
            for kind, key in (("configMap", "configMapRef"), ("secret", "secretRef")):
                if key in source:
                    data = await self._data(kind, source[key]["name"])
                    if data is None and not source[key].get("optional"):
                        raise ConfigError(f'{kind} "{source[key]["name"]}" not found')
                    prefix = source.get("prefix") or ""
                    pairs += [(prefix + k, v) for k, v in (data or {}).items()]
        for item in container.get("env") or []:
            if "valueFrom" not in item:
                pairs.append((item["name"], str(item.get("value", ""))))
                continue
            ref = item["valueFrom"]
            if "fieldRef" in ref:
                pairs.append((item["name"], self._field(ref["fieldRef"]["fieldPath"])))
            elif "secretKeyRef" in ref or "configMapKeyRef" in ref:
                kind = "secret" if "secretKeyRef" in ref else "configMap"
                sel = ref.get("secretKeyRef") or ref.get("configMapKeyRef")
                data = await self._data(kind, sel["name"])
                if data is None or sel["key"] not in data:
                    if sel.get("optional"):
                        continue
                    raise ConfigError(f"couldn't find key {sel['key']} in {kind} {self.namespace}/{sel['name']}")
                pairs.append((item["name"], data[sel["key"]]))
            elif "resourceFieldRef" in ref:
                resource = ref["resourceFieldRef"].get("resource", "")
                section, _, res = resource.partition(".")
                value = ((container.get("resources") or {}).get(section) or {}).get(res, "0")
                pairs.append((item["name"], str(value)))
        return pairs
