"""The aiohttp application that plays kube-apiserver, and helpers to run it (async or in a thread)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import yaml
from aiohttp import web

from . import access, bootstrap, discovery, openapi, patch, protobuf
from .admission import Admission
from .admission import Request as AdmissionRequest
from .errors import ApiError, bad_request
from .faults import FAULT, AuditRecord, Faults
from .gc import GarbageCollector
from .objects import Cluster, Result, WriteOptions
from .resources import ResourceInfo
from .reviews import review_handlers, token_handler
from .tables import to_table, wants_table
from .tls import ServingCert
from .watch import serve_watch

JSON = "application/json"
SubresourceHandler = Callable[[web.Request, "ApiServer", "Target"], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    """Compact JSON and a newline, as the real server's encoder writes; warnings become
    `Warning: 299 - "..."` headers as the real server sends."""
    response = _json_text(json.dumps(body, separators=(",", ":")), status)
    for warning in warnings or []:
        escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


def _json_text(text: str, status: int = 200) -> web.Response:
    """A body already serialised as compact JSON (a document the server keeps)."""
    return web.Response(text=text + "\n", status=status, content_type=JSON)


def _error(err: ApiError) -> web.Response:
    response = _json(err.body, err.code)
    if err.code == 429:
        response.headers["Retry-After"] = "1"
    for key, value in err.headers.items():
        response.headers[key] = value
    return response


def _options(kind: str, opts: WriteOptions) -> dict[str, Any]:
    """The request options an AdmissionReview carries (CreateOptions, UpdateOptions, PatchOptions, DeleteOptions)."""
    options: dict[str, Any] = {"kind": kind, "apiVersion": "meta.k8s.io/v1"}
    if opts.dry_run:
        options["dryRun"] = ["All"]
    if opts.field_manager and kind != "DeleteOptions":
        options["fieldManager"] = opts.field_manager
    return options


class Target:
    """What a resource URL addresses: group/version/plural, namespace, name, subresource."""

    def __init__(
        self, group: str, version: str, rest: list[str], cluster: Cluster, extra: frozenset[str] = frozenset()
    ) -> None:
        self.group, self.version = group, version
        self.namespace: str | None = None
        self.name: str | None = None
        self.subresource: str | None = None
        registry = cluster.registry
        if (
            len(rest) >= 3
            and rest[0] == "namespaces"
            and (info := registry.get(group, version, rest[2])) is not None
            and info.namespaced
        ):
            self.namespace, self.plural = rest[1], rest[2]
            tail = rest[3:]
        else:
            self.plural = rest[0]
            tail = rest[1:]
        if len(tail) > 2:
            raise ApiError(404, "the server could not find the requested resource", details={})
        self.name = tail[0] if tail else None
        self.subresource = tail[1] if len(tail) > 1 else None
        self.info = cluster.info(group, version, self.plural)
        if self.info.namespaced and self.name and self.namespace is None:
            raise ApiError(404, "the server could not find the requested resource", details={})
        if not self.info.namespaced and self.namespace is not None:
            raise ApiError(404, "the server could not find the requested resource", details={})
        if self.subresource is not None and (group, self.plural, self.subresource) in extra:
            return
        if (
            self.subresource not in (None, "status", "scale")
            or (self.subresource == "status" and not self.info.status)
            or (self.subresource == "scale" and self.info.scale is None)
        ):
            raise ApiError(404, "the server could not find the requested resource", details={})


class ApiServer:
    """A running server: `.url`, `.cluster` (in-process state), `await stop()`."""

    def __init__(self, bookmark_interval: float = 10.0, history_size: int = 10000) -> None:
        self.certificate = ServingCert.create()  # the CA clients trust on secure_url (tls.py)
        self.cluster = Cluster(history_size=history_size, root_ca=self.certificate.ca_pem.decode())
        self.faults = Faults()
        self.bookmark_interval = bookmark_interval
        self.gc = GarbageCollector(self.cluster)
        self.admission = Admission(self.cluster)
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self.dispatch)
        self.url = ""
        self.secure_url = ""
        self._runner: web.AppRunner | None = None
        self.subresource_handlers: dict[tuple[str, str, str], SubresourceHandler] = {}
        self._extra_verbs: dict[tuple[str, str, str], list[str]] = {}
        self.access = access.Access(self.cluster.store)  # authentication + RBAC (access.py)
        self.reviews = review_handlers(self.access)
        self.add_subresource("", "serviceaccounts", "token", token_handler(self.access), verbs=("create",))

    def add_subresource(
        self, group: str, plural: str, name: str, handler: SubresourceHandler, verbs: tuple[str, ...] = ("get",)
    ) -> None:
        """Serve `<plural>/<name>` (e.g. pods/log) with `handler(request, server, target)`; it
        also appears in discovery. This is how the local pod runtime plugs in without owning the
        server."""
        self.subresource_handlers[(group, plural, name)] = handler
        self._extra_verbs[(group, plural, name)] = list(verbs)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        bound_port = server.sockets[0].getsockname()[1]
        self.url = f"http://{host}:{bound_port}"
        secure = web.TCPSite(self._runner, host, 0, ssl_context=self.certificate.context())
        await secure.start()
        assert secure._server is not None and secure._server.sockets
        secure_port = secure._server.sockets[0].getsockname()[1]
        self.secure_url = f"https://{host}:{secure_port}"  # for bearer tokens
        service, endpoints = bootstrap.kubernetes_service(secure_port)
        self.cluster.ensure("", "services", "default", service)
        self.cluster.ensure("", "endpoints", "default", endpoints)
        self.gc.start()

    async def stop(self) -> None:
        for watcher in list(self.cluster.store.watchers):
            watcher.close()
        await self.gc.stop()
        if self._runner:
            await self._runner.cleanup()

    # --- routing ------------------------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        try:
            self.access.identify(request)
            if not self._resource_path(path):
                self.access.check_path(request, request.path)
            if path in ("/healthz", "/livez", "/readyz"):
                return web.Response(text="ok")
            if path == "/version":
                return _json(discovery.SERVER_VERSION)
            if path.startswith("/sandbox/"):
                return await self._admin(request, path)
            if path == "/openapi/v3":
                return _json_text(openapi.root_json(self.cluster.registry))
            if path.startswith("/openapi/v3/"):
                return self._openapi(path[len("/openapi/v3/") :])
            parts = path.strip("/").split("/")
            if parts[0] == "api":
                return await self._api(request, "", parts[1:])
            if parts[0] == "apis":
                if len(parts) == 1:
                    return _json(discovery.api_group_list(self.cluster.registry))
                if len(parts) == 2:
                    group_doc = discovery.api_group(self.cluster.registry, parts[1])
                    if group_doc is None:
                        raise ApiError(404, "the server could not find the requested resource", details={})
                    return _json(group_doc)
                return await self._api(request, parts[1], parts[2:])
            raise ApiError(404, "the server could not find the requested resource", details={})
        except ApiError as err:
            return _error(err)

    @staticmethod
    def _resource_path(path: str) -> bool:
        """/api/<v>/<...> and /apis/<g>/<v>/<...> are authorized per resource, the rest per URL."""
        parts = path.strip("/").split("/")
        return (parts[0] == "api" and len(parts) >= 3) or (parts[0] == "apis" and len(parts) >= 4)

    def _openapi(self, gv: str) -> web.Response:
        parts = gv.split("/")
        doc = None
        if parts[0] == "api" and len(parts) == 2:
            doc = openapi.gv_json(self.cluster.registry, "", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = openapi.gv_json(self.cluster.registry, parts[1], parts[2])
        if doc is None:
            raise ApiError(404, "the server could not find the requested resource", details={})
        return _json_text(doc)

    async def _api(self, request: web.Request, group: str, parts: list[str]) -> web.StreamResponse:
        registry = self.cluster.registry
        if not group and not parts:
            return _json(discovery.api_versions(request.host))
        if not parts:
            raise ApiError(404, "the server could not find the requested resource", details={})
        version, rest = parts[0], parts[1:]
        if not rest:
            doc = discovery.resource_list(registry, group, version, self._extra_verbs)
            if doc is None:
                raise ApiError(404, "the server could not find the requested resource", details={})
            return _json(doc)
        target = Target(group, version, rest, self.cluster, frozenset(self.subresource_handlers))
        verb = self._verb(request, target)
        record = AuditRecord(
            verb=verb,
            group=group,
            version=version,
            resource=target.plural,
            subresource=target.subresource or "",
            namespace=target.namespace or "",
            name=target.name or "",
            userAgent=request.headers.get("User-Agent", ""),
            client=request.headers.get("X-Sandbox-Client", ""),
            user=access.user_of(request).name,
        )
        self.faults.record(record)
        try:
            self.access.check_resource(request, verb, target)
        except ApiError as err:
            record.code = err.code
            raise
        decision = self.faults.decide(record)
        request[FAULT] = decision  # watch faults (drop, expire) are applied by serve_watch
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if decision.status:
            record.code = decision.status
            raise ApiError(decision.status, f"injected fault ({decision.status}) for {verb} {target.plural}")
        try:
            response = await self._serve(request, target, verb)
        except ApiError as err:
            record.code = err.code
            raise
        record.code = response.status
        return response

    @staticmethod
    def _verb(request: web.Request, target: Target) -> str:
        method = request.method
        if method == "GET":
            if target.name:
                return "get"
            return "watch" if request.query.get("watch") in ("true", "1") else "list"
        if method == "DELETE":
            return "delete" if target.name else "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())

    # --- verbs --------------------------------------------------------------------------------

    def _render(self, info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        """Serve objects under the requested version (all versions share one storage, no conversion)."""
        if obj.get("apiVersion") != info.api_version and obj.get("kind") == info.kind:
            return {**obj, "apiVersion": info.api_version}
        return obj

    async def _serve(self, request: web.Request, target: Target, verb: str) -> web.StreamResponse:
        cluster, info, q = self.cluster, target.info, request.query
        accept = request.headers.get("Accept", "")
        table = wants_table(accept)
        include = q.get("includeObject", "Metadata")
        ns, name, sub = target.namespace, target.name, target.subresource
        if (review := self.reviews.get(info.gr)) is not None:
            return await review(request, self, target, verb)
        if sub is not None and (handler := self.subresource_handlers.get((info.group, info.plural, sub))):
            if verb not in self._extra_verbs[(info.group, info.plural, sub)]:
                raise ApiError(405, "the server does not allow this method on the requested resource")
            cluster.get(info, ns, name or "")  # 404 for a missing parent, like the real server
            return await handler(request, self, target)

        if verb == "watch":

            def render(obj: dict[str, Any]) -> dict[str, Any]:
                obj = self._render(info, obj)
                return to_table(info, [obj], include_object=include) if table else obj

            return await serve_watch(request, cluster, info, ns, render, self.bookmark_interval)
        if verb == "list":
            limit = int(q["limit"]) if q.get("limit", "").isdigit() else 0
            doc = cluster.list(info, ns, q.get("labelSelector"), q.get("fieldSelector"), limit, q.get("continue"))
            doc["items"] = [self._render(info, o) for o in doc["items"]]
            if table:
                return _json(to_table(info, doc["items"], doc["metadata"], include))
            return _json(doc)
        if verb == "get":
            if sub == "scale":
                return _json(cluster.get_scale(info, ns, name or ""))
            obj = self._render(info, cluster.get(info, ns, name or ""))
            if table:
                return _json(to_table(info, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, include))
            return _json(obj)

        opts = self._write_options(q)
        admit = self.admission.admit  # validating admission webhooks (admission.py)
        if verb == "create":
            if name:
                raise ApiError(405, "the server does not allow this method on the requested resource")
            body = await self._body(request)
            review = AdmissionRequest(info, ns, None, None, "CREATE", _options("CreateOptions", opts))
            return self._result(info, await admit(review, opts, lambda o: cluster.create(info, ns, body, o), body))
        if verb in ("update", "patch") and not name:
            raise ApiError(405, "the server does not allow this method on the requested resource")
        if verb == "update":
            body = await self._body(request)
            review = AdmissionRequest(info, ns, name, sub, "UPDATE", _options("UpdateOptions", opts))
            if sub == "scale":
                return self._result(
                    info, await admit(review, opts, lambda o: cluster.update_scale(info, ns, name or "", body, o))
                )
            return self._result(
                info, await admit(review, opts, lambda o: cluster.update(info, ns, name or "", body, o, sub))
            )
        if verb == "patch":
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            raw = await request.read()
            creates = (
                content_type == "application/apply-patch+yaml"
                and cluster.store.get(info.gr, ns or "", name or "") is None
            )
            operation = "CREATE" if creates and not sub else "UPDATE"
            review = AdmissionRequest(info, ns, name, sub, operation, _options("PatchOptions", opts))
            if sub == "scale":
                return self._result(
                    info,
                    await admit(
                        review, opts, lambda o: cluster.patch_scale(info, ns, name or "", content_type, raw, o)
                    ),
                )
            return self._result(
                info,
                await admit(review, opts, lambda o: cluster.patch(info, ns, name or "", content_type, raw, o, sub)),
            )
        if verb in ("delete", "deletecollection"):
            if sub:
                raise ApiError(405, "the server does not allow this method on the requested resource")
            options = await self._delete_options(request)
            if verb == "delete":
                review = AdmissionRequest(
                    info, ns, name, None, "DELETE", {**_options("DeleteOptions", opts), **options}
                )
                return self._result(
                    info, await admit(review, opts, lambda o: cluster.delete(info, ns, name or "", options, o.dry_run))
                )
            result = cluster.delete_collection(
                info, ns, q.get("labelSelector"), q.get("fieldSelector"), options, opts.dry_run
            )
            return self._result(info, result)
        raise ApiError(405, "the server does not allow this method on the requested resource")

    def _result(self, info: ResourceInfo, result: Result) -> web.Response:
        body = self._render(info, result.body) if result.body.get("kind") == info.kind else result.body
        return _json(body, result.code, result.warnings)

    @staticmethod
    def _write_options(q: Any) -> WriteOptions:
        validation = q.get("fieldValidation") or "Warn"
        if validation not in ("Strict", "Warn", "Ignore"):
            raise bad_request(
                f'fieldValidation parameter unsupported or invalid: "{validation}", '
                "must be one of: Ignore, Warn, Strict"
            )
        return WriteOptions(
            field_validation=validation,
            dry_run=q.get("dryRun") == "All",
            field_manager=q.get("fieldManager"),
            force=q.get("force") == "true",
        )

    @staticmethod
    async def _body(request: web.Request) -> Any:
        raw = await request.read()
        content_type = request.headers.get("Content-Type", JSON).split(";")[0].strip()
        if "protobuf" in content_type:
            try:
                decoded = protobuf.decode(raw)
            except (ValueError, IndexError, UnicodeDecodeError):
                decoded = None
            if decoded is not None:
                return decoded
            raise ApiError(
                415,
                f"the body of the request was in an unknown format - accepted media types include: {JSON}, application/yaml",
            )
        try:
            if content_type in ("application/yaml", "application/apply-patch+yaml"):
                return patch.load_yaml(raw)
            return json.loads(raw or b"null")
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"error decoding request body: {exc}") from exc

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        options: dict[str, Any] = {}
        raw = await request.read()
        if raw.strip():
            try:
                options = json.loads(raw)
            except ValueError as exc:
                raise bad_request(f"error decoding DeleteOptions: {exc}") from exc
        q = request.query
        if q.get("propagationPolicy"):
            options["propagationPolicy"] = q["propagationPolicy"]
        if q.get("orphanDependents"):
            options["orphanDependents"] = q["orphanDependents"] == "true"
        return options if isinstance(options, dict) else {}

    # --- sandbox admin ------------------------------------------------------------------------

    async def _admin(self, request: web.Request, path: str) -> web.Response:
        store = self.cluster.store
        if path == "/sandbox/faults":
            if request.method == "GET":
                return _json(self.faults.describe())
            if request.method == "DELETE":
                return _json(self.faults.configure({"rules": []}))
            return _json(self.faults.configure(await self._body(request)))
        if path == "/sandbox/audit":
            if request.method == "DELETE":
                self.faults.clear_audit()
                return _json({"items": []})
            dropped, cleared = self.faults.audit_dropped, self.faults.audit_cleared  # lost to the bound, deleted
            return _json({"items": [asdict(r) for r in self.faults.audit], "dropped": dropped, "cleared": cleared})
        if path == "/sandbox/watches/drop" and request.method == "POST":
            watchers = list(store.watchers)
            for watcher in watchers:
                watcher.close()
            return _json({"dropped": len(watchers)})
        if path == "/sandbox/watches/expire" and request.method == "POST":
            store.expire_next_watch = True
            return _json({"expireNextWatch": True, "resourceVersion": str(store.rv)})
        if path == "/sandbox/compact" and request.method == "POST":
            return _json({"compactedResourceVersion": str(store.compact())})
        raise ApiError(404, "the server could not find the requested resource", details={})


async def start(host: str = "127.0.0.1", port: int = 0, bookmark_interval: float = 10.0) -> ApiServer:
    """Start a server on the running loop; `port=0` picks a free port (see `.url`)."""
    server = ApiServer(bookmark_interval=bookmark_interval)
    await server.start(host, port)
    return server


def kubeconfig(url: str, namespace: str = "default") -> dict[str, Any]:
    """A kubeconfig for kopf, the kubernetes client and kubectl: plain http, no credentials."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": url}}],
        "users": [{"name": "sandbox", "user": {}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox", "namespace": namespace}}],
        "current-context": "sandbox",
    }


class ApiServerThread:
    """Run the server on its own loop in a daemon thread: `with ApiServerThread() as srv: srv.url`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, bookmark_interval: float = 10.0) -> None:
        self.host, self.port, self.bookmark_interval = host, port, bookmark_interval
        self.loop = asyncio.new_event_loop()
        self.server: ApiServer | None = None
        self.startup_seconds = 0.0
        self._thread = threading.Thread(target=self.loop.run_forever, name="sandbox-apiserver", daemon=True)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def call(self, fn: Any, *args: Any) -> Any:
        """Run a plain function on the server's loop (to read or poke state without races)."""

        async def _run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(_run(), self.loop).result(timeout=10)

    def start(self) -> ApiServerThread:
        began = time.monotonic()
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start(self.host, self.port, self.bookmark_interval), self.loop)
        self.server = future.result(timeout=30)
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> ApiServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
