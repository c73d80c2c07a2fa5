"""Run the platform locally: PostgreSQL, LocalStack, MLflow, Label Studio, then the gateway, the workers
and the scheduled jobs (monitoring hourly, annotation sync every 10 minutes).

``python tools/devstack.py up`` is what ``make up`` runs. The test suite uses the same
functions to start its own isolated copies (other ports, databases and resource names).
Every service is reused when it already answers, and started otherwise.

Stopping. Each child runs in a session (and process group) of its own, so a terminal's Ctrl-C
reaches only this script, which then stops them: the platform's processes first, then MLflow and
LocalStack, each group sent its program's graceful-stop signal (SIGTERM for all of them) and given
its grace period; a child counts as stopped only when no process of its group is left, and
whatever outlives the grace is killed with the group. Before starting anything, ``up`` checks its
ports and names the process that holds one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from inference_core.catalog import discover
from inference_core.settings import STACK_ENV_FILE, write_env_file

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
LOCALSTACK_PYTHON = ROOT / ".venv-localstack" / "bin" / "python"
LABEL_STUDIO_BIN = ROOT / ".venv-label-studio" / "bin" / "label-studio"
# Label Studio's local admin (loopback only, like LocalStack's test/test); set both to change them.
DEV_LABEL_STUDIO_USER = "admin@localhost"
DEV_LABEL_STUDIO_PASSWORD = "label-studio-dev"
DEV_LABEL_STUDIO_API_KEY = "label-studio-dev-token"
DEV_TENANT = "dev"  # make up's tenant; its API key is DEV_API_KEY, or one made once and kept in .run/dev-api-key
MODELS_DIR = ROOT / "ml-models" / "models"


def log(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


@dataclass(frozen=True)
class StackConfig:
    run_dir: Path
    database_url: str
    mlflow_database_url: str
    localstack_port: int = 4566
    mlflow_port: int = 5000
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    resource_prefix: str = ""
    models_dir: Path = MODELS_DIR
    annotation: bool = True  # Label Studio and the annotation sync (ANNOTATION=0 skips both)
    label_studio_port: int = 8081
    label_studio_database: str = "label_studio"  # on the same PostgreSQL server as database_url
    label_studio_user: str = DEV_LABEL_STUDIO_USER
    label_studio_password: str = DEV_LABEL_STUDIO_PASSWORD
    label_studio_api_key: str = DEV_LABEL_STUDIO_API_KEY
    dev_api_key: str | None = None  # the dev tenant's key; None: the saved one, or a new one
    redis_url: str = "redis://127.0.0.1:6379/0"
    extra_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.localstack_port}"

    @property
    def mlflow_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    @property
    def gateway_metrics_dir(self) -> Path:
        """Where the gateway's gunicorn processes keep their metrics (PROMETHEUS_MULTIPROC_DIR), one per port."""
        return self.run_dir / f"gateway-metrics-{self.gateway_port}"

    @property
    def label_studio_url(self) -> str:
        return f"http://127.0.0.1:{self.label_studio_port}"

    @property
    def label_studio_database_url(self) -> str:
        from sqlalchemy import make_url

        return (
            make_url(self.database_url).set(database=self.label_studio_database).render_as_string(hide_password=False)
        )

    @property
    def bucket(self) -> str:
        return f"{self.resource_prefix}inference-platform"

    def settings(self) -> dict[str, str]:
        """The platform's settings: what every process of the stack gets, and what `up` writes to
        `.run/stack.env` for the jobs people run by hand beside it."""
        return {
            "DATABASE_URL": self.database_url,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION", "us-east-1"),
            "RESOURCE_PREFIX": self.resource_prefix,
            "MLFLOW_TRACKING_URI": self.mlflow_uri,
            "MODELS_DIR": str(self.models_dir),
            "LABEL_STUDIO_URL": self.label_studio_url,
            "LABEL_STUDIO_API_KEY": self.label_studio_api_key,
            "REDIS_URL": self.redis_url,
            # A developer's callback receiver runs on this machine; deployed, callbacks go to public addresses only.
            "CALLBACK_ALLOW_PRIVATE_NETWORKS": "true",
            "MODEL_ARTIFACT_CACHE_DIR": str(self.run_dir / "model-cache"),
            "DO_NOT_TRACK": "true",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
            "LOG_FORMAT": "text",  # JSON lines (the default) are for a log pipeline; these are for a person
        }

    def env(self) -> dict[str, str]:
        """The environment every platform process gets: this one's, with the settings."""
        # Its processes have every setting: none reads a stack.env file (inference_core.settings).
        return {**os.environ, **self.settings(), STACK_ENV_FILE: "", **self.extra_env}

    @property
    def settings_file(self) -> Path:
        return self.run_dir / "stack.env"

    @property
    def api_key_file(self) -> Path:
        return self.run_dir / "dev-api-key"

    def api_key(self) -> str:
        """The dev tenant's API key (bootstrap puts it in place)."""
        return self.api_key_file.read_text().strip()


