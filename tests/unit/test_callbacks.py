"""Callbacks' rules on fakes: where they may go (SSRF), how they are signed, retried and given up."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from gateway.callbacks import (
    Attempt,
    CallbackRefused,
    CallbackSettings,
    Destination,
    DueCallback,
    deliver_due,
    refuse_literal,
    resolve_host,
    sign,
    vet,
)
from inference_core.events import utcnow


def resolving(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "::1",
        "fc00::1",
        "fe80::1%eth0",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "224.0.0.1",
    ],
)
def test_a_callback_never_goes_to_an_address_that_is_not_public(address: str) -> None:
    with pytest.raises(CallbackRefused, match="not a public address"):
        vet("https://hooks.example.com/x", allow_private=False, resolve=resolving(address))
    assert vet("https://hooks.example.com/x", allow_private=True, resolve=resolving(address)).address == address


def test_a_name_is_refused_if_any_of_its_addresses_is_private_and_the_vetted_address_is_the_one_called() -> None:
    with pytest.raises(CallbackRefused):
        vet("https://hooks.example.com/", allow_private=False, resolve=resolving("93.184.216.34", "10.0.0.1"))
    destination = vet("https://hooks.example.com:8443/in?x=1", allow_private=False, resolve=resolving("93.184.216.34"))
    assert destination == Destination("https", "hooks.example.com", 8443, "/in?x=1", "93.184.216.34")
    with pytest.raises(CallbackRefused, match="does not resolve"):
        vet("https://nowhere.example/", allow_private=False, resolve=resolving())


def test_a_submission_naming_a_private_address_literally_is_refused_at_once() -> None:
    for url in ("http://127.0.0.1:9000/h", "http://localhost/h", "http://[::1]/h", "http://169.254.169.254/"):
        with pytest.raises(CallbackRefused):
            refuse_literal(url, allow_private=False)
        refuse_literal(url, allow_private=True)
    refuse_literal("https://hooks.example.com/h", allow_private=False)  # names are vetted when sent


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_raw_body() -> None:
    body = b'{"request_id":"r","status":"succeeded"}'
    expected = hmac.new(b"whsec_s", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("whsec_s", 1_700_000_000, body) == f"t=1700000000,v1={expected}"


@dataclass
class FakeCallbacks:
    due: list[DueCallback]
    recorded: list[tuple[Attempt, bool, datetime | None]] = field(default_factory=list)

    def claim_due(self, limit: int, lease_seconds: int) -> list[DueCallback]:
        claimed, self.due = self.due[:limit], self.due[limit:]
        return claimed

    def record(self, attempt: Attempt, claimed: DueCallback, delivered: bool, retry_at: datetime | None) -> None:
        assert claimed.request_id == attempt.request_id
        self.recorded.append((attempt, delivered, retry_at))


@dataclass
class FakePoster:
    answers: list[int | Exception]
    sent: list[tuple[Destination, bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, destination: Destination, body: bytes, headers: dict[str, str]) -> int:
        self.sent.append((destination, body, headers))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def due(
    attempts: int = 0, finished_ago: float = 0, secret: str | None = "whsec_s", url: str = "https://h.example/cb"
) -> DueCallback:
    return DueCallback(
        uuid.uuid4(), url, attempts, utcnow() - timedelta(seconds=finished_ago), {"status": "succeeded"}, secret
    )


PUBLIC = resolving("93.184.216.34")


def run(callbacks: Sequence[DueCallback], answers: list[int | Exception]) -> tuple[FakeCallbacks, FakePoster]:
    store, poster = FakeCallbacks(list(callbacks)), FakePoster(answers)
    deliver_due(store, poster, CallbackSettings(max_seconds=3600), resolve=PUBLIC)
    return store, poster


def test_a_2xx_is_delivered_and_the_post_is_signed_over_its_body() -> None:
    callback = due()
    store, poster = run([callback], [204])
    [(attempt, delivered, retry_at)] = store.recorded
    assert delivered and retry_at is None and attempt.status_code == 204
    [(destination, body, headers)] = poster.sent
    assert destination.address == "93.184.216.34" and body == b'{"status":"succeeded"}'
    timestamp = int(headers["Inference-Signature"].split(",")[0].removeprefix("t="))
    assert headers["Inference-Signature"] == sign("whsec_s", timestamp, body)
    assert headers["Inference-Request-Id"] == str(callback.request_id)


def test_failures_are_retried_with_growing_backoff_until_the_time_is_up() -> None:
    store, _ = run(
        [due(attempts=0), due(attempts=3), due(attempts=20, finished_ago=3590)], [500, OSError("refused"), 503]
    )
    waits = [
        (retry_at - attempt.attempted_at).total_seconds() if retry_at else None
        for attempt, _, retry_at in store.recorded
    ]
    assert waits == [1, 8, None]  # 2**attempts seconds; past CALLBACK_MAX_SECONDS: given up
    assert store.recorded[1][0].error == "OSError: refused" and store.recorded[1][0].status_code is None


def test_a_refused_destination_or_a_missing_secret_is_given_up_at_once_without_a_post() -> None:
    store, poster = run([due(url="http://127.0.0.1/cb"), due(secret=None)], [])
    assert poster.sent == []
    assert [(delivered, retry_at) for _, delivered, retry_at in store.recorded] == [(False, None), (False, None)]
    assert "not a public address" in (store.recorded[0][0].error or "")
    assert "no callback secret" in (store.recorded[1][0].error or "")


def test_a_resolver_that_hangs_fails_the_attempt_in_bounded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    released = threading.Event()
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: released.wait(10))
    started = time.monotonic()
    with pytest.raises(OSError, match=r"took more than 0\.2 s"):
        resolve_host("slow.example", 443, timeout=0.2)
    assert time.monotonic() - started < 2
    released.set()
