"""Run the platform locally: PostgreSQL, LocalStack, MLflow, then the gateway and the workers.

``python tools/devstack.py up`` is what ``make up`` runs. The test suite uses the same
functions to start its own isolated copies (other ports, databases and resource names).
Every service is reused when it already answers, and started otherwise.
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
LOCALSTACK_PYTHON = ROOT / ".venv-localstack" / "bin" / "python"
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
    def bucket(self) -> str:
        return f"{self.resource_prefix}inference-platform"

    def env(self) -> dict[str, str]:
        """The environment every platform process gets: the settings, nothing else."""
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "AWS_ENDPOINT_URL": self.aws_endpoint,
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
                "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
                "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION", "us-east-1"),
                "RESOURCE_PREFIX": self.resource_prefix,
                "MLFLOW_TRACKING_URI": self.mlflow_uri,
                "MODELS_DIR": str(self.models_dir),
                "MODEL_ARTIFACT_CACHE_DIR": str(self.run_dir / "model-cache"),
                "DO_NOT_TRACK": "true",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]

    def stop(self, timeout: float = 25.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop in {timeout:.0f}s; killing it")
            self.popen.kill()
            self.popen.wait()


def spawn(name: str, argv: Sequence[str], env: Mapping[str, str], log_dir: Path) -> Process:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
    popen = subprocess.Popen(list(argv), env=dict(env), cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
    return Process(name, popen)


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
        [str(LOCALSTACK_PYTHON), "-m", "localstack.runtime.main"],
        env,
        config.run_dir / "logs",
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
    )
    wait_until(lambda: http_ok(f"{config.mlflow_uri}/health"), "MLflow", 120, process)
    return process


# --- The platform -----------------------------------------------------------------------


def bootstrap(config: StackConfig) -> None:
    """Migrations, AWS resources and the action catalogue (idempotent)."""
    run_step(config, [str(VENV_BIN / "python"), str(ROOT / "localstack" / "bootstrap.py")])


def ensure_champions(config: StackConfig, *extra_args: str) -> None:
    run_step(config, [str(VENV_BIN / "model-runtime"), "ensure-champions", *extra_args])


def run_step(config: StackConfig, argv: Sequence[str]) -> None:
    subprocess.run(list(argv), env=config.env(), cwd=ROOT, check=True)


def model_names(models_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in models_dir.glob("*/model.toml"))


def start_gateway(config: StackConfig, workers: int = 2, threads: int = 16, graceful_timeout: int = 35) -> Process:
    process = spawn(
        "gateway",
        [
            str(VENV_BIN / "gunicorn"),
            "--bind",
            f"{config.gateway_host}:{config.gateway_port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),  # ?wait=N holds a thread while it waits
            "--graceful-timeout",
            str(graceful_timeout),  # lets a ?wait=30 request finish on shutdown
            "gateway.app:create_app()",
        ],
        config.env(),
        config.run_dir / "logs",
    )
    wait_until(lambda: http_ok(f"{config.gateway_url}/healthz"), "gateway", 60, process)
    return process


def start_dispatcher(config: StackConfig) -> Process:
    return spawn("gateway-dispatcher", [str(VENV_BIN / "gateway-dispatcher")], config.env(), config.run_dir / "logs")


def start_worker(config: StackConfig, model: str, extra_env: Mapping[str, str] | None = None) -> Process:
    env = config.env()
    env.update({"MODEL_NAME": model, **(extra_env or {})})
    return spawn(f"worker-{model}", [str(VENV_BIN / "model-runtime"), "serve"], env, config.run_dir / "logs")


def up(config: StackConfig) -> None:
    processes: list[Process] = []
    interrupted = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True
        raise KeyboardInterrupt

    # Explicitly: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        ensure_postgres(config.database_url)
        for start in (start_localstack, bootstrap, start_mlflow):  # MLflow's artifacts need the bucket
            started = start(config)
            if started:
                processes.append(started)
        ensure_champions(config)
        processes.append(start_dispatcher(config))
        for model in model_names(config.models_dir):
            processes.append(start_worker(config, model))
        processes.append(start_gateway(config))
        print(
            f"\nThe platform is up. Logs: {config.run_dir / 'logs'}\n"
            f"  Gateway:  {config.gateway_url}   (OpenAPI: {config.gateway_url}/openapi.json)\n"
            f"  MLflow:   {config.mlflow_uri}\n"
            f"  AWS:      {config.aws_endpoint} (LocalStack)\n\n"
            f"Try:\n  curl -s -X POST {config.gateway_url}/v1/inference -H 'Content-Type: application/json' \\\n"
            f'       -d \'{{"action": "sentiment", "text": "A warm, funny and moving film."}}\'\n'
            f"  curl -s '{config.gateway_url}/v1/inference/<request_id>?wait=10'\n\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        while True:
            for process in processes:
                if process.popen.poll() is not None:
                    raise SystemExit(f"{process.name} exited with code {process.popen.returncode}; see its log")
            time.sleep(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if processes:
            log("stopping " + ", ".join(p.name for p in reversed(processes)))
        for process in reversed(processes):
            process.stop()
        if interrupted:
            log("stopped")


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
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up"])
    parser.parse_args(argv)
    up(config_from_env(os.environ))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "inference-core"))
    main()
