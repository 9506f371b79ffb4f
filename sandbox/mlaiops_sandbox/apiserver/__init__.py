"""The sandbox's Kubernetes API server: the cluster that kopf, the kubernetes client and kubectl
talk to in tests, e2e runs and the demo (plain HTTP as the admin; HTTPS for ServiceAccount tokens).

    server = await start()                 # async, on the running loop; server.url
    with ApiServerThread() as srv: ...     # sync, own loop in a thread (tests)
    python -m mlaiops_sandbox.apiserver --port 8001

Modules: store (objects, resourceVersion, history, watchers), resources (built-in registry),
crds, schema (structural validation/defaulting/pruning), patch, selectors, objects (write
semantics), watch, tables, discovery, openapi, gc (garbage collector, namespace and CRD cleanup),
faults (fault injection + audit), protobuf (the few kubectl protobuf bodies), builtin_schema
(unknown fields of built-ins), authn (ServiceAccount tokens, impersonation), rbac (the RBAC
authorizer), access (the server's authentication/authorization filters), reviews (TokenRequest and
the access reviews), tls (the HTTPS listener's certificate), server (HTTP).

Not emulated (differences from a real kube-apiserver):
- Requests without credentials are the cluster admin; only ServiceAccount tokens from TokenRequest
  authenticate (opaque, in memory); RBAC is enforced for them (no aggregation, no escalate/bind
  checks on writes to roles and bindings); validating
  admission webhooks are called (see admission.py), mutating ones are not; no CEL
  `x-kubernetes-validations`; no ValidatingAdmissionPolicy.
- Built-in kinds are not validated or defaulted (beyond Namespace/Service/Secret/Pod basics):
  wrong types, missing required fields and invalid values are stored. Unknown fields are pruned
  and reported (Warn/Strict) only when the optional kubernetes-validate package is installed
  (its Kubernetes 1.32 schemas are used); without it they are stored silently.
- No version conversion: all served versions of a CRD share one storage, objects are relabelled.
- Server-side apply is a merge of the applied config: no field ownership, conflicts or removal of
  fields a manager stopped applying; managedFields is only a list of managers.
- Strategic merge: no `$retainKeys`, merge keys are a fixed table by field name.
- Pods are deleted at once (no graceful termination); no kubelet, controllers or scheduler here
  (the local pod runtime plays them); `gracePeriodSeconds` is ignored.
- Lists always serve the latest state (`resourceVersion`/`resourceVersionMatch` on lists ignored);
  `continue` tokens are not snapshot-consistent and never expire.
- No aggregated discovery, /openapi/v2, protobuf responses, CBOR, HTTP/2, legacy `/watch/` paths,
  `?watch` on a single object path, exec/attach/port-forward/proxy (pods/log only via add_subresource).
- Protobuf request bodies only for Namespace, ConfigMap, Secret, ServiceAccount
  (`kubectl create deployment|job|...` gets 415).
- Garbage collection matches owners by uid only; foreground deletion deletes dependents in the
  background; Orphan removes ownerReferences synchronously instead of via the `orphan` finalizer.
- No quotas, limit ranges, priority and fairness (429 only via fault injection), no field
  selectors beyond metadata.name/namespace and a few per-kind fields.
"""

from .server import ApiServer, ApiServerThread, kubeconfig, start

__all__ = ["ApiServer", "ApiServerThread", "kubeconfig", "start"]
