"""The running services a test session uses, as handles the tests can read."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, make_url, select

import devstack
from inference_core.aws.clients import aws_client
from inference_core.db.engine import make_engine
from inference_core.db.schema import inference_requests
from inference_core.settings import AwsSettings
from support.proxy import SwitchableProxy


@dataclass
class Stack:
    config: devstack.StackConfig
    engine: Engine
    aws: AwsSettings

    def client(self, service: str) -> Any:
        return aws_client(service, self.aws)

    def env(self) -> dict[str, str]:
        return self.config.env()


@dataclass
class Platform:
    stack: Stack
    gateway_url: str
    proxy: SwitchableProxy  # between the gateway processes and AWS: switch it off to make SNS unreachable
    processes: dict[str, devstack.Process]
    calls_dir: Path  # <service>/<pid>.json: the AWS permissions each process used (support.iam)

    def log(self, name: str) -> str:
        return (self.stack.config.run_dir / "logs" / f"{name}.log").read_text(errors="replace")


@dataclass(frozen=True)
class LabelStudioServer:
    url: str
    api_key: str


def drop_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


def statuses_once_finished(database_url: str, request_ids: Iterable[str], seconds: float) -> dict[str, str]:
    """Every stored request's status, read until all of `request_ids` succeeded or `seconds` pass."""
    wanted = {uuid.UUID(i) for i in request_ids}
    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + seconds
        while True:
            with engine.connect() as conn:
                statuses = dict(conn.execute(select(inference_requests.c.id, inference_requests.c.status)).all())
            if all(statuses.get(i) == "succeeded" for i in wanted) or time.monotonic() > deadline:
                return {str(i): status for i, status in statuses.items()}
            time.sleep(0.5)
    finally:
        engine.dispose()
