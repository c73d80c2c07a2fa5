"""What one request costs on the platform, against the server a user would write instead, in one run.

    make bench-compare    # with `make up` running in another terminal (its PostgreSQL, LocalStack, MLflow)
    .venv/bin/python benchmarks/compare.py [--models embedding,sentiment] [-n 5000] [--clients 16]
                                           [--seconds 60] [--single 100] [--profile]

For each model, on this machine, one after another:
* model alone: ``predict`` in this process at several batch sizes (texts/s, CPU ms per text);
* worker drain: an in-process worker draining a backlog of ``-n`` requests (``worker.py``'s drain);
* baseline: ``sync_server.py``, one process per core, each computing one request at a time;
* platform: a gateway, dispatcher and worker of its own (``tools/devstack.py``: own database,
  queues and port; the same code ``make up`` runs), under (a) a burst of ``-n`` requests submitted
  as fast as the gateway takes them, then awaited; (b) ``--clients`` closed-loop clients for
  ``--seconds`` (``POST ...?wait=30``: submit and wait, one round trip); (c) ``--single`` requests one at a time.

For each: completed requests/s, p50/p99 latency, CPU milliseconds per completed request by process
group (read from /proc by psutil: the groups' own figures, not this process's), AWS API calls per
completed request (counted in the platform's own clients, ``inference_core.aws.calls``) and the
worker's mean batch size (requests per S3 features write). The load generator (this process)
shares the cores with everything it measures, as a client on the same machine would.

``--profile`` samples the gateway, dispatcher and worker with py-spy during the burst and prints
each one's top functions by own samples while holding the GIL (Python's CPU; the model's native
compute releases it), kept in ``--profile-dir``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import psutil
import requests

from inference_core.db.schema import FINISHED
from texts import TEXTS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import devstack  # noqa: E402
import floors  # noqa: E402

MODEL_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)
PLATFORM_GROUPS = ("gateway", "dispatcher", "worker")


@dataclasses.dataclass
class Figures:
    """One scenario's outcome."""

    name: str
    completed: int
    seconds: float
    latencies_ms: list[float]
    cpu_ms: dict[str, float]  # process group -> CPU milliseconds spent during the scenario
    aws_calls: Counter[str] = dataclasses.field(default_factory=Counter)  # "group service.Operation" -> calls
    batches: int = 0  # worker batches (distinct features objects) that finished requests

    @property
    def rate(self) -> float:
        return self.completed / self.seconds

    def percentile(self, q: int) -> float:
        values = sorted(self.latencies_ms)
        if len(values) < 2:
            return values[0] if values else float("nan")
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

    def per_request(self, group: str) -> float:
        return self.cpu_ms.get(group, 0.0) / max(1, self.completed)

    def calls_per_request(self) -> float:
        return sum(self.aws_calls.values()) / max(1, self.completed)

    def mean_batch(self) -> float | None:
        return self.completed / self.batches if self.batches else None


# --- What the processes spend -------------------------------------------------------------------


