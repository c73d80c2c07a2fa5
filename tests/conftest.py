"""Fixtures that start real services for the integration and end-to-end tiers.

Nothing starts unless a test asks for it, so ``pytest tests/unit`` needs no services.
The suite runs its own LocalStack and MLflow on free ports, its own databases and
resource names, so it never touches a ``make up`` running beside it.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import make_url

import devstack
import support.iam
from inference_core.db.engine import make_engine
from inference_core.db.migrate import upgrade
from inference_core.settings import STACK_ENV_FILE, AwsSettings, Env
from support.callbacks import Receiver
from support.proxy import SwitchableProxy
from support.stack import LabelStudioServer, Platform, Stack, drop_database

# The suite's processes get every setting from their stack; none may fill a gap from the settings
# a `make up` running beside it wrote (inference_core.settings.use_local_stack).
os.environ[STACK_ENV_FILE] = ""

TRAIN_LIMIT = "2000"  # ~0.8 validation accuracy in ~15 s; the full set takes a minute more


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # LocalStack accepts any credentials; the test process's own clients need some.
    for variable, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        os.environ.setdefault(variable, value)
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
        label_studio_port=devstack.free_port(),
        label_studio_database=f"label_studio_test_{suffix}",
        extra_env={"SQS_MAX_RECEIVE_COUNT": "3", "WORKER_BACKOFF_SECONDS": "1", "WORKER_WAIT_SECONDS": "2"},
    )
    devstack.ensure_postgres(config.database_url)
    devstack.ensure_redis(config.redis_url)
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
        drop_database(config.database_url)
        drop_database(config.mlflow_database_url)


@pytest.fixture(scope="session")
def label_studio(stack: Stack) -> Iterator[LabelStudioServer]:
    """A real Label Studio server of the session's own (its first start takes up to a minute)."""
    process = devstack.start_label_studio(stack.config)
    try:
        yield LabelStudioServer(stack.config.label_studio_url, stack.config.label_studio_api_key)
    finally:
        if process is not None:
            process.stop()
        drop_database(stack.config.label_studio_database_url)


@pytest.fixture(scope="session")
def platform(stack: Stack) -> Iterator[Platform]:
    """The gateway (gunicorn), its dispatcher and a worker for each model, as separate processes."""
    proxy = SwitchableProxy(stack.config.localstack_port)
    gateway_config = devstack.StackConfig(
        **{**stack.config.__dict__, "extra_env": {**stack.config.extra_env, "AWS_ENDPOINT_URL": proxy.url}}
    )
    calls_dir = stack.config.run_dir / "aws-calls"

    def as_service(config: devstack.StackConfig, service: str) -> devstack.StackConfig:
        """`config` for a process of `service`: it writes the AWS permissions it used (support.iam)."""
        counts = {"AWS_CALL_COUNTS_DIR": str(calls_dir / service)}
        return dataclasses.replace(config, extra_env={**config.extra_env, **counts})

    processes: dict[str, devstack.Process] = {}
    try:
        processes["worker"] = devstack.start_worker(as_service(stack.config, "worker-sentiment"), "sentiment")
        processes["embedding-worker"] = devstack.start_worker(  # every action is served
            as_service(stack.config, "worker-embedding"), "embedding"
        )
        processes["dispatcher"] = devstack.start_dispatcher(as_service(gateway_config, "dispatcher"))
        processes["gateway"] = devstack.start_gateway(
            as_service(gateway_config, "gateway"), workers=2, threads=8, graceful_timeout=3
        )
        yield Platform(stack, gateway_config.gateway_url, proxy, processes, calls_dir)
    finally:
        for process in reversed(processes.values()):
            process.stop()
        proxy.close()
    # Everything the suite made the platform do stayed inside each service's IAM policy.
    outside = {
        s.name: support.iam.outside_policy(stack, s.name, support.iam.permissions_used(s)) for s in calls_dir.iterdir()
    }
    assert {service: found for service, found in outside.items() if found} == {}


@pytest.fixture
def fresh_database(stack: Stack) -> Iterator[str]:
    """An empty, migrated database of its own, for tests that count rows or drain the outbox."""
    url = make_url(stack.config.database_url).set(database=f"inference_it_{uuid.uuid4().hex[:8]}")
    rendered = url.render_as_string(hide_password=False)
    upgrade(rendered)
    try:
        yield rendered
    finally:
        drop_database(rendered)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A callback receiver on loopback, serving on a thread."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
