"""A gateway, dispatchers and a keyword worker of their own (own database, queues and port), for the
tests that stop or kill them under load, and what those tests read back."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import JSONB

import devstack
from inference_core.aws.clients import aws_client
from inference_core.db.engine import make_engine
from inference_core.db.schema import outbox
from inference_core.events import EventType
from inference_core.settings import AwsSettings, Env
from support.models import add_keyword_model
from support.stack import Stack
from support.tenants import bearer

SENDERS = 4
# A model of its own: the session's registry is shared, and other tests register broken "keyword" versions.
MODEL, ACTION = "keyword-isolated", "keywords-isolated"


@dataclasses.dataclass
class Services:
    config: devstack.StackConfig
    running: dict[str, devstack.Process]
    starters: dict[str, Callable[[], devstack.Process]]

    def restart(self, name: str) -> None:
        """Start `name` again, as Kubernetes restarts a pod's container."""
        self.running[name] = self.starters[name]()


@contextmanager
def isolated_services(
    stack: Stack, database_url: str, tmp_path: Path, dispatchers: int = 1, env: Mapping[str, str] | None = None
) -> Iterator[Services]:
    """Started and serving; `dispatchers` of them side by side (named dispatcher, dispatcher-2, ...)."""
    models_dir = tmp_path / "models"
    add_keyword_model(models_dir, MODEL, ACTION)
    config = dataclasses.replace(
        stack.config,
        run_dir=tmp_path / "run",
        database_url=database_url,
        resource_prefix=f"k{uuid.uuid4().hex[:6]}-",
        gateway_port=devstack.free_port(),
        models_dir=models_dir,
        extra_env=dict(env or {}),
    )
    devstack.bootstrap(config)
    devstack.ensure_champions(config, "--limit", "200")
    starters: dict[str, Callable[[], devstack.Process]] = {"worker": lambda: devstack.start_worker(config, MODEL)}
    for i in range(dispatchers):
        starters["dispatcher" if i == 0 else f"dispatcher-{i + 1}"] = lambda: devstack.start_dispatcher(config)
    starters["gateway"] = lambda: devstack.start_gateway(config, workers=2, threads=8)
    running: dict[str, devstack.Process] = {}
    try:
        for name, start in starters.items():
            running[name] = start()
        wait_until_serving(config)
        yield Services(config, running, starters)
    finally:
        devstack.stop_all(list(running.values()))


def wait_until_serving(config: devstack.StackConfig) -> None:
    """Until the worker has loaded its model and announced itself (a SIGTERM before that just ends it)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        actions = requests.get(f"{config.gateway_url}/v1/actions", headers=bearer(config.api_key()), timeout=10)
        if any(a["action"] == ACTION and a["serving"] for a in actions.json()["actions"]):
            return
        time.sleep(0.5)
    raise AssertionError(f"the {MODEL} worker never announced itself")


def _session(config: devstack.StackConfig) -> requests.Session:
    session = requests.Session()
    session.headers.update(bearer(config.api_key()))
    return session


def burst(config: devstack.StackConfig, seconds: float) -> tuple[list[str], list[str]]:
    """Submit from several clients for `seconds`; the accepted ids, and anything but 202 or a refused connection."""
    accepted: list[str] = []
    wrong: list[str] = []

    url = f"{config.gateway_url}/v1/inference"

    def send() -> None:
        session = _session(config)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                response = session.post(url, json={"action": ACTION, "text": "fine"}, timeout=30)
            except requests.ConnectionError:  # the gateway is stopping or stopped: refused, never half-answered
                session = _session(config)
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


def in_background(config: devstack.StackConfig, seconds: float) -> Callable[[], tuple[list[str], list[str]]]:
    """Start a burst; the returned function waits for it and gives its outcome."""
    results: list[tuple[list[str], list[str]]] = []
    sender = threading.Thread(target=lambda: results.append(burst(config, seconds)))
    sender.start()

    def outcome() -> tuple[list[str], list[str]]:
        sender.join()
        return results[0]

    return outcome


def queue_counts(services: Services, queue: str) -> tuple[int, int]:
    """(visible, in flight) messages of one of the services' queues."""
    aws = AwsSettings.from_env(Env(services.config.env()))
    sqs = aws_client("sqs", aws)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def where_they_are(services: Services, request_ids: Mapping[str, str | None]) -> str:
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
    names = AwsSettings.from_env(Env(services.config.env())).names
    counts = []
    for queue in (names.model_queue(MODEL), names.dead_letter_queue(names.model_queue(MODEL))):
        visible, in_flight = queue_counts(services, queue)
        counts.append(f"{queue}: {visible} visible, {in_flight} in flight")
    return f"{unpublished} of their events unpublished in the outbox; " + "; ".join(counts)


def job_completed_per_request(database_url: str) -> dict[str, int]:
    """How many job_completed events the outbox holds for each request."""
    request_id = outbox.c.body.cast(JSONB)["data"]["request_id"].astext
    engine = make_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(request_id, func.count())
            .where(outbox.c.event_type == EventType.JOB_COMPLETED.value)
            .group_by(request_id)
        ).all()
    engine.dispose()
    return {str(rid): int(n) for rid, n in rows}
