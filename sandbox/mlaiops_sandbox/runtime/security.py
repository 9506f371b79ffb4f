"""What a container may be, as the kubelet decides it before creating one: pure functions, no I/O.

Resource quantities (``64Mi``, ``500m``) become numbers; ``securityContext`` (the pod's, overridden per
field by the container's) becomes a user, groups and flags; ``runAsNonRoot`` is checked against the
image's user with the kubelet's own messages, which end up in ``CreateContainerConfigError``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

JSON = dict[str, Any]

SUFFIXES = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)$")


def quantity(value: object, field: str = "quantity") -> Decimal:
    """A Kubernetes quantity as a number (``64Mi`` -> 67108864, ``500m`` -> 0.5); ValueError names ``field``."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"{field}: {value!r} is not a Kubernetes quantity")
    try:
        return Decimal(match.group(1)) * SUFFIXES[match.group(2)]
    except InvalidOperation as error:
        raise ValueError(f"{field}: {value!r} is not a Kubernetes quantity") from error


def effective_security(pod: JSON, container: JSON) -> JSON:
    """The container's securityContext over the pod's (only the fields both may hold are inherited)."""
    inherited = ("runAsUser", "runAsGroup", "runAsNonRoot", "seLinuxOptions", "seccompProfile")
    pod_context = (pod.get("spec") or {}).get("securityContext") or {}
    result = {key: pod_context[key] for key in inherited if key in pod_context}
    return result | dict(container.get("securityContext") or {})


def pod_label(pod: JSON) -> str:
    """``name_namespace(uid)``: how the kubelet names a pod in its messages."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name')}_{meta.get('namespace') or 'default'}({meta.get('uid')})"


def non_root_violation(pod: JSON, container: JSON, image_user: str) -> str | None:
    """The kubelet's refusal when ``runAsNonRoot`` cannot hold, else None. ``image_user`` is the image's
    ``USER`` (``""`` means root)."""
    context = effective_security(pod, container)
    if not context.get("runAsNonRoot"):
        return None
    where = f'(pod: "{pod_label(pod)}", container: {container["name"]})'
    if context.get("runAsUser") is not None:
        if int(context["runAsUser"]) == 0:
            return f"container's runAsUser breaks non-root policy {where}"
        return None
    user = image_user.split(":", 1)[0]
    if user in ("", "0"):
        return f"container has runAsNonRoot and image will run as root {where}"
    if not user.isdigit():
        return f"container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root {where}"
    return None


def user_flag(pod: JSON, container: JSON, image_user: str) -> str | None:
    """``uid[:gid]`` for ``runAsUser``/``runAsGroup`` (the image's user keeps the other half), or None."""
    context = effective_security(pod, container)
    uid, gid = context.get("runAsUser"), context.get("runAsGroup")
    if uid is None and gid is None:
        return None
    image_uid, _, image_gid = image_user.partition(":")
    user = str(uid) if uid is not None else (image_uid or "0")
    group = str(gid) if gid is not None else image_gid
    return f"{user}:{group}" if group else user


def extra_groups(pod: JSON) -> list[str]:
    """``fsGroup`` and ``supplementalGroups`` of the pod: groups every container's process also has."""
    context = (pod.get("spec") or {}).get("securityContext") or {}
    groups = [context["fsGroup"]] if context.get("fsGroup") is not None else []
    groups += list(context.get("supplementalGroups") or [])
    return [str(int(group)) for group in dict.fromkeys(groups)]


def resource_flags(container: JSON) -> list[str]:
    """``limits.memory`` -> ``--memory`` with no swap, ``limits.cpu`` -> ``--cpus``, ``requests.cpu`` ->
    ``--cpu-shares`` (the kubelet's 1024 shares per core, at least 2)."""
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    flags: list[str] = []
    if "memory" in limits:
        memory = int(quantity(limits["memory"], f"containers[{container['name']}].resources.limits.memory"))
        flags += ["--memory", str(memory), "--memory-swap", str(memory)]
    if "cpu" in limits:
        cpus = quantity(limits["cpu"], f"containers[{container['name']}].resources.limits.cpu")
        flags += ["--cpus", f"{cpus.normalize():f}"]
    cpu_request = requests.get("cpu", limits.get("cpu"))
    if cpu_request is not None:
        cores = quantity(cpu_request, f"containers[{container['name']}].resources.requests.cpu")
        flags += ["--cpu-shares", str(max(2, int(cores * 1024)))]
    return flags


def security_flags(pod: JSON, container: JSON, image_user: str) -> list[str]:
    """``--user``, ``--group-add``, ``--read-only`` (no tmpfs anywhere: like a kubelet, only volumes are
    writable), ``no-new-privileges`` and capabilities."""
    context = effective_security(pod, container)
    flags: list[str] = []
    user = user_flag(pod, container, image_user)
    if user:
        flags += ["--user", user]
    for group in extra_groups(pod):
        flags += ["--group-add", group]
    if context.get("readOnlyRootFilesystem"):
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if context.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    capabilities = context.get("capabilities") or {}
    for cap in capabilities.get("drop") or []:
        flags += ["--cap-drop", str(cap)]
    for cap in capabilities.get("add") or []:
        flags += ["--cap-add", str(cap)]
    return flags