class ProcessGroups:
    """CPU time of named groups of processes, each found again at every reading."""

    def __init__(self) -> None:
        self._finders: dict[str, Callable[[], list[psutil.Process]]] = {}

    def add(self, name: str, finder: Callable[[], list[psutil.Process]]) -> None:
        self._finders[name] = finder

    def remove(self, name: str) -> None:
        self._finders.pop(name, None)

    def read(self) -> dict[str, dict[tuple[int, float], float]]:
        """Per group, (pid, start time) -> CPU seconds so far (a process that ends takes its time with it)."""
        readings: dict[str, dict[tuple[int, float], float]] = {}
        for name, find in self._finders.items():
            readings[name] = {}
            for process in find():
                try:
                    times = process.cpu_times()
                    readings[name][(process.pid, process.create_time())] = times.user + times.system
                except psutil.Error:
                    continue
        return readings

    @staticmethod
    def spent_ms(
        before: dict[str, dict[tuple[int, float], float]], after: dict[str, dict[tuple[int, float], float]]
    ) -> dict[str, float]:
        return {
            name: 1000 * sum(cpu - before.get(name, {}).get(key, 0.0) for key, cpu in now.items())
            for name, now in after.items()
        }


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def listening_on(port: int) -> list[psutil.Process]:
    for connection in psutil.net_connections("tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
            return tree(connection.pid)
    return []


def postgres_processes() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


class AwsCalls:
    """The AWS call counts the platform's processes write (AWS_CALL_COUNTS_DIR), by group."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, group: str) -> Path:
        return self.root / group

    def read(self) -> Counter[str]:
        time.sleep(0.6)  # one write interval, so the files hold what was done until now
        counts: Counter[str] = Counter()
        for file in self.root.glob("*/*.json"):
            for operation, n in json.loads(file.read_text())["calls"].items():
                counts[f"{file.parent.name} {operation}"] += n
        return counts


@contextmanager
def measured(
    name: str, groups: ProcessGroups, calls: AwsCalls | None, batches: Callable[[], int] | None = None
) -> Iterator[Figures]:
    """Fill in a scenario's CPU, AWS calls and batches around the block; the block fills in the rest."""
    figures = Figures(name, 0, 0.0, [], {})
    calls_before = calls.read() if calls else Counter()
    batches_before = batches() if batches else 0
    before = groups.read()
    yield figures
    figures.cpu_ms = ProcessGroups.spent_ms(before, groups.read())
    if calls:
        figures.aws_calls = calls.read() - calls_before
    if batches:
        figures.batches = batches() - batches_before


class Profiles:
    """py-spy sampling the platform's processes (and their children) while a block runs."""

    def __init__(self, directory: Path, pids: dict[str, int]) -> None:
        self.directory = directory
        self.pids = pids

    @contextmanager
    def recording(self) -> Iterator[None]:
        import signal
        import subprocess

        self.directory.mkdir(parents=True, exist_ok=True)
        spy = [str(devstack.VENV_BIN / "py-spy"), "record", "--subprocesses", "--nonblocking", "--gil", "--rate", "100"]
        spies = [
            subprocess.Popen(
                [*spy, "--format", "raw", "--pid", str(pid), "--output", str(self.directory / f"{group}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for group, pid in self.pids.items()
        ]
        try:
            yield
        finally:
            for spy in spies:
                spy.send_signal(signal.SIGINT)
            for spy in spies:
                spy.wait(30)

    def print_top(self, lines: int = 12) -> None:
        for group in self.pids:
            own: Counter[str] = Counter()
            for line in (self.directory / group).with_suffix(".txt").read_text().splitlines():
                stack, _, samples = line.rpartition(" ")
                own[stack.rsplit(";", 1)[-1]] += int(samples)
            total = sum(own.values()) or 1
            print(f"  profile of the {group} under the burst ({total} samples, own time):")
            for frame, samples in own.most_common(lines):
                print(f"    {100 * samples / total:5.1f}%  {frame[:150]}")


# --- Load ---------------------------------------------------------------------------------------


def texts_for(count: int) -> list[str]:
    return [f"{TEXTS[i % len(TEXTS)]} #{i}" for i in range(count)]


class Client:
    """One HTTP session per thread; `api_key` for the platform's gateway."""

    def __init__(self, api_key: str | None = None) -> None:
        self._local = threading.local()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
            self._local.session.headers.update(self._headers)
        return self._local.session  # type: ignore[no-any-return]


def closed_loop(
    call: Callable[[str], None], clients: int, seconds: float | None, count: int | None
) -> tuple[list[float], float]:
    """`clients` threads calling back to back, for `seconds` or until `count` calls; latencies (ms) and elapsed s."""
    latencies: list[float] = []
    lock = threading.Lock()
    texts = texts_for(count or 100_000)
    next_index = iter(range(len(texts)))
    started = time.perf_counter()

    def run() -> None:
        while seconds is None or time.perf_counter() - started < seconds:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            begin = time.perf_counter()
            call(texts[index])
            took = (time.perf_counter() - begin) * 1000
            with lock:
                latencies.append(took)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started


def looped(
    name: str,
    call: Callable[[str], None],
    clients: int,
    seconds: float | None,
    count: int | None,
    groups: ProcessGroups,
    calls: AwsCalls | None,
    batches: Callable[[], int] | None = None,
) -> Figures:
    """A closed-loop scenario, measured."""
    with measured(name, groups, calls, batches) as figures:
        figures.latencies_ms, figures.seconds = closed_loop(call, clients, seconds, count)
        figures.completed = len(figures.latencies_ms)
    return figures


def baseline_call(url: str, client: Client) -> Callable[[str], None]:
    def call(text: str) -> None:
        client.session.post(f"{url}/predict", json={"text": text}, timeout=60).raise_for_status()

    return call


def platform_call(url: str, action: str, client: Client) -> Callable[[str], None]:
    def call(text: str) -> None:
        body = {"action": action, "text": text}
        response = client.session.post(f"{url}/v1/inference", params={"wait": 30}, json=body, timeout=60)
        response.raise_for_status()
        answer = response.json()  # submitted and waited for: one round trip when it finishes within the wait
        while answer["status"] not in FINISHED:
            reread = f"{url}/v1/inference/{answer['request_id']}"
            answer = client.session.get(reread, params={"wait": 30}, timeout=60).json()
        if answer["status"] != "succeeded":
            raise RuntimeError(f"request {answer['request_id']} {answer['status']}: {answer['error']}")

    return call


def health_call(url: str, client: Client) -> Callable[[str], None]:
    def call(text: str) -> None:
        client.session.get(f"{url}/healthz", timeout=60).raise_for_status()

    return call


def platform_burst(
    url: str, api_key: str, action: str, count: int, clients: int, database_url: str
) -> tuple[list[float], float]:
    """Submit `count` requests from `clients` threads as fast as the gateway accepts them, then wait for all."""
    from sqlalchemy import select

    from inference_core.db.engine import make_engine
    from inference_core.db.schema import inference_requests as requests_table

    client = Client(api_key)

    def submit(text: str) -> str:
        response = client.session.post(f"{url}/v1/inference", json={"action": action, "text": text}, timeout=60)
        response.raise_for_status()
        return str(response.json()["request_id"])

    started = time.time()
    with ThreadPoolExecutor(clients) as pool:
        ids = {uuid.UUID(i) for i in pool.map(submit, texts_for(count))}
    accepted = time.time() - started
    engine = make_engine(database_url, pool_size=1)
    r = requests_table.c
    try:
        while True:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(r.id, r.status, r.created_at, r.completed_at).where(r.status == "succeeded")
                ).all()
            done = [row for row in rows if row.id in ids]
            if len(done) == len(ids):
                break
            if time.time() - started > 600:
                raise SystemExit(f"only {len(done)} of {count} requests succeeded within 600 s")
            time.sleep(0.25)
    finally:
        engine.dispose()
    print(f"    (burst accepted at {count / accepted:.0f} requests/s)")
    latencies = [(row.completed_at - row.created_at).total_seconds() * 1000 for row in done]
    return latencies, max(row.completed_at.timestamp() for row in done) - started


def batch_counter(engine: Any) -> Callable[[], int]:
    """Worker batches so far: each writes one features object, which each of its requests names."""
    from sqlalchemy import distinct, func, select

    from inference_core.db.schema import inference_requests as requests_table

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count(distinct(requests_table.c.features_uri)))).scalar_one())

    return count


