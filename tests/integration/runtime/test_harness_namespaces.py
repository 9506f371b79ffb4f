"""The harness's namespaces (``Cluster.namespace`` and ``delete_namespaces``, which the pytest plugin calls
after each module's last test) on a real sandbox: deleted when asked, and a name reused while its old
namespace is still Terminating is created only once the old one is gone (kube-apiserver refuses new
objects in a Terminating namespace with 403 Forbidden, and an apply of the Namespace itself changes nothing)."""

from __future__ import annotations

import threading
import time
from typing import cast

from kubernetes.client.exceptions import ApiException
from mlaiops_sandbox.cluster import Sandbox
from mlaiops_sandbox.testing import OperatorProcess
from mlaiops_sandbox.testing.plugin import Cluster

NAME = "harness-reused"
HOLD = "example.com/hold"


def test_made_namespaces_are_deleted_and_a_reused_name_waits_for_the_old_one_to_go(sandbox: Sandbox) -> None:
    cluster = Cluster(sandbox, cast(OperatorProcess, None))  # the operator is not used by these methods
    cluster.namespace(NAME)
    held = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": [HOLD]}}
    cluster.apply(held, NAME)
    assert cluster.made == [NAME]

    cluster.delete_namespaces()
    assert cluster.made == []
    assert cluster.core.read_namespace(NAME).status.phase == "Terminating"  # the finalizer holds it

    released = threading.Event()

    def release() -> None:
        time.sleep(2)  # gives namespace() the time to return too early, if it does not wait
        released.set()
        cluster.core.patch_namespaced_config_map("held", NAME, {"metadata": {"finalizers": None}})

    releaser = threading.Thread(target=release)
    releaser.start()
    cluster.namespace(NAME)
    returned_after_release = released.is_set()
    releaser.join()
    assert returned_after_release, "namespace() returned while the old namespace was still Terminating"
    assert cluster.core.read_namespace(NAME).status.phase == "Active"
    try:
        cluster.core.read_namespaced_config_map("held", NAME)
    except ApiException as error:
        assert error.status == 404  # the new namespace does not hold the old one's objects
    else:
        raise AssertionError("the old namespace's ConfigMap is in the new one")
    assert cluster.made == [NAME]
    cluster.delete_namespaces()
