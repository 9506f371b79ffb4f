"""The Alertmanager webhook receiver: an authenticated HTTP endpoint that feeds the alert store.

Anything that reaches this port could otherwise start remediations, so the receiver serves only
when a credential is configured (a bearer token, basic auth or mutual TLS, the three that
Alertmanager's ``http_config`` can send), compares secrets in constant time, caps the body size and
answers every malformed body with 400, never 500 (a 500 makes Alertmanager retry forever).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from prometheus_client import Counter

from mlaiops.metrics.operator import REGISTRY
from mlaiops.remediation.alertmanager import AlertStore, PayloadError, parse_received
from mlaiops.remediation.wake import ALERTS_ARRIVED, WAKEUPS
from mlaiops.settings import Settings

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "mlaiops_alertmanager_requests_total",
    "Webhook requests to the Alertmanager receiver by outcome (accepted, unauthorized, invalid, too_large).",
    ["outcome"],
    registry=REGISTRY,
)


class ReceiverConfigError(ValueError):
    """The receiver is asked to serve without a usable credential; the message says what to set."""


class _Secret:
    """A secret from a file (re-read when its mtime changes: Secret volumes rotate) or a fixed value."""

    def __init__(self, value: str | None, path: str | None, what: str) -> None:
        self._value = value
        self._path = Path(path) if path else None
        self._what = what
        self._mtime: float | None = None
        if self._path is not None:
            self.get()  # fail at start, not at the first alert

    def get(self) -> bytes:
        if self._path is not None:
            try:
                mtime = self._path.stat().st_mtime
                if mtime != self._mtime:
                    self._value, self._mtime = self._path.read_text().strip(), mtime
            except OSError as error:
                if self._value is None:
                    raise ReceiverConfigError(f"{self._what}: cannot read {self._path}: {error}") from error
                log.warning("%s: cannot re-read %s (%s); keeping the last value", self._what, self._path, error)
        if not self._value:
            raise ReceiverConfigError(f"{self._what} is empty")
        return self._value.encode()


@dataclass
class Credentials:
    """What a request must carry: a bearer token and/or basic auth; mutual TLS is checked by TLS itself."""

    token: _Secret | None = None
    username: str | None = None
    password: _Secret | None = None
    mutual_tls: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        """The configured credentials; ReceiverConfigError when none is."""
        token = settings.alertmanager_token.get_secret_value() if settings.alertmanager_token else None
        password = settings.alertmanager_password.get_secret_value() if settings.alertmanager_password else None
        made = cls(
            token=_Secret(token, settings.alertmanager_token_file, "alertmanager token")
            if token or settings.alertmanager_token_file
            else None,
            username=settings.alertmanager_username,
            password=_Secret(password, settings.alertmanager_password_file, "alertmanager password")
            if settings.alertmanager_username
            else None,
            mutual_tls=bool(settings.alertmanager_client_ca_file),
        )
        if made.token is None and made.password is None and not made.mutual_tls:
            raise ReceiverConfigError(
                "the Alertmanager receiver needs a credential: set MLAIOPS_ALERTMANAGER_TOKEN_FILE (or _TOKEN), "
                "MLAIOPS_ALERTMANAGER_USERNAME with _PASSWORD_FILE, or MLAIOPS_ALERTMANAGER_CLIENT_CA_FILE"
            )
        return made

    def allows(self, authorization: str | None) -> bool:
        """Whether the Authorization header carries the configured token or user and password."""
        if self.token is None and self.password is None:
            return self.mutual_tls  # the TLS handshake already verified the client's certificate
        scheme, _, value = (authorization or "").partition(" ")
        value = value.strip()
        if self.token is not None and scheme.lower() == "bearer":
            return hmac.compare_digest(value.encode(), self.token.get())
        if self.password is not None and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).partition(b":")
            except ValueError:
                return False
            assert self.username is not None
            same_user = hmac.compare_digest(user, self.username.encode())
            same_password = hmac.compare_digest(password, self.password.get())
            return same_user & same_password
        return False


def app(store: AlertStore, credentials: Credentials | None, max_body: int) -> web.Application:
    """The receiver's routes: POST /alertmanager (authenticated; not served without credentials) and GET /healthz."""

    async def receive(request: web.Request) -> web.Response:
        if credentials is None or not credentials.allows(request.headers.get("Authorization")):
            REQUESTS.labels("unauthorized").inc()
            return web.json_response(
                {"error": "unauthorized"}, status=401, headers={"WWW-Authenticate": 'Bearer realm="mlaiops"'}
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            REQUESTS.labels("too_large").inc()
            return web.json_response({"error": f"body larger than {max_body} bytes"}, status=413)
        try:
            payload = json.loads(body)
            received = parse_received(payload, datetime.now(UTC))
        except RecursionError:
            REQUESTS.labels("invalid").inc()
            return web.json_response({"error": "invalid JSON: nested too deeply"}, status=400)
        except (ValueError, PayloadError) as error:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            REQUESTS.labels("invalid").inc()
            return web.json_response({"error": str(error)[:300]}, status=400)
        dropped = store.update(received)
        WAKEUPS.ping(ALERTS_ARRIVED)  # the playbooks on Alertmanager triggers act now, not at their next pass
        REQUESTS.labels("accepted").inc()
        return web.json_response({"received": len(received), "dropped": sum(dropped.values())})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    made = web.Application(client_max_size=max_body)
    if credentials is not None:
        made.router.add_post("/alertmanager", receive)
    made.router.add_get("/healthz", healthz)
    return made


def _tls(settings: Settings) -> ssl.SSLContext | None:
    if not settings.alertmanager_tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.alertmanager_tls_cert_file, settings.alertmanager_tls_key_file)
    if settings.alertmanager_client_ca_file:
        context.load_verify_locations(settings.alertmanager_client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def start(
    settings: Settings, store: AlertStore, extra: Sequence[Callable[[web.Application], None]] = ()
) -> web.AppRunner | None:
    """Serve the receiver as configured; None when it is off (port 0) or cannot serve (logged).

    ``extra`` adds routes of other receivers on the same port (Slack's interactive callbacks), which
    authenticate requests their own way: with them the port serves even without an Alertmanager credential.
    """
    if settings.alertmanager_port == 0:
        return None
    credentials: Credentials | None = None
    try:
        credentials = Credentials.from_settings(settings)
    except ReceiverConfigError as error:  # playbooks on AnomalyRules still work
        log.log(logging.INFO if extra else logging.ERROR, "Alertmanager receiver not started: %s", error)
        if not extra:
            return None
    try:
        tls = _tls(settings)
    except (OSError, ssl.SSLError) as error:
        log.error("Alertmanager receiver not started: %s", error)
        return None
    store.configure(settings.alertmanager_max_alerts, timedelta(seconds=settings.alertmanager_alert_ttl))
    made = app(store, credentials, settings.alertmanager_max_body_bytes)
    for add in extra:
        add(made)
    runner = web.AppRunner(made, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.alertmanager_host, settings.alertmanager_port, ssl_context=tls)
        await site.start()
    except OSError as error:  # a busy port must not stop the operator
        log.error("Alertmanager receiver not started on port %d: %s", settings.alertmanager_port, error)
        await runner.cleanup()
        return None
    scheme = "https" if tls else "http"
    log.info(
        "Alertmanager receiver on %s://%s:%d serving %s",
        scheme,
        settings.alertmanager_host,
        settings.alertmanager_port,
        ", ".join(sorted({route.resource.canonical for route in made.router.routes() if route.resource})),
    )
    return runner