# --- The model alone and the worker's drain ------------------------------------------------------


@dataclasses.dataclass
class ModelAlone:
    rates: dict[int, float]  # batch size -> texts/s
    cpu_ms_per_text: dict[int, float]

    def cpu_at(self, batch: float) -> float:
        """CPU ms per text at batch size `batch`, interpolated between the sizes measured."""
        sizes = sorted(self.cpu_ms_per_text)
        batch = min(max(batch, sizes[0]), sizes[-1])
        above = next(size for size in sizes if size >= batch)
        below = max(size for size in sizes if size <= batch)
        if above == below:
            return self.cpu_ms_per_text[above]
        share = (batch - below) / (above - below)
        return self.cpu_ms_per_text[below] + share * (self.cpu_ms_per_text[above] - self.cpu_ms_per_text[below])


def model_alone(served: object) -> ModelAlone:
    texts = texts_for(1024)
    model = served.model  # type: ignore[attr-defined]
    model.predict(texts[:32])  # warm-up
    rates, cpu = {}, {}
    for batch in MODEL_BATCHES:
        count = max(64, 4 * batch)
        wall, process = time.perf_counter(), time.process_time()
        for i in range(0, count, batch):
            model.predict(texts[i : i + batch])
        rates[batch] = count / (time.perf_counter() - wall)
        cpu[batch] = (time.process_time() - process) * 1000 / count
    return ModelAlone(rates, cpu)