# How long each kind of child may take to stop gracefully before its group is killed.
# The gateway's is derived from gunicorn's own graceful_timeout (see start_gateway).
CONSUMER_GRACE_SECONDS = 15.0  # dispatcher and workers: the batch in hand, then about a second
LOCALSTACK_GRACE_SECONDS = 15.0  # its SIGTERM stop takes 2-8 s
MLFLOW_GRACE_SECONDS = 15.0  # the CLI and its uvicorn server
LABEL_STUDIO_GRACE_SECONDS = 15.0  # Django's server stops in about a second
GUNICORN_MASTER_MARGIN_SECONDS = 5.0  # the master's own exit after its workers' graceful_timeout


@dataclass
class Process:
    """A child in its own process group; stopped means no process of the group is left."""

    name: str
    popen: subprocess.Popen[bytes]
    grace_seconds: float
    infrastructure: bool = False  # LocalStack and MLflow: stopped after the platform's processes
    metrics_url: str | None = None  # where its Prometheus metrics are (a worker's, the dispatcher's)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def begin_stop(self) -> None:
        """Send the group its graceful-stop signal."""
        _signal_group(self.pid, signal.SIGTERM)

    def finish_stop(self, deadline: float) -> None:
        """Wait for the whole group until `deadline` (monotonic), then kill what is left."""
        if _wait_group(self.popen, deadline):
            return
        survivors = ", ".join(f"{p.pid} {' '.join(p.cmdline())[:80]}" for p in _group_members(self.pid))
        log(f"{self.name} did not stop in {self.grace_seconds:.0f}s; killing its process group ({survivors})")
        _signal_group(self.pid, signal.SIGKILL)
        _wait_group(self.popen, time.monotonic() + 10)

    def stop(self) -> None:
        self.begin_stop()
        self.finish_stop(time.monotonic() + self.grace_seconds)


def stop_all(processes: Sequence[Process]) -> None:
    """Signal them all at once, then wait for each within its own grace."""
    for process in processes:
        process.begin_stop()
    started = time.monotonic()
    for process in processes:
        process.finish_stop(started + process.grace_seconds)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(pgid, signum)


def _group_members(pgid: int) -> list[psutil.Process]:
    """Live processes of the group (zombies are done: only their parent's wait() is missing)."""
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process)
        except (ProcessLookupError, psutil.Error):
            continue
    return members


def _wait_group(popen: subprocess.Popen[bytes], deadline: float) -> bool:
    """Reap the leader and wait until its group is empty; False if `deadline` passes first."""
    while True:
        popen.poll()
        if popen.returncode is not None and not _group_members(popen.pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


# Every child this process started, in order, so that a stop also reaches one that is still starting.
_spawned: list[Process] = []


def spawn(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    log_dir: Path,
    grace_seconds: float,
    infrastructure: bool = False,
) -> Process:
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.log", "ab") as log_file:
        popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # only this script signals it, never the terminal
        )
    process = Process(name, popen, grace_seconds, infrastructure)
    _spawned.append(process)
    return process


