"""Callbacks: when a request sent with a ``callback_url`` finishes, its final record is POSTed there.

The POST's body is the request as ``GET /v1/inference/<id>`` returns it (its ``labels`` empty: it has
just finished), with the headers
``Content-Type: application/json``, ``Inference-Request-Id`` and
``Inference-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the tenant's
callback secret>`` (``gateway-admin tenants callback-secret NAME`` makes one and prints it once). A
receiver recomputes the HMAC over the raw body, compares in constant time, and refuses an old
``t`` (replays).

Invariants:

* A callback is queued (``callback_deliveries``) in the transaction that finishes its request, so it
  exists if and only if the request finished; the dispatcher attempts it at least once (a receiver may
  see it more than once: ``Inference-Request-Id`` tells copies apart), and every attempt is recorded
  (``callback_attempts``: when, the HTTP status, or why there was none). A dispatcher claims a batch
  for ``CLAIM_LEASE_SECONDS``, longer than the batch's attempts can take, and records an attempt only
  if the callback is still as it claimed it.
* Never to a loopback, private, link-local, shared, reserved or multicast address unless
  ``CALLBACK_ALLOW_PRIVATE_NETWORKS`` says so (``make up`` does, for a receiver on the developer's
  machine). Each attempt resolves the host once, refuses it unless every address is public, and
  connects to the address it vetted (TLS still checks the certificate against the name): a DNS
  answer that changes between the check and the connection (rebinding) cannot send it elsewhere.
  Redirects are not followed, and an IPv6 address that wraps an IPv4 one (mapped, 6to4, NAT64) is
  judged by the IPv4 address. A submission naming such an address literally is refused at once.
  The response's body is never read: a receiver cannot hold the deliverer by trickling one.
* A 2xx is delivered. Anything else is retried with backoff (1, 2, 4 ... seconds, at most
  ``MAX_BACKOFF_SECONDS`` apart) until ``CALLBACK_MAX_SECONDS`` after the request finished, then given
  up; a refused destination is given up at once.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit
from uuid import UUID

import urllib3

from inference_core.events import utcnow

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "Inference-Signature"
TIMEOUT_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 300
_IDLE_SECONDS = 0.5
_CLAIM_BATCH = 10
# A claimed callback is another dispatcher's again after this, if its claimer died: longer than a
# batch's attempts can take (each at most a connect and a read timeout).
CLAIM_LEASE_SECONDS = 2 * _CLAIM_BATCH * 2 * int(TIMEOUT_SECONDS)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known prefix: its last 32 bits are an IPv4 address

Resolve = Callable[[str, int], Sequence[str]]  # host, port -> the addresses it resolves to
_DEFAULT_PORTS = {"http": 80, "https": 443}
_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="callback-dns")


class CallbackRefused(ValueError):
    """A destination the platform will not call (its address is not public, or the URL is unusable)."""


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class Destination:
    """A callback URL split for a connection to the address it was vetted at."""

    scheme: str
    host: str
    port: int
    target: str  # path and query
    address: str


def vet(url: str, allow_private: bool, resolve: Resolve) -> Destination:
    """Where to connect for `url`: refused unless every address its host resolves to may be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackRefused(f"not an http(s) URL with a host: {url!r}")
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    addresses = [parts.hostname] if _is_address(parts.hostname) else list(resolve(parts.hostname, port))
    if not addresses:
        raise CallbackRefused(f"{parts.hostname} does not resolve")
    if not allow_private:
        for address in addresses:
            _refuse_unless_public(parts.hostname, address)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, parts.hostname, port, target, addresses[0])


def refuse_literal(url: str, allow_private: bool) -> None:
    """At submit: refuse a URL whose host is an address (or localhost) that may not be called.

    Names are resolved only when a callback is sent, by ``vet``: DNS at submit would slow every
    submission and prove nothing about the address called later.
    """
    host = urlsplit(url).hostname or ""
    if allow_private:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise CallbackRefused(f"{host} is this machine")
    if _is_address(host):
        _refuse_unless_public(host, host)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _refuse_unless_public(host: str, address: str) -> None:
    ip = _embedded_ipv4(ipaddress.ip_address(address.split("%", 1)[0]))  # without an IPv6 zone
    if not ip.is_global or ip.is_multicast:
        raise CallbackRefused(f"{host} resolves to {ip}, which is not a public address")


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, NAT64), else the address itself."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return ip
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour or ip


def resolve_host(host: str, port: int, timeout: float = TIMEOUT_SECONDS) -> list[str]:
    """The addresses `host` resolves to; ``OSError`` (a failed attempt, retried) past `timeout`.

    ``getaddrinfo`` has no timeout of its own and a slow resolver would hold the loop, and with it
    every other tenant's callbacks; it runs on a small pool instead. A lookup that hangs ties up one
    of its threads until the system resolver gives up (seconds, by resolv.conf's timeout and
    attempts); while all of them hang, later lookups wait in the pool's queue and time out too.
    """
    lookup = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout)
    except concurrent.futures.TimeoutError:
        lookup.cancel()  # still queued behind hung lookups: never started
        raise OSError(f"resolving {host} took more than {timeout:g} s") from None
    return [str(info[4][0]) for info in infos]


