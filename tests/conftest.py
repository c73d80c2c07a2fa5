"""Fixtures that start real services for the integration and end-to-end tiers.

Nothing starts unless a test asks for it, so ``pytest tests/unit`` needs no services.
The suite runs its own LocalStack and MLflow on free ports, its own databases and
resource names, so it never touches a ``make up`` running beside it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, make_url

import devstack
from inference_core.aws.clients import aws_client
from inference_core.db.engine import make_engine
from inference_core.settings import AwsSettings, Env
from support.proxy import SwitchableProxy

TRAIN_LIMIT = "400"  # enough for a model that works; the full set takes a minute more


@dataclass
class Stack:
    config: devstack.StackConfig
    engine: Engine
    aws: AwsSettings

    def client(self, service: str) -> Any:
        return aws_client(service, self.aws)

    def env(self) -> dict[str, str]:
        return self.config.env()


def _drop_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    suffix = uuid.uuid4().hex[:8]
    base_url = make_url(os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/inference"))
    config = devstack.StackConfig(
        run_dir=tmp_path_factory.mktemp("stack"),
        database_url=base_url.set(database=f"inference_test_{suffix}").render_as_string(hide_password=False),
        mlflow_database_url=base_url.set(database=f"mlflow_test_{suffix}").render_as_string(hide_password=False),
        localstack_port=devstack.free_port(),
        mlflow_port=devstack.free_port(),
        gateway_port=devstack.free_port(),
        resource_prefix=f"t{suffix}-",
        extra_env={"SQS_MAX_RECEIVE_COUNT": "3", "WORKER_BACKOFF_SECONDS": "1", "WORKER_WAIT_SECONDS": "2"},
    )
    devstack.ensure_postgres(config.database_url)
    processes = [p for p in (devstack.start_localstack(config),) if p]
    try:
        devstack.bootstrap(config)
        processes += [p for p in (devstack.start_mlflow(config),) if p]
        devstack.ensure_champions(config, "--limit", TRAIN_LIMIT)
        engine = make_engine(config.database_url)
        yield Stack(config, engine, AwsSettings.from_env(Env(config.env())))
        engine.dispose()
    finally:
        for process in reversed(processes):
            process.stop()
        _drop_database(config.database_url)
        _drop_database(config.mlflow_database_url)


@dataclass
class Platform:
    stack: Stack
    gateway_url: str
    proxy: SwitchableProxy  # between the gateway processes and AWS: switch it off to make SNS unreachable
    processes: dict[str, devstack.Process]

    def log(self, name: str) -> str:
        return (self.stack.config.run_dir / "logs" / f"{name}.log").read_text(errors="replace")


@pytest.fixture(scope="session")
def platform(stack: Stack) -> Iterator[Platform]:
    """The gateway (gunicorn), its dispatcher and a sentiment worker, as separate processes."""
    proxy = SwitchableProxy(stack.config.localstack_port)
    gateway_config = devstack.StackConfig(
        **{**stack.config.__dict__, "extra_env": {**stack.config.extra_env, "AWS_ENDPOINT_URL": proxy.url}}
    )
    processes: dict[str, devstack.Process] = {}
    try:
        processes["worker"] = devstack.start_worker(stack.config, "sentiment")
        processes["dispatcher"] = devstack.start_dispatcher(gateway_config)
        processes["gateway"] = devstack.start_gateway(gateway_config, workers=2, threads=8)
        yield Platform(stack, gateway_config.gateway_url, proxy, processes)
    finally:
        for process in reversed(processes.values()):
            process.stop()
        proxy.close()


def repo_root() -> Path:
    return Path(devstack.ROOT)
