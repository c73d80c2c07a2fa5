"""Settings shared by every service, read once from the environment.

Each process builds its own frozen settings object in its composition root
(``Settings.from_env()``) and passes it down; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/inference"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


STACK_ENV_FILE = "STACK_ENV_FILE"  # names the file of a running dev stack's settings ("" for none)
STACK_ENV_PATH = Path(".run") / "stack.env"  # where `make up` writes it, under the repository


def use_local_stack(environ: MutableMapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """Fill the environment's unset variables from the settings a local ``make up`` wrote; the file used.

    For the jobs people start by hand beside a running dev stack (train, eval, monitoring,
    annotation sync), called first in their ``main``: they find the stack on their own, and so
    do the libraries they use (boto3 reads its credentials from the environment). The file is
    ``$STACK_ENV_FILE``, or else ``.run/stack.env`` in the working directory or the nearest parent
    that has one. Anywhere without that file (a container, CI) nothing changes.
    """
    environ = os.environ if environ is None else environ
    named = environ.get(STACK_ENV_FILE)
    if named is not None:
        path = Path(named) if named.strip() else None
    else:
        here = (cwd or Path.cwd()).resolve()
        path = next((d / STACK_ENV_PATH for d in (here, *here.parents) if (d / STACK_ENV_PATH).is_file()), None)
    if path is None or not path.is_file():
        return None
    for name, value in read_env_file(path).items():
        if not environ.get(name, "").strip():
            environ[name] = value
    return path


def job_settings(read: Callable[[], T], program: str) -> T:
    """A job's settings, read by `read` after the running local stack filled the unset variables
    (``use_local_stack``); a missing or malformed one ends the process with one line."""
    use_local_stack()
    try:
        return read()
    except SettingsError as exc:
        raise SystemExit(f"{program}: {exc} (or start the local stack with `make up`)") from None


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines; blank lines and ``#`` comments are skipped."""
    found = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() and not name.lstrip().startswith("#"):
            found[name.strip()] = value.strip()
    return found


def write_env_file(path: Path, values: Mapping[str, str], header: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {line}" for line in header.splitlines()] + [f"{k}={v}" for k, v in sorted(values.items())]
    path.write_text("\n".join(lines) + "\n")


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

    def flag(self, name: str, default: bool) -> bool:
        raw = self._environ.get(name, "").strip().lower()
        if not raw:
            return default
        if raw in ("true", "1", "yes"):
            return True
        if raw in ("false", "0", "no"):
            return False
        raise SettingsError(f"environment variable {name} must be true or false, got {raw!r}")

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

    def priority_queue(self, model_name: str) -> str:
        """The model's lane for high-priority requests (a prefix, not a suffix: no model's name can reach it)."""
        return f"{self.prefix}high-model-{model_name}"

    @staticmethod
    def dead_letter_queue(queue_name: str) -> str:
        return f"{queue_name}-dlq"


@dataclass(frozen=True)
class AwsSettings:
    region: str
    endpoint_url: str | None
    names: ResourceNames
    # Where this process writes its AWS API call counts (inference_core.aws.calls), for benchmarks.
    call_counts_dir: Path | None = None

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
            call_counts_dir=Path(counts) if (counts := env.optional("AWS_CALL_COUNTS_DIR")) else None,
        )


def database_url(env: Env) -> str:
    return env.text("DATABASE_URL", DEFAULT_DATABASE_URL)
