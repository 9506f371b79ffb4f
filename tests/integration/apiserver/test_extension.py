"""Extra subresources plugged in by other sandbox parts (the pod runtime serves pods/log)."""

from __future__ import annotations

from aiohttp import web
from apiserver_support import Http
from mlaiops_sandbox.apiserver import ApiServerThread


async def _log(request: web.Request, server, target) -> web.Response:
    return web.Response(text=f"log of {target.namespace}/{target.name}\n", content_type="text/plain")


def test_registered_subresource_is_served_and_discovered(
    apiserver: ApiServerThread, http: Http, namespace: str, kubectl
) -> None:
    """`add_subresource` serves `pods/log`: listed in discovery, 404 for a missing pod, 405 for
    verbs not registered, and `kubectl logs` reads it."""
    assert apiserver.server is not None
    apiserver.call(apiserver.server.add_subresource, "", "pods", "log", _log)
    resources = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    assert resources["pods/log"]["verbs"] == ["get"]
    pods = f"/api/v1/namespaces/{namespace}/pods"
    assert http.get(f"{pods}/none/log").status_code == 404
    http.post(pods, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    r = http.get(f"{pods}/p/log")
    assert r.status_code == 200 and r.text == f"log of {namespace}/p\n"
    assert http.put(f"{pods}/p/log", {}).status_code == 405
    assert kubectl("logs", "-n", namespace, "p").stdout == f"log of {namespace}/p\n"
