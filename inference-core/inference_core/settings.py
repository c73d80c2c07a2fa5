"""Settings shared by every service, read once from the environment.

Each process builds its own frozen settings object in its composition root
(``Settings.from_env()``) and passes it down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/inference"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Env:
    """Typed reads from an environment mapping, failing with the variable's name."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def text(self, name: str, default: str | None = None) -> str:
        value = self._environ.get(name, "").strip()
        if value:
            return value
        if default is None:
            raise SettingsError(f"environment variable {name} must be set")
        return default

    def optional(self, name: str) -> str | None:
        return self._environ.get(name, "").strip() or None

    def integer(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"environment variable {name} must be an integer, got {raw!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise SettingsError(f"environment variable {name} must be in [{minimum}, {maximum}], got {value}")
        return value


@dataclass(frozen=True)
class ResourceNames:
    """Names of the AWS resources; a prefix keeps several stacks apart in one account."""

    prefix: str = ""
    topic_base: str = "inference-events"
    bucket_base: str = "inference-platform"

    @property
    def topic(self) -> str:
        return f"{self.prefix}{self.topic_base}"

    @property
    def bucket(self) -> str:
        return f"{self.prefix}{self.bucket_base}"

    @property
    def gateway_queue(self) -> str:
        return f"{self.prefix}gateway-responses"

    def model_queue(self, model_name: str) -> str:
        return f"{self.prefix}model-{model_name}"

    @staticmethod
    def dead_letter_queue(queue_name: str) -> str:
        return f"{queue_name}-dlq"


@dataclass(frozen=True)
class AwsSettings:
    region: str
    endpoint_url: str | None
    names: ResourceNames

    @classmethod
    def from_env(cls, env: Env) -> AwsSettings:
        return cls(
            region=env.text("AWS_REGION", env.text("AWS_DEFAULT_REGION", "us-east-1")),
            # Set for LocalStack; left unset on AWS, where boto3 finds the real endpoints.
            endpoint_url=env.optional("AWS_ENDPOINT_URL"),
            names=ResourceNames(
                prefix=env.text("RESOURCE_PREFIX", ""),
                topic_base=env.text("SNS_TOPIC_NAME", "inference-events"),
                bucket_base=env.text("S3_BUCKET_NAME", "inference-platform"),
            ),
        )


def database_url(env: Env) -> str:
    return env.text("DATABASE_URL", DEFAULT_DATABASE_URL)
