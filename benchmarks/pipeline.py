"""Benchmark a running platform (``make up`` in another terminal), then the model alone, in one run.

    .venv/bin/python benchmarks/pipeline.py [-n 1000] [--concurrency 16]

Prints:
* accepted requests/s at the gateway (POST until 202, N requests from `concurrency` threads);
* completed requests/s end to end (first submit to last ``succeeded``);
* p50/p99 latency from submit to ``succeeded`` (the server's created_at -> completed_at), under that
  load (mostly queueing) and for ``--light`` requests sent one after another (the pipeline's own latency);
* the model's own predict throughput at batch sizes 1 and 10 (the worker's batch) and 32, measured
  after the pipeline has drained, in this process, on the same texts and the same champion version.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

from texts import TEXTS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import devstack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--api-key", help="a tenant's key (default: GATEWAY_API_KEY, or make up's dev key)")
    parser.add_argument("-n", "--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--light", type=int, default=50, help="requests sent one at a time, for latency")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"))
    args = parser.parse_args()
    args.api_key = args.api_key or os.environ.get("GATEWAY_API_KEY") or devstack.config_from_env(os.environ).api_key()

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {args.api_key}"
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=args.concurrency)
    session.mount("http://", adapter)
    texts = [f"{TEXTS[i % len(TEXTS)]} (#{i})" for i in range(args.requests)]

    def submit(text: str) -> str:
        response = session.post(f"{args.url}/v1/inference", json={"action": "sentiment", "text": text}, timeout=30)
        response.raise_for_status()
        return str(response.json()["request_id"])

    def wait(request_id: str) -> dict[str, object]:
        while True:
            answer = session.get(f"{args.url}/v1/inference/{request_id}", params={"wait": 30}, timeout=40).json()
            if answer["status"] in ("succeeded", "failed"):
                return answer  # type: ignore[no-any-return]

    print(f"pipeline: {args.requests} requests, {args.concurrency} client threads, gateway {args.url}")
    started = time.monotonic()
    with ThreadPoolExecutor(args.concurrency) as pool:
        ids = list(pool.map(submit, texts))
        accepted = time.monotonic()
        answers = list(pool.map(wait, ids))
    finished = time.monotonic()

    failed = sum(a["status"] != "succeeded" for a in answers)
    latencies = sorted(_latency_ms(a) for a in answers if a["status"] == "succeeded")
    print(f"  accepted at the gateway:  {args.requests / (accepted - started):8.1f} requests/s")
    print(f"  completed end to end:     {args.requests / (finished - started):8.1f} requests/s ({failed} failed)")
    p50, p99 = _percentile(latencies, 50), _percentile(latencies, 99)
    print(f"  submit -> succeeded:      p50 {p50:7.1f} ms   p99 {p99:7.1f} ms  (under that load)")
    light = sorted(_latency_ms(wait(submit(text))) for text in texts[: args.light])
    p50, p99 = _percentile(light, 50), _percentile(light, 99)
    print(f"  one at a time ({args.light}):      p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    model_throughput(args.tracking_uri, texts)


def model_throughput(tracking_uri: str, texts: list[str]) -> None:
    """The champion's predict alone, in this process, with the worker's thread settings."""
    from model_runtime.catalog import find, load_class
    from model_runtime.device import configure_threads, select_device
    from model_runtime.registry import ModelRegistry

    threads = configure_threads(None)
    device = select_device("auto")
    registry = ModelRegistry(tracking_uri)
    spec = find(Path(__file__).resolve().parents[1] / "ml-models" / "models", "sentiment")
    ref = registry.by_alias("sentiment")
    assert ref is not None, "no sentiment@champion: run make up first"
    with tempfile.TemporaryDirectory() as tmp:
        model = load_class(spec).load(registry.download(ref, Path(tmp)), device)
    model.predict(texts[:32])  # warm-up
    print(f"model alone: sentiment v{ref.version} on {device}, {threads} threads")
    for batch in (1, 10, 32):
        count = min(len(texts), 320)
        start = time.monotonic()
        for i in range(0, count, batch):
            model.predict(texts[i : i + batch])
        print(f"  batch {batch:3d}:                {count / (time.monotonic() - start):8.1f} texts/s")


def _latency_ms(answer: dict[str, object]) -> float:
    return (_time(answer["completed_at"]) - _time(answer["created_at"])) * 1000


def _time(value: object) -> float:
    return datetime.fromisoformat(str(value)).timestamp()


def _percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


if __name__ == "__main__":
    main()
