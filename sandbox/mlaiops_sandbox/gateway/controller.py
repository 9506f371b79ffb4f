"""The sandbox's Gateway API implementation: GatewayClass ``sandbox`` (controllerName
``mlaiops.dev/sandbox-gateway``), one nginx per Gateway of that class, HTTPRoutes rendered into it.

A plain API client like the rest of the runtime: informers on the Gateway API kinds, Services, Endpoints
and Namespaces; any change re-plans every Gateway of the class (level-triggered, so a missed event never
matters). Status follows the spec: GatewayClass Accepted; Gateway Accepted, Programmed, addresses and
per-listener attachedRoutes; HTTPRoute ``status.parents`` (Accepted, ResolvedRefs) for the parentRefs
naming our Gateways, leaving other controllers' entries alone.

Ports: a listener gets its own ``port`` on 127.0.0.1 when that port is 1024 or above and free, otherwise
a free port; the choice is in the Gateway's annotations ``sandbox.mlaiops.dev/port`` (the first HTTP
listener) and ``sandbox.mlaiops.dev/ports`` (JSON, listener name -> port). ``status.addresses[0]`` is
``127.0.0.1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from pathlib import Path
from typing import Any

from mlaiops_sandbox.gateway import install
from mlaiops_sandbox.gateway.nginx import Nginx, NginxError, nginx_binary, stop_leftovers, worker_user
from mlaiops_sandbox.gateway.plan import CONTROLLER_NAME, GROUP, Cluster, Result, key_of, meta, plan, refs_to
from mlaiops_sandbox.gateway.render import render
from mlaiops_sandbox.runtime.client import ENDPOINTS, SERVICES, ApiClient, ApiError, Resource
from mlaiops_sandbox.runtime.informer import Informer
from mlaiops_sandbox.runtime.util import free_port, timestamp
from mlaiops_sandbox.runtime.workqueue import Controller

log = logging.getLogger(__name__)

JSON = dict[str, Any]
PORT_ANNOTATION = "sandbox.mlaiops.dev/port"
PORTS_ANNOTATION = "sandbox.mlaiops.dev/ports"
NAMESPACES = Resource("v1", "namespaces", namespaced=False)
CLASS_KEY = "gatewayclass"
RESYNC_SECONDS = 5.0


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def conditions(wanted: list[tuple[str, str, str, str]], old: list[JSON] | None, generation: int) -> list[JSON]:
    """Conditions as the API wants them, keeping ``lastTransitionTime`` when the status did not change."""
    previous = {c.get("type"): c for c in old or []}
    out = []
    for kind, status, reason, message in wanted:
        before = previous.get(kind) or {}
        since = before.get("lastTransitionTime") if before.get("status") == status else None
        out.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message[:32768],
                "observedGeneration": generation,
                "lastTransitionTime": since or timestamp(),
            }
        )
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal but for lastTransitionTime (which only moves when a status changes)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "lastTransitionTime"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return bool(strip(a) == strip(b))


class GatewayController(Controller):
    name = "gateway"

    def __init__(self, client: ApiClient, state_dir: Path) -> None:
        super().__init__()
        self.client = client
        self.state_dir = state_dir
        self.classes = Informer(client, install.GATEWAY_CLASSES)
        self.gateways = Informer(client, install.GATEWAYS)
        self.routes = Informer(client, install.HTTP_ROUTES)
        self.grants = Informer(client, install.REFERENCE_GRANTS)
        self.services = Informer(client, SERVICES)
        self.endpoints = Informer(client, ENDPOINTS)
        self.namespaces = Informer(client, NAMESPACES)
        self.nginx: dict[str, Nginx] = {}
        self.ports: dict[str, dict[int, int]] = {}  # gateway key -> listener port -> local port
        self.classes.add_handler(lambda *_: self.enqueue_all())
        self.gateways.add_handler(self._on_gateway)
        for informer in (self.routes, self.grants, self.services, self.endpoints, self.namespaces):
            informer.add_handler(lambda *_: self.enqueue_all())

    @property
    def informers(self) -> list[Informer]:
        return [self.classes, self.gateways, self.routes, self.grants, self.services, self.endpoints, self.namespaces]

    def _on_gateway(self, _kind: str, gateway: JSON, _old: JSON | None) -> None:
        self.enqueue(key_of(gateway))

    def enqueue_all(self) -> None:
        self.enqueue(CLASS_KEY)
        for key in list(self.gateways.store):
            self.enqueue(key)
        for key in list(self.nginx):
            self.enqueue(key)

    # --- GatewayClass ------------------------------------------------------------------------------
    def _ours(self, class_name: str | None) -> JSON | None:
        gateway_class = self.classes.get(None, class_name or "")
        if gateway_class and (gateway_class.get("spec") or {}).get("controllerName") == CONTROLLER_NAME:
            return gateway_class
        return None

    async def _reconcile_classes(self) -> None:
        for gateway_class in self.classes.items():
            if (gateway_class.get("spec") or {}).get("controllerName") != CONTROLLER_NAME:
                continue
            status = gateway_class.get("status") or {}
            wanted = conditions(
                [
                    ("Accepted", "True", "Accepted", "handled by the sandbox's nginx data plane"),
                    ("SupportedVersion", "True", "SupportedVersion", "Gateway API v1 standard channel"),
                ],
                status.get("conditions"),
                int(meta(gateway_class).get("generation") or 1),
            )
            if not _same(wanted, status.get("conditions")):
                await self.client.patch_status(
                    install.GATEWAY_CLASSES, None, meta(gateway_class)["name"], {"conditions": wanted}
                )

    # --- Gateways ----------------------------------------------------------------------------------
    async def reconcile(self, key: str) -> None:
        if key == CLASS_KEY:
            await self._reconcile_classes()
            return
        gateway = self.gateways.store.get(key)
        if (
            gateway is None
            or meta(gateway).get("deletionTimestamp")
            or self._ours((gateway.get("spec") or {}).get("gatewayClassName")) is None
        ):
            await self._forget(key)
            return
        ports = await self._ports(key, gateway)
        cluster = self._cluster()
        server = self.nginx.get(key)
        if server is None:
            server = self.nginx[key] = Nginx(self.state_dir / key.replace("/", "_"))
        result, error = await self._program(server, gateway, ports, cluster)
        self.enqueue_after(key, RESYNC_SECONDS)  # an nginx that died is started again
        await self._write_gateway_status(gateway, result, error)
        # Statuses of the route versions this plan was made from (a newer version is planned next).
        for route in cluster.routes:
            await self._write_parents(route, gateway, result.routes.get(key_of(route), []))

    async def _program(
        self, server: Nginx, gateway: JSON, ports: dict[str, int], cluster: Cluster
    ) -> tuple[Result, str | None]:
        """Plan, render and apply; a route nginx refuses is set aside (Accepted False) and the rest applied."""
        result = plan(gateway, ports, cluster)
        if nginx_binary() is None:
            return result, "nginx is not installed (make setup installs Debian's nginx)"
        user = worker_user()
        try:
            await server.apply(lambda gen: render(result.plan, server.prefix, server.error_ports, user, gen))
            return result, None
        except NginxError as exc:
            first_error = str(exc)
        for route in cluster.routes:  # find the routes nginx refuses, each on its own
            if not refs_to(route, gateway):
                continue
            alone = Cluster([route], cluster.service, cluster.endpoints, cluster.grants, cluster.namespace_labels)
            try:
                await server.check(render(plan(gateway, ports, alone).plan, server.prefix, server.error_ports, user))
            except NginxError as exc:
                cluster.rejected[key_of(route)] = f"nginx refused the route: {exc}"
        result = plan(gateway, ports, cluster)
        try:
            await server.apply(lambda gen: render(result.plan, server.prefix, server.error_ports, user, gen))
            return result, None
        except NginxError as exc:
            log.warning("gateway %s: nginx refused the configuration: %s", key_of(gateway), exc)
            return result, f"nginx refused the configuration (the previous one stays): {exc or first_error}"

    def _cluster(self) -> Cluster:
        return Cluster(
            routes=list(self.routes.items()),
            service=lambda ns, name: self.services.get(ns, name),
            endpoints=lambda ns, name: self.endpoints.get(ns, name),
            grants=lambda ns: self.grants.in_namespace(ns),
            namespace_labels=lambda ns: dict(meta(self.namespaces.get(None, ns) or {}).get("labels") or {}),
        )

    async def _ports(self, key: str, gateway: JSON) -> dict[str, int]:
        """listener name -> local port; recorded in the Gateway's annotations."""
        chosen = self.ports.setdefault(key, {})
        annotations = meta(gateway).get("annotations") or {}
        previous: Any = {}
        with contextlib.suppress(ValueError, TypeError):
            previous = json.loads(annotations.get(PORTS_ANNOTATION) or "{}")
        listeners = [
            item for item in (gateway.get("spec") or {}).get("listeners") or [] if item.get("protocol") == "HTTP"
        ]
        out: dict[str, int] = {}
        for item in listeners:
            spec_port = int(item.get("port") or 0)
            if spec_port not in chosen:
                recorded = previous.get(item["name"]) if isinstance(previous, dict) else None
                if isinstance(recorded, int) and port_free(recorded):
                    chosen[spec_port] = recorded
                elif spec_port >= 1024 and port_free(spec_port):
                    chosen[spec_port] = spec_port
                else:
                    chosen[spec_port] = free_port()
            out[item["name"]] = chosen[spec_port]
        wanted = {
            PORT_ANNOTATION: str(next(iter(out.values()))) if out else None,
            PORTS_ANNOTATION: json.dumps(out, sort_keys=True),
        }
        if any(annotations.get(k) != v for k, v in wanted.items()):
            namespace, name = meta(gateway)["namespace"], meta(gateway)["name"]
            await self.client.patch(install.GATEWAYS, namespace, name, {"metadata": {"annotations": wanted}})
        return out

    async def _write_gateway_status(self, gateway: JSON, result: Result, error: str | None) -> None:
        generation = int(meta(gateway).get("generation") or 1)
        status = gateway.get("status") or {}
        if error is not None:
            programmed = ("Programmed", "False", "Invalid", error)
        elif not result.plan.listeners:
            programmed = ("Programmed", "False", "Invalid", "no listener is served")
        else:
            programmed = ("Programmed", "True", "Programmed", "nginx serves the configuration")
        accepted = ("Accepted", "True" if result.accepted else "False", result.accepted_reason, result.accepted_message)
        old_listeners = {item.get("name"): item for item in status.get("listeners") or []}
        listeners = []
        for item in result.listeners:
            wanted = item.conditions
            if error is not None:
                wanted = [c if c[0] != "Programmed" else ("Programmed", "False", "Invalid", error) for c in wanted]
            old = old_listeners.get(item.name) or {}
            listeners.append(
                {
                    "name": item.name,
                    "supportedKinds": [{"group": GROUP, "kind": "HTTPRoute"}],
                    "attachedRoutes": item.attached,
                    "conditions": conditions(wanted, old.get("conditions"), generation),
                }
            )
        body = {
            "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
            "conditions": conditions([accepted, programmed], status.get("conditions"), generation),
            "listeners": listeners,
        }
        if not _same(body, {k: status.get(k) for k in body}):
            await self.client.patch_status(install.GATEWAYS, meta(gateway)["namespace"], meta(gateway)["name"], body)

    async def _write_parents(self, route: JSON, gateway: JSON, ours: list[Any]) -> None:
        """Replace our entries for this Gateway's parentRefs; keep every other entry as it is."""
        generation = int(meta(route).get("generation") or 1)
        old = list((route.get("status") or {}).get("parents") or [])
        gateway_ns, gateway_name = meta(gateway).get("namespace"), meta(gateway).get("name")
        route_ns = meta(route).get("namespace")

        def names_gateway(entry: JSON) -> bool:
            ref = entry.get("parentRef") or {}
            return (
                entry.get("controllerName") == CONTROLLER_NAME
                and ref.get("name") == gateway_name
                and (ref.get("namespace") or route_ns) == gateway_ns
            )

        previous = {json.dumps(e.get("parentRef"), sort_keys=True): e for e in old if names_gateway(e)}
        kept = [e for e in old if not names_gateway(e)]
        mine = []
        for item in ours:
            before = previous.get(json.dumps(item.parent_ref, sort_keys=True)) or {}
            mine.append(
                {
                    "parentRef": item.parent_ref,
                    "controllerName": CONTROLLER_NAME,
                    "conditions": conditions(item.conditions, before.get("conditions"), generation),
                }
            )
        parents = kept + mine
        if _same(parents, old):
            return
        try:
            await self.client.patch_status(install.HTTP_ROUTES, route_ns, meta(route)["name"], {"parents": parents})
        except ApiError as exc:
            if exc.status != 404:
                raise

    async def _forget(self, key: str) -> None:
        server = self.nginx.pop(key, None)
        self.ports.pop(key, None)
        if server is not None:
            await server.stop()
        namespace, _, name = key.partition("/")
        gone = {"metadata": {"namespace": namespace, "name": name}}
        for route in self.routes.items():
            if refs_to(route, gone):
                await self._write_parents(route, gone, [])

    async def stop(self) -> None:
        for key in list(self.nginx):
            server = self.nginx.pop(key)
            await server.stop()


