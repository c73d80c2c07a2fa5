"""The web process's composition root: ``gunicorn -c python:gateway.gunicorn_config 'gateway.app:create_app()'``."""

from __future__ import annotations

import redis
from flask import Flask, g, request

from gateway.api import bp, probes, register_error_handlers
from gateway.auth import Authenticator
from gateway.dependencies import Dependencies
from gateway.metrics import instrument
from gateway.monitoring_api import bp as monitoring_bp
from gateway.rate_limit import RedisRateLimiter
from gateway.settings import THREADS_PER_PROCESS, Settings
from gateway.store import SqlUnitOfWork
from gateway.tokens import TokenEstimator
from gateway.waiting import FinishedWaiter
from inference_core import logs, tracing
from inference_core.aws.clients import aws_client
from inference_core.aws.s3 import S3Store
from inference_core.db.engine import make_engine
from inference_core.settings import Env

# A limiter that cannot answer this fast is treated as down (gateway.rate_limit fails open).
REDIS_TIMEOUT_SECONDS = 0.5


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    logs.configure("inference-gateway", Env())
    tracing.configure("inference-gateway", Env())
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    engine = make_engine(settings.database_url, pool_size=THREADS_PER_PROCESS)
    uow = SqlUnitOfWork(engine)
    app.extensions["gateway"] = Dependencies(
        settings=settings,
        uow=uow,
        engine=engine,
        authenticator=Authenticator(uow, settings.key_cache_seconds),
        rate_limiter=RedisRateLimiter(
            redis.Redis.from_url(
                settings.redis_url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
            ),
            settings.aws.names.prefix,
        ),
        token_estimator=TokenEstimator(uow),
        waiter=FinishedWaiter(settings.database_url),
        sns_client=aws_client("sns", settings.aws),
        reports=S3Store(aws_client("s3", settings.aws), settings.aws.names.bucket),
    )
    instrument(app)
    _log_request_ids(app)
    app.register_blueprint(probes)
    app.register_blueprint(bp)
    app.register_blueprint(monitoring_bp)
    register_error_handlers(app)
    return app


def begin_shutdown(app: Flask) -> None:
    """The server is stopping: ``?wait`` long polls answer within a second with the request's current state.

    Called from a signal handler, so it only sets a flag (see ``gateway.waiting``).
    """
    app.extensions["gateway"].waiter.stop()


def _log_request_ids(app: Flask) -> None:
    """Lines logged while a route handles a request id (``/v1/inference/<request_id>...``) carry it."""

    @app.before_request
    def _bind() -> None:
        request_id = (request.view_args or {}).get("request_id")
        if request_id is not None:
            g.log_binding = logs.bind(request_id)

    @app.teardown_request
    def _unbind(_: BaseException | None) -> None:
        binding = g.pop("log_binding", None)
        if binding is not None:
            logs.unbind(binding)
