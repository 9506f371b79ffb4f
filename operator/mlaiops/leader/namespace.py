"""The Lease's namespace: create it when it is missing and we may, else say in one line what to do.

On a fresh cluster (a laptop against a sandbox or kind) ``mlaiops-system`` does not exist until
the manifests are applied; without it every election attempt would fail with a 404.
"""

from __future__ import annotations

import contextlib
import json

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException


class LeaseNamespaceMissing(Exception):
    """The Lease's namespace does not exist and could not be created; the message says how to fix it."""


class ClusterUnreachable(Exception):
    """The Kubernetes API server does not answer; the message names it and where it came from."""


def api_error(error: ApiException) -> str:
    """One line for an API error: the status and the server's message, never the HTTP headers."""
    message = error.reason or ""
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(error.body or "{}").get("message") or message
    return f"({error.status}) {message}".strip()


def ensure_namespace(api: client.ApiClient, name: str, timeout: float = 10) -> bool:
    """Make sure ``name`` exists; True when we created it. Raises LeaseNamespaceMissing."""
    core = client.CoreV1Api(api)
    try:
        core.read_namespace(name, _request_timeout=timeout)
        return False
    except urllib3.exceptions.HTTPError as error:
        reason = getattr(error, "reason", None) or error
        raise ClusterUnreachable(
            f"cannot reach the Kubernetes API at {api.configuration.host} ({reason}); "
            "check KUBECONFIG and `kubectl config current-context`"
        ) from None
    except ApiException as error:
        if error.status == 403:  # may not read namespaces: the Lease calls will tell
            return False
        if error.status != 404:
            raise
    body = client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
    try:
        core.create_namespace(body, _request_timeout=timeout)
    except ApiException as error:
        if error.status == 409:  # created meanwhile
            return False
        raise LeaseNamespaceMissing(missing_namespace_message(name, error)) from None
    return True


def missing_namespace_message(name: str, error: ApiException) -> str:
    return (
        f'namespace "{name}" for the leader Lease does not exist and could not be created {api_error(error)}: '
        f"run `kubectl create namespace {name}`, or set MLAIOPS_LEASE_NAMESPACE to an existing namespace, "
        "or pass --no-leader-elect"
    )
