"""The one test harness that tests, benchmarks and the demo share.

- ``free_port``, ``wait_for``: the only port finder and poll loop;
- ``Kubectl``: kubectl against one kubeconfig (apply dicts, YAML text or folders);
- ``OperatorProcess``: the operator as a real ``mlaiops run`` subprocess, as a pod would run it;
- ``exporters``: project-image pods that export a value the test sets through a file;
- ``faults``: fault injection scenarios and their checks;
- ``plugin``: the pytest fixtures ``sandbox``, ``operator_process`` and ``cluster`` (loaded automatically).

Nothing here imports the operator's Python package: it drives it as a user would, through its
process, kubectl and the Kubernetes API.
"""

from mlaiops_sandbox.testing.kubectl import Kubectl
from mlaiops_sandbox.testing.operator import OperatorProcess
from mlaiops_sandbox.testing.ports import free_port
from mlaiops_sandbox.testing.wait import WaitTimeout, wait_for

__all__ = ["Kubectl", "OperatorProcess", "WaitTimeout", "free_port", "wait_for"]