class Poster(Protocol):
    """Sends one POST: UrllibPoster here, a fake in unit tests. Returns the HTTP status."""

    def post(self, destination: Destination, body: bytes, headers: dict[str, str]) -> int: ...


class UrllibPoster:
    """POSTs to the vetted address itself, the Host header and TLS checks carrying the name; no redirects."""

    def post(self, destination: Destination, body: bytes, headers: dict[str, str]) -> int:
        timeout = urllib3.Timeout(connect=TIMEOUT_SECONDS, read=TIMEOUT_SECONDS)
        pool: urllib3.HTTPConnectionPool
        if destination.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                destination.address,
                destination.port,
                server_hostname=destination.host,
                assert_hostname=destination.host,
                timeout=timeout,
                retries=False,
            )
        else:
            pool = urllib3.HTTPConnectionPool(destination.address, destination.port, timeout=timeout, retries=False)
        with pool:
            response = pool.urlopen(
                "POST",
                destination.target,
                body=body,
                headers={**headers, "Host": _host_header(destination)},
                redirect=False,
                preload_content=False,  # the body is not read; closing the pool drops the connection
            )
            return int(response.status)


def _host_header(destination: Destination) -> str:
    host = f"[{destination.host}]" if ":" in destination.host else destination.host
    return host if destination.port == _DEFAULT_PORTS[destination.scheme] else f"{host}:{destination.port}"


@dataclass(frozen=True)
class DueCallback:
    request_id: UUID
    url: str
    attempts: int  # made so far
    finished_at: datetime  # when it was queued: the request's finish
    record: dict[str, Any]  # the body: the request as clients read it
    secret: str | None  # the tenant's; None if it has none any more


@dataclass(frozen=True)
class Attempt:
    request_id: UUID
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class CallbackStore(Protocol):
    """The callbacks' port to the database: gateway.store.SqlCallbacks, a fake in unit tests."""

    def claim_due(self, limit: int, lease_seconds: int) -> list[DueCallback]:
        """Due callbacks, each claimed for `lease_seconds` (another dispatcher skips it meanwhile)."""
        ...

    def record(self, attempt: Attempt, claimed: DueCallback, delivered: bool, retry_at: datetime | None) -> None:
        """Store the attempt; the callback is delivered, due again at `retry_at`, or (neither) given up.
        Nothing is stored if the callback changed since it was claimed (another dispatcher took it over
        after the lease, or its request finished again)."""
        ...


@dataclass(frozen=True)
class CallbackSettings:
    allow_private_networks: bool = False
    max_seconds: int = 3600  # after its request finished, a callback not yet delivered is given up


def deliver_due(
    store: CallbackStore, poster: Poster, settings: CallbackSettings, resolve: Resolve = resolve_host
) -> int:
    """Attempt every due callback once; how many there were."""
    due = store.claim_due(_CLAIM_BATCH, CLAIM_LEASE_SECONDS)
    for callback in due:
        attempt, permanent = _attempt(callback, poster, settings, resolve)
        delivered = attempt.status_code is not None and 200 <= attempt.status_code < 300
        retry_at = None
        if not delivered and not permanent:
            retry_at = attempt.attempted_at + timedelta(seconds=min(2**callback.attempts, MAX_BACKOFF_SECONDS))
            if retry_at > callback.finished_at + timedelta(seconds=settings.max_seconds):
                retry_at = None
        store.record(attempt, callback, delivered, retry_at)
        if not delivered:
            what = f"HTTP {attempt.status_code}" if attempt.status_code is not None else attempt.error
            log.info(
                "callback of %s not delivered (%s); %s",
                callback.request_id,
                what,
                retry_at or "given up",
                extra={"request_id": callback.request_id},
            )
    return len(due)


def _attempt(
    callback: DueCallback, poster: Poster, settings: CallbackSettings, resolve: Resolve
) -> tuple[Attempt, bool]:
    """One try, and whether its failure is for good."""
    attempted_at, started = utcnow(), time.perf_counter()
    status, error, permanent = None, None, False
    try:
        if callback.secret is None:
            raise CallbackRefused("the tenant has no callback secret any more")
        destination = vet(callback.url, settings.allow_private_networks, resolve)
        body = json.dumps(callback.record, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "inference-gateway-callbacks",
            "Inference-Request-Id": str(callback.request_id),
            SIGNATURE_HEADER: sign(callback.secret, int(time.time()), body),
        }
        status = poster.post(destination, body, headers)
    except CallbackRefused as exc:
        error, permanent = str(exc), True
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = (time.perf_counter() - started) * 1000
    return Attempt(callback.request_id, attempted_at, status, error, duration_ms), permanent


class CallbackDeliverer:
    """The dispatcher's callback loop: deliver what is due, rest a moment when nothing is."""

    def __init__(self, store: CallbackStore, poster: Poster, settings: CallbackSettings) -> None:
        self._store, self._poster, self._settings = store, poster, settings

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                busy = deliver_due(self._store, self._poster, self._settings) > 0
            except Exception as exc:  # the database is down: try again shortly
                log.warning("callback delivery failed: %s", exc)
                busy = False
            if not busy:
                stop.wait(_IDLE_SECONDS)
