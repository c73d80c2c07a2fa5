"""SIGTERM, as Kubernetes sends it to a pod, to each service alone under load: it exits on its own
within its grace, and every request accepted around the stop finishes once the service is back."""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, or_, select

import devstack
from inference_core.aws.clients import aws_client
from inference_core.db.engine import make_engine
from inference_core.db.schema import outbox
from inference_core.events import EventType
from inference_core.settings import AwsSettings, Env
from support.models import add_keyword_model
from support.stack import Stack, statuses_once_finished

pytestmark = pytest.mark.e2e

BURST_SECONDS = 3.0
SENDERS = 4
# A model of its own: the session's registry is shared, and other tests register broken "keyword" versions.
MODEL, ACTION = "keyword-sigterm", "keywords-sigterm"


@dataclasses.dataclass
class Services:
    config: devstack.StackConfig
    running: dict[str, devstack.Process]
    starters: dict[str, Callable[[], devstack.Process]]


@pytest.fixture
def services(stack: Stack, fresh_database: str, tmp_path: Path) -> Iterator[Services]:
    """A gateway, dispatcher and keyword worker of their own: own database, queues and port."""
    models_dir = tmp_path / "models"
    add_keyword_model(models_dir, MODEL, ACTION)
    config = dataclasses.replace(
        stack.config,
        run_dir=tmp_path / "run",
        database_url=fresh_database,
        resource_prefix=f"k{uuid.uuid4().hex[:6]}-",
        gateway_port=devstack.free_port(),
        models_dir=models_dir,
    )
    devstack.bootstrap(config)
    devstack.ensure_champions(config, "--limit", "200")
    starters: dict[str, Callable[[], devstack.Process]] = {
        "worker": lambda: devstack.start_worker(config, MODEL),
        "dispatcher": lambda: devstack.start_dispatcher(config),
        "gateway": lambda: devstack.start_gateway(config, workers=2, threads=8),
    }
    running: dict[str, devstack.Process] = {}
    try:
        for name, start in starters.items():
            running[name] = start()
        wait_until_serving(config.gateway_url)
        yield Services(config, running, starters)
    finally:
        devstack.stop_all(list(running.values()))


def wait_until_serving(url: str) -> None:
    """Until the worker has loaded its model and announced itself (a SIGTERM before that just ends it)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        actions = requests.get(f"{url}/v1/actions", timeout=10).json()["actions"]
        if any(a["action"] == ACTION and a["serving"] for a in actions):
            return
        time.sleep(0.5)
    raise AssertionError(f"the {MODEL} worker never announced itself")


def where_they_are(services: Services, request_ids: dict[str, str | None]) -> str:
    """Where unfinished requests are stuck: unpublished outbox rows, the model queue, its dead-letter queue."""
    engine = make_engine(services.config.database_url)
    with engine.connect() as conn:
        unpublished = conn.execute(
            select(func.count()).where(
                outbox.c.published_at.is_(None),
                or_(*[outbox.c.body.contains(i) for i in request_ids]),
            )
        ).scalar_one()
    engine.dispose()
    aws = AwsSettings.from_env(Env(services.config.env()))
    names, sqs = aws.names, aws_client("sqs", aws)
    counts = []
    for queue in (names.model_queue(MODEL), names.dead_letter_queue(names.model_queue(MODEL))):
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        counts.append(
            f"{queue}: {attributes['ApproximateNumberOfMessages']} visible, "
            f"{attributes['ApproximateNumberOfMessagesNotVisible']} in flight"
        )
    return f"{unpublished} of their events unpublished in the outbox; " + "; ".join(counts)


def burst(url: str, seconds: float) -> tuple[list[str], list[str]]:
    """Submit from several clients for `seconds`; the accepted ids, and anything but 202 or a refused connection."""
    accepted: list[str] = []
    wrong: list[str] = []

    def send() -> None:
        session = requests.Session()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                response = session.post(f"{url}/v1/inference", json={"action": ACTION, "text": "fine"}, timeout=30)
            except requests.ConnectionError:  # the gateway is stopping or stopped: refused, never half-answered
                session = requests.Session()
                time.sleep(0.05)
                continue
            if response.status_code == 202:
                accepted.append(response.json()["request_id"])
            else:
                wrong.append(f"{response.status_code} {response.text[:200]}")

    senders = [threading.Thread(target=send) for _ in range(SENDERS)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    return accepted, wrong


@pytest.mark.parametrize("name", ["gateway", "dispatcher", "worker"])
def test_sigterm_under_load_exits_within_its_grace_and_loses_nothing(services: Services, name: str) -> None:
    url = services.config.gateway_url
    process = services.running[name]
    results: list[tuple[list[str], list[str]]] = []
    sender = threading.Thread(target=lambda: results.append(burst(url, BURST_SECONDS)))
    sender.start()
    time.sleep(BURST_SECONDS / 2)

    process.popen.send_signal(signal.SIGTERM)  # to the main process only, as a pod's stop does
    started = time.monotonic()
    exit_code = process.popen.wait(process.grace_seconds)
    took = time.monotonic() - started
    sender.join()
    accepted, wrong = results[0]
    assert exit_code == 0, f"{name} exited with {exit_code}"
    assert devstack._group_members(process.pid) == [], f"{name} left processes behind"
    assert wrong == []
    assert len(accepted) > 10, "the burst did not reach the gateway"

    services.running[name] = services.starters[name]()  # back, as a restarted pod
    wait_until_serving(url)
    if name == "gateway":
        accepted += burst(url, 0.5)[0]
    statuses = statuses_once_finished(services.config.database_url, accepted, 90)
    unfinished = {i: statuses.get(i) for i in accepted if statuses.get(i) != "succeeded"}
    assert unfinished == {}, (
        f"{len(unfinished)} of {len(accepted)} accepted requests did not finish; "
        + where_they_are(services, unfinished)
    )
    engine = make_engine(services.config.database_url)
    with engine.connect() as conn:
        completions = conn.execute(
            select(func.count()).where(outbox.c.event_type == EventType.JOB_COMPLETED.value)
        ).scalar_one()
    engine.dispose()
    assert completions == len(statuses), "one job_completed per request"
    print(f"{name}: stopped in {took:.1f}s (grace {process.grace_seconds:.0f}s), {len(accepted)} requests accepted")
