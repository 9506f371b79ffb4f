"""Outbound HTTP of the notify (and any webhook) action, under an operator-level policy.

The URL comes from a tenant's Secret, and the request leaves from inside the cluster with the
operator's network position, so an unchecked URL makes the operator an SSRF tool. The policy:

- ``https`` only (``http`` when ``MLAIOPS_OUTBOUND_ALLOW_HTTP``); nothing else (no file://, ftp://);
- the host must be on ``MLAIOPS_OUTBOUND_ALLOWED_HOSTS`` when that list is set;
- every address the host resolves to must be public: loopback, link-local, private, shared, reserved,
  multicast and the cluster's CIDRs (``MLAIOPS_OUTBOUND_CLUSTER_CIDRS``) are refused unless listed in
  ``MLAIOPS_OUTBOUND_ALLOWED_NETWORKS``;
- the connection goes to an address that was checked (the host name is resolved once, so a DNS
  answer that changes between check and connect cannot redirect it), with the host name kept for
  SNI, certificate verification and the Host header;
- redirects are not followed;
- what reaches the playbook's status is coarse: ``delivery failed (HTTP 5xx)``, ``delivery failed
  (network)`` or ``refused by policy: <reason>``; details go to the operator's log only (a status
  that said "connection refused" or the exact code would make notify a port scanner).
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mlaiops.kube import Kube
from mlaiops.settings import Settings

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


class OutboundError(Exception):
    """The call was not made or did not succeed; the message is safe to show in status."""


class Refused(OutboundError):
    """The policy forbids this URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refused by policy: {reason}")


class DeliveryFailed(OutboundError):
    """The call was made and failed (network, or a non-2xx answer: ``status``)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Policy:
    """Where outbound calls may go. The default is the strictest: https to public addresses only."""

    allow_http: bool = False
    allowed_hosts: tuple[str, ...] = ()
    allowed_networks: tuple[IPNetwork, ...] = ()
    cluster_networks: tuple[IPNetwork, ...] = ()
    secret_names: tuple[str, ...] = ("mlaiops-notify",)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        def networks(cidrs: list[str]) -> tuple[IPNetwork, ...]:
            return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)

        return cls(
            allow_http=settings.outbound_allow_http,
            allowed_hosts=tuple(h.lower() for h in settings.outbound_allowed_hosts),
            allowed_networks=networks(settings.outbound_allowed_networks),
            cluster_networks=networks(settings.outbound_cluster_cidrs),
            secret_names=tuple(settings.notify_secret_names),
        )


@dataclass(frozen=True)
class Target:
    """A URL that passed the policy's static checks."""

    scheme: str
    host: str
    port: int
    path: str


def check_url(url: str, policy: Policy) -> Target:
    """The URL's parts when scheme and host are allowed; raises Refused naming the rule."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise Refused("not a valid URL") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if scheme not in allowed:
        shown = scheme or "none"
        raise Refused(f"scheme {shown} is not allowed ({' or '.join(allowed)} only)")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise Refused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise Refused("credentials in the URL are not supported")
    if policy.allowed_hosts and not any(_host_matches(host, pattern) for pattern in policy.allowed_hosts):
        raise Refused(f"host {host} is not in the allowed hosts (MLAIOPS_OUTBOUND_ALLOWED_HOSTS)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host != pattern[2:]
    return host == pattern


def address_refusal(address: IPAddress, policy: Policy) -> str | None:
    """Why the policy forbids this address, or None when it is allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in policy.allowed_networks):
        return None
    if any(address in network for network in policy.cluster_networks):
        return "in the cluster's networks"
    for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:
        return "not public"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (TCP)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_addresses(target: Target, policy: Policy, resolver: Resolver = system_resolver) -> list[str]:
    """Resolve the host once and check every address; one forbidden address refuses the call."""
    try:
        addresses = [ipaddress.ip_address(target.host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(target.host, target.port)]
        except (OSError, UnicodeError, ValueError) as error:
            log.info("outbound: cannot resolve %s: %s", target.host, error)
            raise DeliveryFailed("delivery failed (network)") from None
    if not addresses:
        raise DeliveryFailed("delivery failed (network)")
    for address in addresses:
        reason = address_refusal(address, policy)
        if reason is not None:
            raise Refused(
                f"{target.host} resolves to a {reason} address (allow it with MLAIOPS_OUTBOUND_ALLOWED_NETWORKS)"
            )
    return [str(a) for a in addresses]


def _pinned(
    target: Target, addresses: list[str], timeout: float, context: ssl.SSLContext | None
) -> http.client.HTTPConnection:
    """A connection to one of the checked addresses, speaking to the host by name."""

    def connect(_: Any, timeout: float | None = timeout, source: Any = None) -> socket.socket:
        last: OSError = OSError("no address")
        for address in addresses:
            try:
                return socket.create_connection((address, target.port), timeout, source)
            except OSError as error:
                last = error
        raise last

    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=context or ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    connection._create_connection = connect  # type: ignore[attr-defined]
    return connection


def post_json(
    url: str,
    body: dict[str, Any],
    policy: Policy,
    timeout: float,
    resolver: Resolver = system_resolver,
    context: ssl.SSLContext | None = None,
) -> int:
    """POST ``body`` as JSON under ``policy``; the HTTP status (2xx), else Refused or DeliveryFailed.

    ``context`` verifies the server (default: the system's CAs, host name checked)."""
    return post_bytes(url, json.dumps(body).encode(), {}, policy, timeout, resolver, context)


def post_bytes(
    url: str,
    data: bytes,
    headers: dict[str, str],
    policy: Policy,
    timeout: float,
    resolver: Resolver = system_resolver,
    context: ssl.SSLContext | None = None,
) -> int:
    """POST ``data`` (JSON) with extra ``headers`` under ``policy``; as ``post_json`` (the bytes are sent as given,
    so a signature over them holds)."""
    target = check_url(url, policy)
    addresses = checked_addresses(target, policy, resolver)
    connection = _pinned(target, addresses, timeout, context)
    try:
        connection.request(
            "POST",
            target.path,
            body=data,
            headers={"Content-Type": "application/json", "User-Agent": "mlaiops-notify", **headers},
        )
        response = connection.getresponse()
        response.read(64 * 1024)
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        log.info("outbound: POST to %s failed: %s", target.host, error)
        raise DeliveryFailed("delivery failed (network)") from None
    finally:
        connection.close()
    if not 200 <= status < 300:  # a 3xx is not followed: its Location could point anywhere
        log.info("outbound: POST to %s answered HTTP %d", target.host, status)
        raise DeliveryFailed(f"delivery failed (HTTP {status // 100}xx)", status)
    return status


def secret_url(kube: Kube, namespace: str, name: str, key: str, policy: Policy) -> str:
    """The webhook URL stored in the Secret ``name`` (only names the policy lets the operator read)."""
    if name not in policy.secret_names:
        raise Refused(
            f"the operator reads only Secrets named {', '.join(policy.secret_names)}, not {name} "
            "(MLAIOPS_NOTIFY_SECRET_NAMES; see SECURITY.md)"
        )
    secret = kube.get("v1", "Secret", namespace, name)
    if secret is None:
        raise OutboundError(f"Secret {name} not found")
    data = (secret.get("data") or {}).get(key)
    url = base64.b64decode(data).decode().strip() if data else (secret.get("stringData") or {}).get(key, "")
    if not url:
        raise OutboundError(f"Secret {name} has no key {key}")
    return str(url)