def wait_until(check: object, what: str, timeout: float, process: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.popen.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.popen.returncode}; see its log")
        if check():  # type: ignore[operator]
            return
        time.sleep(0.25)
    raise RuntimeError(f"{what} was not ready after {timeout:.0f}s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def port_holder(port: int) -> str:
    """Who listens on `port`: pid and command, and whether it looks like a leftover of this project."""
    pids = {c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port and c.status == "LISTEN"}
    for pid in sorted(p for p in pids if p is not None):
        try:
            process = psutil.Process(pid)
            command = " ".join(process.cmdline()) or process.name()
            ours = str(ROOT) in command or process.cwd() == str(ROOT)
        except psutil.Error:
            continue
        verdict = "a leftover of this project: stop it with `kill" if ours else "not this project's: stop it or"
        hint = f"{verdict} {pid}`" if ours else f"{verdict} choose another port"
        return f"pid {pid} ({command[:160]}), {hint}"
    return "a process this user cannot see"


def check_ports(config: StackConfig) -> None:
    """Stop with one line when a port the stack must bind is taken (no traceback).

    LocalStack and MLflow are reused when they answer on theirs; the gateway always starts.
    """
    wanted = {"gateway": config.gateway_port}
    if not http_ok(f"{config.aws_endpoint}/_localstack/health"):
        wanted["LocalStack"] = config.localstack_port
    if not http_ok(f"{config.mlflow_uri}/health"):
        wanted["MLflow"] = config.mlflow_port
    if config.annotation and not http_ok(f"{config.label_studio_url}/health"):
        wanted["Label Studio"] = config.label_studio_port
    for name, port in wanted.items():
        if port_open(port):
            raise SystemExit(f"[devstack] port {port} ({name}) is in use by {port_holder(port)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- PostgreSQL -------------------------------------------------------------------------


def ensure_postgres(database_url: str) -> None:
    """Make sure the server in `database_url` answers, starting the local cluster if it can."""
    import psycopg
    from sqlalchemy import make_url

    url = make_url(database_url)
    dsn = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)

    def reachable() -> bool:
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    if reachable():
        return
    local = url.host in (None, "localhost", "127.0.0.1")
    if local and shutil.which("pg_ctlcluster") and shutil.which("pg_lsclusters"):
        clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.split()
        if len(clusters) >= 2:
            version, cluster = clusters[0], clusters[1]
            log(f"starting the local PostgreSQL cluster {version}/{cluster}")
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start"], check=False)
            wait_until(reachable, "PostgreSQL", 30)
            return
    raise SystemExit(
        f"PostgreSQL is not reachable at {url.render_as_string(hide_password=True)} and no local cluster "
        "could be started. Install PostgreSQL 15+ (apt-get install postgresql) and start it, or set "
        "DATABASE_URL to a server you can use, e.g. postgresql+psycopg://user:pass@host:5432/inference"
    )


# --- Redis (the gateway's rate limits) ---------------------------------------------------


def ensure_redis(redis_url: str) -> None:
    """Make sure the server in `redis_url` answers, starting a local one (in memory only) if it can."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2)

    def reachable() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    if reachable():
        return
    host, port = (
        client.connection_pool.connection_kwargs.get("host"),
        client.connection_pool.connection_kwargs.get("port"),
    )
    if host in ("localhost", "127.0.0.1") and shutil.which("redis-server"):
        log(f"starting a local Redis on port {port}")
        start = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port)]
        subprocess.run([*start, "--save", "", "--appendonly", "no"], check=False)
        wait_until(reachable, "Redis", 30)
        return
    raise SystemExit(
        f"Redis is not reachable at {redis_url} and no local one could be started. Install it "
        "(apt-get install redis-server), or set REDIS_URL to a server you can use, e.g. redis://host:6379/0"
    )


# --- LocalStack -------------------------------------------------------------------------


def start_localstack(config: StackConfig) -> Process | None:
    health = f"{config.aws_endpoint}/_localstack/health"
    if http_ok(health):
        log(f"reusing LocalStack at {config.aws_endpoint}")
        return None
    if not LOCALSTACK_PYTHON.exists():
        raise SystemExit("LocalStack's virtualenv is missing; run `make venvs` (make up does it)")
    root = config.run_dir / f"localstack-{config.localstack_port}"
    root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            # Host mode: the machine looks like a container (/.dockerenv), so tell LocalStack it is not.
            "GATEWAY_LISTEN": f"127.0.0.1:{config.localstack_port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{config.localstack_port}",
            "SERVICES": "sns,sqs,s3",
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(root),
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "SQS_ENDPOINT_STRATEGY": "path",
        }
    )
    log(f"starting LocalStack on {config.aws_endpoint}")
    process = spawn(
        f"localstack-{config.localstack_port}",
        [str(LOCALSTACK_PYTHON), str(ROOT / "localstack" / "loopback.py")],  # bound to loopback, not 0.0.0.0
        env,
        config.run_dir / "logs",
        LOCALSTACK_GRACE_SECONDS,
        infrastructure=True,
    )
    wait_until(lambda: _localstack_ready(health), "LocalStack", 60, process)
    return process


def _localstack_ready(health_url: str) -> bool:
    import json

    try:
        with urllib.request.urlopen(health_url, timeout=2) as response:
            services = json.load(response).get("services", {})
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return all(services.get(name) in ("available", "running") for name in ("sns", "sqs", "s3"))


# --- MLflow -----------------------------------------------------------------------------


def start_mlflow(config: StackConfig) -> Process | None:
    if http_ok(f"{config.mlflow_uri}/health"):
        log(f"reusing MLflow at {config.mlflow_uri}")
        return None
    from inference_core.db.migrate import ensure_database

    ensure_database(config.mlflow_database_url)
    env = config.env()
    env.update({"MLFLOW_S3_ENDPOINT_URL": config.aws_endpoint, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    log(f"starting MLflow on {config.mlflow_uri} (registry in PostgreSQL, artifacts in s3://{config.bucket})")
    process = spawn(
        f"mlflow-{config.mlflow_port}",
        [
            str(VENV_BIN / "mlflow"),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(config.mlflow_port),
            "--workers",
            "1",
            "--backend-store-uri",
            config.mlflow_database_url,
            "--artifacts-destination",
            f"s3://{config.bucket}/mlflow",
        ],
        env,
        config.run_dir / "logs",
        MLFLOW_GRACE_SECONDS,
        infrastructure=True,
    )
    wait_until(lambda: http_ok(f"{config.mlflow_uri}/health"), "MLflow", 120, process)
    return process


# --- Label Studio -----------------------------------------------------------------------


def start_label_studio(config: StackConfig) -> Process | None:
    """Label Studio in its own virtualenv, its database next to the platform's, an admin and an API key.

    The admin and the key are created on the first start from the settings; a fresh 1.2x server
    accepts the fixed (legacy) key only when legacy tokens are enabled, as here.
    """
    if http_ok(f"{config.label_studio_url}/health"):
        log(f"reusing Label Studio at {config.label_studio_url}")
        return None
    if not LABEL_STUDIO_BIN.exists():
        raise SystemExit("Label Studio's virtualenv is missing; run `make venvs` (make up does it)")
    from sqlalchemy import make_url

    from inference_core.db.migrate import ensure_database

    ensure_database(config.label_studio_database_url)
    url = make_url(config.label_studio_database_url)
    data_dir = config.run_dir / f"label-studio-{config.label_studio_port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_DB": "default",
            "POSTGRE_NAME": url.database or config.label_studio_database,
            "POSTGRE_USER": url.username or "postgres",
            "POSTGRE_PASSWORD": url.password or "",
            "POSTGRE_HOST": url.host or "127.0.0.1",
            "POSTGRE_PORT": str(url.port or 5432),
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "LABEL_STUDIO_USERNAME": config.label_studio_user,
            "LABEL_STUDIO_PASSWORD": config.label_studio_password,
            "LABEL_STUDIO_USER_TOKEN": config.label_studio_api_key,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LATEST_VERSION_CHECK": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "COLLECT_ANALYTICS": "false",
        }
    )
    log(f"starting Label Studio on {config.label_studio_url} (database {url.database}; a first start takes ~20 s)")
    process = spawn(
        f"label-studio-{config.label_studio_port}",
        [
            str(LABEL_STUDIO_BIN),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(config.label_studio_port),
        ],
        env,
        config.run_dir / "logs",
        LABEL_STUDIO_GRACE_SECONDS,
        infrastructure=True,
    )
    wait_until(lambda: http_ok(f"{config.label_studio_url}/health"), "Label Studio", 240, process)
    return process


# --- The platform -----------------------------------------------------------------------


def bootstrap(config: StackConfig, republish_unfinished: bool = False) -> None:
    """AWS resources, then migrations and the action catalogue, with the commands a deployment runs
    (idempotent), then the dev tenant.

    `republish_unfinished`: LocalStack was started empty, so the queued events of earlier requests are gone.
    """
    run_step(config, [str(VENV_BIN / "inference-aws"), "provision"])
    flags = ["--republish-unfinished"] if republish_unfinished else []
    run_step(config, [str(VENV_BIN / "gateway-admin"), "setup", *flags])
    ensure_dev_key(config)


def ensure_dev_key(config: StackConfig) -> None:
    """The dev tenant with its key in place and saved to `config.api_key_file` (readable by its owner only).

    The dev tenant has no rate limit, so local load tests and benchmarks measure the platform, not
    the limiter, and may send high-priority requests. The key is DEV_API_KEY when set; otherwise the
    one saved by an earlier run, or a new one when there is none (or the saved one was revoked).
    """
    from gateway.auth import generate_key

    admin = str(VENV_BIN / "gateway-admin")
    run_step(config, [admin, "tenants", "create", DEV_TENANT, "--no-rate-limit", "--high-priority", "--if-missing"])
    saved = config.api_key_file.read_text().strip() if config.api_key_file.exists() else None
    candidates = [config.dev_api_key] if config.dev_api_key else [k for k in (saved, generate_key()) if k]
    for key in candidates:
        imported = subprocess.run(
            [admin, "keys", "import", DEV_TENANT],
            input=key + "\n",
            text=True,
            capture_output=True,
            env=config.env(),
            cwd=ROOT,
        )
        if imported.returncode == 0:
            config.run_dir.mkdir(parents=True, exist_ok=True)
            config.api_key_file.touch(mode=0o600)
            config.api_key_file.write_text(key + "\n")
            return
        log(f"the dev tenant's key was not accepted: {imported.stderr.strip()}")
    raise SystemExit("no API key for the dev tenant; set DEV_API_KEY to a key of 32 or more characters")


def ensure_champions(config: StackConfig, *extra_args: str) -> None:
    run_step(config, [str(VENV_BIN / "model-runtime"), "ensure-champions", *extra_args])


def run_step(config: StackConfig, argv: Sequence[str]) -> None:
    subprocess.run(list(argv), env=config.env(), cwd=ROOT, check=True)


def model_names(models_dir: Path) -> list[str]:
    return [spec.name for spec in discover(models_dir)]


def start_gateway(
    config: StackConfig, workers: int = 2, threads: int | None = None, graceful_timeout: int | None = None
) -> Process:
    """gunicorn with the gateway's own settings (gateway/gunicorn_config.py); tests may tighten them."""
    from gateway import gunicorn_config

    graceful = gunicorn_config.graceful_timeout if graceful_timeout is None else graceful_timeout
    overrides = [] if threads is None else ["--threads", str(threads)]
    if graceful_timeout is not None:
        overrides += ["--graceful-timeout", str(graceful_timeout)]
    process = spawn(
        "gateway",
        [
            str(VENV_BIN / "gunicorn"),
            "--config",
            "python:gateway.gunicorn_config",
            "--bind",
            f"{config.gateway_host}:{config.gateway_port}",
            "--workers",
            str(workers),
            *overrides,
            "gateway.app:create_app()",
        ],
        # Its processes' metrics, added up at each scrape (gateway.gunicorn_config).
        {**config.env(), "PROMETHEUS_MULTIPROC_DIR": str(config.gateway_metrics_dir)},
        config.run_dir / "logs",
        graceful + GUNICORN_MASTER_MARGIN_SECONDS,
    )
    wait_until(lambda: http_ok(f"{config.gateway_url}/healthz"), "gateway", 60, process)
    return process


def start_dispatcher(config: StackConfig) -> Process:
    env, metrics_url = _with_metrics_port(config.env())
    logs = config.run_dir / "logs"
    process = spawn("gateway-dispatcher", [str(VENV_BIN / "gateway-dispatcher")], env, logs, CONSUMER_GRACE_SECONDS)
    process.metrics_url = metrics_url
    return process


def start_worker(config: StackConfig, model: str, extra_env: Mapping[str, str] | None = None) -> Process:
    env, metrics_url = _with_metrics_port({**config.env(), "MODEL_NAME": model, **(extra_env or {})})
    process = spawn(
        f"worker-{model}",
        [str(VENV_BIN / "model-runtime"), "serve"],
        env,
        config.run_dir / "logs",
        CONSUMER_GRACE_SECONDS,
    )
    process.metrics_url = metrics_url
    return process


def _with_metrics_port(env: dict[str, str]) -> tuple[dict[str, str], str]:
    """A free loopback port for the process's metrics (each deployed pod has its own 9100)."""
    port = free_port()
    return {**env, "METRICS_PORT": str(port), "METRICS_ADDRESS": "127.0.0.1"}, f"http://127.0.0.1:{port}/metrics"


MONITORING_EVERY_MINUTES = 60  # the monitoring job judges each hour just after it ends
ANNOTATION_SYNC_EVERY_MINUTES = 10


def start_schedule(config: StackConfig, job: str, every_minutes: int, *args: str) -> Process:
    """A job run every `every_minutes` on the clock (tools/every.py; a CronJob in production)."""
    return spawn(
        job,
        [
            str(VENV_BIN / "python"),
            str(ROOT / "tools" / "every.py"),
            str(every_minutes),
            "--",
            str(VENV_BIN / job),
            *args,
        ],
        config.env(),
        config.run_dir / "logs",
        CONSUMER_GRACE_SECONDS,
    )


def monitor_once(config: StackConfig) -> None:
    """`make monitor`: the monitoring job once, for the last complete hour."""
    run_step(config, [str(VENV_BIN / "monitoring-job"), "run"])


def up(config: StackConfig) -> None:
    interrupted = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    # Explicitly: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        check_ports(config)
        write_env_file(
            config.settings_file,
            {**config.settings(), **config.extra_env},
            "Written by `make up` for the jobs run beside it (train.sh, eval.sh, monitoring-job, annotation-sync):\n"
            "they read it for the variables their environment does not set. Removed when the stack stops.",
        )
        ensure_postgres(config.database_url)
        ensure_redis(config.redis_url)
        fresh_localstack = start_localstack(config) is not None
        bootstrap(config, republish_unfinished=fresh_localstack)
        start_mlflow(config)  # after bootstrap: MLflow's artifacts need the bucket
        if config.annotation:
            start_label_studio(config)
        ensure_champions(config)
        start_dispatcher(config)
        for model in model_names(config.models_dir):
            start_worker(config, model)
        start_gateway(config)
        start_schedule(config, "monitoring-job", MONITORING_EVERY_MINUTES, "run")  # deployed: a CronJob
        if config.annotation:
            start_schedule(config, "annotation-sync", ANNOTATION_SYNC_EVERY_MINUTES, "run")  # deployed: a CronJob
        print(
            f"\nThe platform is up. Logs: {config.run_dir / 'logs'}\n"
            f"  Gateway:  {config.gateway_url}   (OpenAPI: {config.gateway_url}/openapi.json)\n"
            f"  MLflow:   {config.mlflow_uri}\n"
            f"  AWS:      {config.aws_endpoint} (LocalStack)\n"
            f"  Monitoring: every hour at :00 (log: monitoring-job.log); `make monitor` runs it now\n"
            f"            runs: {config.gateway_url}/v1/monitoring/runs\n"
            f"{_annotation_lines(config)}\n"
            f"  API key of tenant {DEV_TENANT}: {config.api_key()}   (saved in {config.api_key_file})\n\n"
            f"Try:\n  KEY=$(cat {config.api_key_file})\n"
            f'  curl -s -X POST {config.gateway_url}/v1/inference -H "Authorization: Bearer $KEY" \\\n'
            f"       -H 'Content-Type: application/json' \\\n"
            f'       -d \'{{"action": "sentiment", "text": "A warm, funny and moving film."}}\'\n'
            f"  curl -s -H \"Authorization: Bearer $KEY\" '{config.gateway_url}/v1/inference/<request_id>?wait=10'\n\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        while True:
            for process in _spawned:
                if process.popen.poll() is not None:
                    raise SystemExit(f"{process.name} exited with code {process.popen.returncode}; see its log")
            time.sleep(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # A second Ctrl-C must not cut the stop short: every stop below is bounded by its grace.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if _spawned:
            log("stopping " + ", ".join(p.name for p in reversed(_spawned)))
        stop_all([p for p in reversed(_spawned) if not p.infrastructure])
        stop_all([p for p in reversed(_spawned) if p.infrastructure])
        config.settings_file.unlink(missing_ok=True)
        if interrupted:
            log("stopped")


def _annotation_lines(config: StackConfig) -> str:
    if not config.annotation:
        return "  Label Studio: off (ANNOTATION=0)\n"
    return (
        f"  Label Studio: {config.label_studio_url}   log in as {config.label_studio_user} / "
        f"{config.label_studio_password} (API key {config.label_studio_api_key})\n"
        f"            annotation sync every {ANNOTATION_SYNC_EVERY_MINUTES} minutes (log: annotation-sync.log)\n"
    )


def config_from_env(environ: Mapping[str, str]) -> StackConfig:
    return StackConfig(
        run_dir=Path(environ.get("DEVSTACK_RUN_DIR", str(ROOT / ".run"))),
        database_url=environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/inference"),
        mlflow_database_url=environ.get("MLFLOW_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/mlflow"),
        localstack_port=int(environ.get("LOCALSTACK_PORT", "4566")),
        mlflow_port=int(environ.get("MLFLOW_PORT", "5000")),
        gateway_host=environ.get("GATEWAY_HOST", "127.0.0.1"),
        gateway_port=int(environ.get("GATEWAY_PORT", "8080")),
        resource_prefix=environ.get("RESOURCE_PREFIX", ""),
        models_dir=Path(environ.get("MODELS_DIR", str(MODELS_DIR))),
        annotation=environ.get("ANNOTATION", "1") not in ("0", "false", "no", "off"),
        label_studio_port=int(environ.get("LABEL_STUDIO_PORT", "8081")),
        label_studio_user=environ.get("LABEL_STUDIO_USERNAME", DEV_LABEL_STUDIO_USER),
        label_studio_password=environ.get("LABEL_STUDIO_PASSWORD", DEV_LABEL_STUDIO_PASSWORD),
        label_studio_api_key=environ.get("LABEL_STUDIO_API_KEY", DEV_LABEL_STUDIO_API_KEY),
        dev_api_key=environ.get("DEV_API_KEY") or None,
        redis_url=environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "monitor"])
    args = parser.parse_args(argv)
    config = config_from_env(os.environ)
    if args.command == "monitor":
        monitor_once(config)
    else:
        up(config)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "inference-core"))
    main()