def worker_drain(model: str, action: str, count: int, served: object) -> float:
    """worker.py's drain: an in-process worker empties a backlog of `count`, on queues of its own."""
    import worker as worker_bench
    from inference_core.aws.clients import aws_client
    from inference_core.aws.provision import ModelRoute, provision
    from model_runtime.settings import RuntimeSettings

    settings = RuntimeSettings.from_env({**os.environ, "RESOURCE_PREFIX": f"drain{uuid.uuid4().hex[:6]}-"})
    sqs = aws_client("sqs", settings.aws)
    topology = provision(
        aws_client("sns", settings.aws),
        sqs,
        aws_client("s3", settings.aws),
        settings.aws.names,
        [ModelRoute(model, action)],
    )
    try:
        return worker_bench.drain(
            settings,
            served,
            topology.model_queue_urls[model],
            count,
            batch_size=settings.batch_size,
            receivers=settings.receivers,
            concurrency=settings.concurrency,
            action=action,
        )
    finally:
        sqs.purge_queue(QueueUrl=topology.gateway_queue_url)


def drop_database(url: str) -> None:
    import psycopg
    from sqlalchemy import make_url

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


# --- The two servers ----------------------------------------------------------------------------


def start_baseline(config: devstack.StackConfig, model: str) -> tuple[devstack.Process, str]:
    port = devstack.free_port()
    process = devstack.spawn(
        "baseline",
        [
            str(devstack.VENV_BIN / "gunicorn"),
            "--workers",
            str(len(os.sched_getaffinity(0))),
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(ROOT / "benchmarks"),
            f"sync_server:create_app({model!r})",
        ],
        config.env(),
        config.run_dir / "logs",
        10,
    )
    url = f"http://127.0.0.1:{port}"
    devstack.wait_until(lambda: _answers(url), "the baseline server", 180, process)
    return process, url


def _answers(url: str) -> bool:
    try:
        return requests.post(f"{url}/predict", json={"text": "warm-up"}, timeout=30).ok
    except requests.RequestException:
        return False


def start_platform(
    config: devstack.StackConfig, model: str, action: str, calls: AwsCalls
) -> dict[str, devstack.Process]:
    def counted(group: str) -> devstack.StackConfig:
        return dataclasses.replace(config, extra_env={"AWS_CALL_COUNTS_DIR": str(calls.directory(group))})

    devstack.bootstrap(config)
    processes = {
        "dispatcher": devstack.start_dispatcher(counted("dispatcher")),
        "worker": devstack.start_worker(counted("worker"), model),
        "gateway": devstack.start_gateway(counted("gateway")),
    }
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        answer = Client(config.api_key()).session.get(f"{config.gateway_url}/v1/actions", timeout=10)
        if any(a["action"] == action and a["serving"] for a in answer.json()["actions"]):
            return processes
        time.sleep(0.5)
    raise SystemExit(f"the {model} worker never announced itself; see {config.run_dir / 'logs'}")


