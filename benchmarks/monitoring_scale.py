"""Time and peak memory of one monitoring run as the hour's volume grows (1,000 / 10,000 / 100,000 requests).

    python benchmarks/monitoring_scale.py [--sizes 1000 10000 100000]   # needs `make up` (MLflow, LocalStack)

Rows are seeded straight into a scratch database (not through the gateway): texts, answers and
feature rows copied from the sentiment champion's reference sample, features stored in S3 as
the worker stores them (one .npy per batch of 128). Each run is a fresh process running the real
`monitoring-job run`, and reports its own peak RSS; the first run of a version also calibrates its
reference (unless a stored calibration exists), which is reported apart.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import Engine, insert, make_url, select

from inference_core.aws.clients import aws_client
from inference_core.db.engine import make_engine
from inference_core.db.migrate import upgrade
from inference_core.db.schema import inference_requests, model_actions, monitoring_runs
from inference_core.reference import ReferenceSample
from inference_core.settings import AwsSettings, Env
from monitoring_job.registry import ReferenceRegistry

ROOT = Path(__file__).resolve().parent.parent
# `monitoring-job` itself, then its own peak RSS (KiB) on the last line of stderr.
MEASURED_RUN = """
import resource, sys
from monitoring_job.cli import main
try:
    main(sys.argv[1:])
finally:
    print("peak_rss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""
BATCH = 128
MODEL = "sentiment"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    args = parser.parse_args()
    for name, value in (  # `make up`'s services, unless told otherwise
        ("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("DO_NOT_TRACK", "true"),
    ):
        os.environ.setdefault(name, value)
    env = dict(os.environ)
    base = make_url(os.environ.get("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/inference"))
    database_url = base.set(database=f"monitoring_scale_{uuid.uuid4().hex[:6]}").render_as_string(hide_password=False)
    env["DATABASE_URL"] = database_url
    upgrade(database_url)
    engine = make_engine(database_url)
    references = ReferenceRegistry(env["MLFLOW_TRACKING_URI"])
    version = references.champion(MODEL)
    if version is None:
        raise SystemExit(f"{MODEL} has no champion: run `make up` first")
    reference = references.reference(MODEL, version)
    aws = AwsSettings.from_env(Env(env))
    s3 = aws_client("s3", aws)
    with engine.begin() as conn:
        conn.execute(insert(model_actions).values(action=MODEL, model_name=MODEL, model_version=version))

    print(f"{MODEL} v{version}; reference {len(reference.texts)} rows; one run per size, each a fresh process")
    print(f"{'requests':>9} | {'seeded in':>9} | {'run':>7} | {'of which calibration':>20} | {'peak RSS':>9} | status")
    hour = datetime(2026, 1, 1, tzinfo=UTC)
    for size in args.sizes:
        hour += timedelta(hours=1)
        started = time.monotonic()
        seed(engine, s3, aws.names.bucket, version, reference_rows(reference, size), hour)
        seeded = time.monotonic() - started
        started = time.monotonic()
        command = [sys.executable, "-c", MEASURED_RUN, "run", "--model", MODEL, "--end"]
        result = subprocess.run(
            [*command, (hour + timedelta(hours=1)).isoformat()], env=env, capture_output=True, text=True
        )
        took = time.monotonic() - started
        peak_mb = int(result.stderr.strip().splitlines()[-1].split()[-1]) / 1024
        calibration = calibration_seconds(engine, hour)
        line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-300:]
        print(
            f"{size:>9} | {seeded:>8.1f}s | {took:>6.1f}s | {calibration:>19.1f}s | {peak_mb:>7.0f}MB | {line}",
            flush=True,
        )
    engine.dispose()
    drop_database(database_url)


Row = tuple[str, dict[str, Any], np.ndarray]  # text, the model's answer, its feature vector


def reference_rows(reference: ReferenceSample, size: int) -> list[Row]:
    """`size` rows drawn from the reference: the version's own answers, as its worker gave them."""
    picks = np.random.default_rng(size).integers(0, len(reference.texts), size)
    return [
        (
            reference.texts[i],
            {"label": reference.labels[i], "confidence": reference.confidences[i]},
            reference.features[i],
        )
        for i in picks
    ]


def seed(engine: Engine, s3: Any, bucket: str, version: str, rows: list[Row], hour: datetime) -> None:
    step = timedelta(hours=1) / len(rows)
    records = []
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        buffer = io.BytesIO()
        np.save(buffer, np.stack([r[2] for r in batch]).astype(np.float32), allow_pickle=False)
        key = f"features/{MODEL}/v{version}/scale/{uuid.uuid4()}.npy"
        s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
        for offset, (text, result, _) in enumerate(batch):
            completed = hour + (start + offset) * step
            records.append(
                {
                    "id": uuid.uuid4(),
                    "action": MODEL,
                    "input_text": text,
                    "request_fingerprint": "scale",
                    "status": "succeeded",
                    "model_name": MODEL,
                    "model_version": version,
                    "result": result,
                    "features_uri": f"s3://{bucket}/{key}",
                    "features_row": offset,
                    "created_at": completed - timedelta(milliseconds=40),
                    "started_at": completed - timedelta(milliseconds=15),
                    "completed_at": completed,
                }
            )
    with engine.begin() as conn:
        for start in range(0, len(records), 5000):
            conn.execute(insert(inference_requests), records[start : start + 5000])


def drop_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


def calibration_seconds(engine: Engine, hour: datetime) -> float:
    with engine.connect() as conn:
        value = conn.execute(
            select(monitoring_runs.c.calibration_seconds).where(monitoring_runs.c.window_start == hour)
        ).scalar_one_or_none()
    return float(value or 0.0)


if __name__ == "__main__":
    sys.exit(main())