class GatewayPlane:
    """Once the Gateway API CRDs are applied: the class, then the controller; ``stop()`` stops every nginx."""

    def __init__(self, api_url: str, state_dir: Path) -> None:
        self.client = ApiClient(api_url)
        self.controller = GatewayController(self.client, state_dir)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Stop what a killed sandbox left in this folder, and serve Gateways once their CRDs exist
        (in the background: a sandbox without Gateway API starts as fast as before)."""
        leftovers = stop_leftovers(self.controller.state_dir)
        if leftovers:
            log.warning("stopped %d nginx processes a previous sandbox in this folder left", len(leftovers))
        self._tasks.append(asyncio.get_running_loop().create_task(self._serve(), name="gateway-plane"))

    async def _serve(self) -> None:
        await install.wait_for_crds(self.client)
        await install.ensure_class(self.client)
        loop = asyncio.get_running_loop()
        for informer in self.controller.informers:
            self._tasks.append(loop.create_task(informer.run(), name=f"gateway-informer-{informer.resource.plural}"))
        self._tasks.append(loop.create_task(self.controller.run(), name="gateway-controller"))
        await asyncio.gather(*(i.synced.wait() for i in self.controller.informers))
        self.controller.enqueue_all()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.controller.stop_timers()
        await self.controller.stop()
        await self.client.close()
