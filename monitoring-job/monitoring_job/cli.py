"""``monitoring-job``: the monitoring job's command line (its composition root).

monitoring-job run [--model NAME] [--end ISO8601|now] [--window-minutes N]
    judge each model's traffic in the window (default: every model with a champion,
    the last complete hour); exits non-zero only if a run failed, never for drift
monitoring-job calibrate --model NAME [--version V]
    compute (or read) and print a version's drift thresholds per window size
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine

from inference_core import logs
from inference_core.aws.clients import aws_client
from inference_core.aws.s3 import S3Store
from inference_core.db import monitoring
from inference_core.db.engine import make_engine
from inference_core.db.schema import RunStatus
from inference_core.settings import Env, job_settings
from monitoring_job.adapters import PostgresRuns, PostgresTraffic, S3Features, S3Reports
from monitoring_job.baseline import Baseline, baseline
from monitoring_job.registry import ReferenceRegistry
from monitoring_job.run import Monitor, ReferenceChoice, Window, run_model
from monitoring_job.settings import Settings

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> None:
    os.environ.setdefault("DO_NOT_TRACK", "true")  # Evidently and MLflow telemetry
    logs.configure("monitoring-job", Env())
    parser = argparse.ArgumentParser(
        prog="monitoring-job", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="judge the traffic of a window")
    run.add_argument("--model", help="default: every model with a champion")
    run.add_argument("--end", type=parse_end, help="end of the window, ISO 8601 or 'now' (default: this hour)")
    run.add_argument("--window-minutes", type=int, default=60)
    run.add_argument(
        "--reference",
        type=parse_reference,
        default=ReferenceChoice(),
        help="'version' (each version's own reference sample; default) or 'trailing:<days>d', e.g. trailing:7d",
    )
    calibrate = commands.add_parser("calibrate", help="compute (or read) and print a version's drift thresholds")
    calibrate.add_argument("--model", required=True)
    calibrate.add_argument("--version", help="default: the champion")
    args = parser.parse_args(argv)

    settings = job_settings(Settings.from_env, "monitoring-job")
    if args.command == "calibrate":
        references = ReferenceRegistry(settings.mlflow_tracking_uri)
        version = args.version or references.champion(args.model)
        if version is None:
            raise SystemExit(f"{args.model} has no champion in the registry; name a --version")
        print(describe(baseline(references, args.model, version, settings.drift)))
        return

    if args.window_minutes < 1:
        parser.error("--window-minutes must be at least 1")
    # Default: the window that ends at the top of this hour (the last complete hour).
    end = args.end or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    window = Window.ending(end, args.window_minutes)
    engine = make_engine(settings.database_url)
    monitor = dataclasses.replace(build_monitor(settings, engine), reference=args.reference)
    with engine.connect() as conn:
        models = monitoring.known_models(conn)
    if args.model:
        if args.model not in models:
            raise SystemExit(f"unknown model {args.model!r}; known: {', '.join(sorted(models)) or 'none'}")
        models = {args.model: models[args.model]}
    failed = 0
    for model, action in sorted(models.items()):
        if args.model is None and monitor.references.champion(model) is None:
            continue
        for record in run_model(monitor, model, action, window):
            failed += record.status == RunStatus.FAILED.value
            print(
                f"{model} v{record.model_version} {window.start:%Y-%m-%d %H:%M}..{window.end:%H:%M}: {record.status}"
                f" ({record.requests} requests, {record.judged_rows} judged)"
                + (f": {record.reason}" if record.reason else ""),
                flush=True,
            )
    engine.dispose()
    sys.exit(1 if failed else 0)


def build_monitor(settings: Settings, engine: Engine) -> Monitor:
    store = S3Store(aws_client("s3", settings.aws), settings.aws.names.bucket)
    return Monitor(
        PostgresTraffic(engine),
        S3Features(store),
        ReferenceRegistry(settings.mlflow_tracking_uri),
        S3Reports(store),
        PostgresRuns(engine),
        settings.drift,
        settings.max_rows,
    )


def parse_reference(value: str) -> ReferenceChoice:
    try:
        return ReferenceChoice.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_end(value: str) -> datetime:
    if value == "now":
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def describe(found: Baseline) -> str:
    calibration = found.calibration
    how = f"computed in {found.calibration_seconds:.1f}s" if found.calibration_seconds else "stored, reused"
    lines = [
        f"{found.model} v{found.version}: {calibration.reference_rows} reference rows, "
        f"{calibration.draws} null windows per size, alpha {calibration.alpha:.0%} "
        f"over {len(calibration.thresholds)} metrics ({how})",
        "window rows  " + "  ".join(f"{name:>18}" for name in calibration.thresholds),
        "             " + "  ".join(f"{calibration.methods.get(name, ''):>18}" for name in calibration.thresholds),
    ]
    for index, size in enumerate(calibration.sizes):
        cells = "  ".join(f"{values[index]:>18.4f}" for values in calibration.thresholds.values())
        lines.append(f"{'>= ' + str(size):>11}  {cells}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
