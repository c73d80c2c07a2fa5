"""The running services a test session uses, as handles the tests can read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

import devstack
from inference_core.aws.clients import aws_client
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

    def log(self, name: str) -> str:
        return (self.stack.config.run_dir / "logs" / f"{name}.log").read_text(errors="replace")
