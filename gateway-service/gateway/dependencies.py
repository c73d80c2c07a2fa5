"""What the web process's views use, built once by the composition root (``gateway.app``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app

if TYPE_CHECKING:  # the modules below read deps() themselves
    from sqlalchemy import Engine

    from gateway.auth import Authenticator
    from gateway.rate_limit import RateLimiter
    from gateway.settings import Settings
    from gateway.tokens import TokenEstimator
    from gateway.unit_of_work import UnitOfWork
    from gateway.waiting import FinishedWaiter
    from inference_core.aws.s3 import S3Store


@dataclass(frozen=True)
class Dependencies:
    settings: Settings
    uow: UnitOfWork
    engine: Engine  # the monitoring routes' reads (inference_core.db.monitoring)
    authenticator: Authenticator
    rate_limiter: RateLimiter
    token_estimator: TokenEstimator
    waiter: FinishedWaiter
    sns_client: Any
    reports: S3Store  # the monitoring job's reports


def deps() -> Dependencies:
    return current_app.extensions["gateway"]