# --- The run ------------------------------------------------------------------------------------


def run_model(model: str, args: argparse.Namespace, base: devstack.StackConfig, work: Path) -> None:
    from sqlalchemy import make_url

    from inference_core.db.engine import make_engine
    from model_runtime.catalog import find
    from model_runtime.device import configure_threads, select_device
    from model_runtime.hot_swap import load_version
    from model_runtime.registry import ModelRegistry
    from model_runtime.settings import RuntimeSettings

    settings = RuntimeSettings.from_env()
    spec = find(settings.models_dir, model)
    threads = configure_threads(settings.threads)
    registry = ModelRegistry(settings.tracking_uri)
    ref = registry.by_alias(spec.name)
    if ref is None:
        raise SystemExit(f"no {spec.name}@champion in MLflow: run make up first")
    served = load_version(spec, registry, ref, select_device("cpu"))
    print(
        f"\n{model} v{ref.version} (action {spec.action!r}), {threads} torch threads in the worker, "
        f"{len(os.sched_getaffinity(0))} cores"
    )

    alone = model_alone(served)
    print(
        "  model alone:  "
        + "  ".join(f"b{b} {alone.rates[b]:.0f}/s {alone.cpu_ms_per_text[b]:.1f}ms" for b in MODEL_BATCHES)
    )
    drain_rate = worker_drain(spec.name, spec.action, args.requests, served)
    print(f"  worker drain: {drain_rate:.0f} requests/s")
    floor = floors.measure(spec.name, spec.action, served.model.predict, ref.version, settings)
    floor.print()
    del served

    database_url = make_url(base.database_url).set(database="bench_compare").render_as_string(hide_password=False)
    drop_database(database_url)
    config = dataclasses.replace(
        base,
        run_dir=work / model,
        database_url=database_url,
        resource_prefix=f"cmp{uuid.uuid4().hex[:6]}-",
        gateway_port=devstack.free_port(),
    )
    groups = ProcessGroups()
    groups.add("localstack", lambda: listening_on(base.localstack_port))
    groups.add("postgres", postgres_processes)
    rows: list[Figures] = []

    baseline, baseline_url = start_baseline(config, model)
    groups.add("baseline", lambda: tree(baseline.pid))
    client = Client()
    call = baseline_call(baseline_url, client)
    try:
        for name, clients, seconds, count in (
            ("baseline burst", args.clients, None, args.requests),
            ("baseline closed loop", args.clients, args.seconds, None),
            ("baseline one at a time", 1, None, args.single),
        ):
            rows.append(looped(name, call, clients, seconds, count, groups, None))
    finally:
        baseline.stop()
        groups.remove("baseline")

    calls = AwsCalls(work / model / "aws-calls")
    processes = start_platform(config, model, spec.action, calls)
    engine = make_engine(database_url, pool_size=1)
    batches = batch_counter(engine)
    for group in PLATFORM_GROUPS:
        groups.add(group, lambda pid=processes[group].pid: tree(pid))
    platform_client = Client(config.api_key())
    call = platform_call(config.gateway_url, spec.action, platform_client)
    profiles = Profiles(args.profile_dir / model, {g: processes[g].pid for g in PLATFORM_GROUPS})
    try:
        with (
            measured("platform burst", groups, calls, batches) as figures,
            profiles.recording() if args.profile else nullcontext(),
        ):
            figures.latencies_ms, figures.seconds = platform_burst(
                config.gateway_url, config.api_key(), spec.action, args.requests, args.clients, database_url
            )
            figures.completed = len(figures.latencies_ms)
        rows.append(figures)
        for name, clients, seconds, count in (
            ("platform closed loop", args.clients, args.seconds, None),
            ("platform one at a time", 1, None, args.single),
        ):
            rows.append(looped(name, call, clients, seconds, count, groups, calls, batches))
        # the gateway's HTTP floor: gunicorn and Flask answering a route that does nothing
        health = health_call(config.gateway_url, client)
        rows.append(looped("gateway /healthz", health, args.clients, None, args.requests, groups, calls))
    finally:
        engine.dispose()
        devstack.stop_all(list(processes.values()))
        drop_database(database_url)
    report(rows, alone, drain_rate, floor)
    if args.profile:
        profiles.print_top()


def report(rows: list[Figures], alone: ModelAlone, drain_rate: float, floor: floors.Floors) -> None:
    groups = ("gateway", "dispatcher", "worker", "localstack", "postgres", "baseline")
    print(f"  {'':51}CPU ms per completed request, by process group")
    print(
        f"  {'scenario':24} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}  "
        + " ".join(f"{g:>10}" for g in groups)
        + f" {'AWS calls':>9} {'batch':>6}"
    )
    for row in rows:
        batch = row.mean_batch()
        print(
            f"  {row.name:24} {row.rate:7.1f} {row.percentile(50):8.1f} {row.percentile(99):8.1f}  "
            + " ".join(f"{row.per_request(g):10.2f}" for g in groups)
            + (f" {row.calls_per_request():9.2f}" if row.aws_calls else f" {'':9}")
            + (f" {batch:6.1f}" if batch else "")
        )
    by_name = {row.name: row for row in rows}
    burst, base_burst, single = by_name["platform burst"], by_name["baseline burst"], by_name["platform one at a time"]
    http_floor = by_name["gateway /healthz"].per_request("gateway")
    own = sum(burst.per_request(g) for g in PLATFORM_GROUPS)
    size = burst.mean_batch() or 1
    model_cpu = alone.cpu_at(size)
    batch_one_ms = 1000 / alone.rates[1]
    print("  targets:")
    print(
        f"    own CPU per request under the burst {own:.1f} ms vs model alone at batch {size:.0f} "
        f"{model_cpu:.1f} ms + 2 ms: {_verdict(own <= model_cpu + 2)} (+{own - model_cpu:.1f} ms; "
        f"floor +{floor.aws_cpu_per_request(size) + http_floor:.1f} ms: AWS client "
        f"{floor.aws_cpu_per_request(size):.1f}, gateway /healthz {http_floor:.1f})"
    )
    print(
        f"    burst {burst.rate:.1f}/s vs baseline {base_burst.rate:.1f}/s: {_verdict(burst.rate >= base_burst.rate)}; "
        f"vs 0.8 x drain {0.8 * drain_rate:.1f}/s: {_verdict(burst.rate >= 0.8 * drain_rate)}"
    )
    p50 = single.percentile(50)
    print(
        f"    one at a time p50 {p50:.1f} ms vs batch-1 {batch_one_ms:.1f} ms + 50 ms: "
        f"{_verdict(p50 <= batch_one_ms + 50)} (+{p50 - batch_one_ms:.1f} ms; "
        f"LocalStack floor +{floor.latency():.0f} ms)"
    )
    print("  AWS calls per request, by client and call:")
    for row in rows:
        if row.aws_calls and row.completed:
            print(
                f"    {row.name}: "
                + ", ".join(f"{key} {n / row.completed:.2f}" for key, n in row.aws_calls.most_common())
            )


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="embedding,sentiment")
    parser.add_argument("-n", "--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--single", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="py-spy the platform's processes during the burst")
    parser.add_argument("--profile-dir", type=Path, default=ROOT / ".run" / "profiles")
    args = parser.parse_args()
    base = devstack.config_from_env(os.environ)
    for key, value in base.settings().items():
        os.environ.setdefault(key, value)
    if not devstack.http_ok(f"{base.aws_endpoint}/_localstack/health") or not devstack.http_ok(
        f"{base.mlflow_uri}/health"
    ):
        raise SystemExit("LocalStack and MLflow must be running: make up in another terminal")
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as work:
        for model in args.models.split(","):
            run_model(model.strip(), args, base, Path(work))


if __name__ == "__main__":
    main()
