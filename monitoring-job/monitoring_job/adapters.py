"""The job's adapters: PostgreSQL (traffic in, runs and alerts out) and S3 (features in, reports out)."""

from __future__ import annotations

import io
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import numpy as np
from sqlalchemy import Engine

from inference_core.aws.s3 import ObjectMissing, S3Store
from inference_core.db import monitoring
from inference_core.db.monitoring import MetricRecord, Operations, RunRecord, TrafficRow
from inference_core.db.outbox import enqueue
from inference_core.db.schema import RunStatus
from inference_core.events import DriftDetected, DriftedMetric

log = logging.getLogger(__name__)

FEATURE_FETCHES = 16  # S3 GETs in flight: a window's rows sit in many small batch objects


class PostgresTraffic:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def versions(self, model: str, start: datetime, end: datetime) -> list[str]:
        with self._engine.connect() as conn:
            return monitoring.versions_in_window(conn, model, start, end)

    def operations(self, model: str, version: str, start: datetime, end: datetime) -> Operations:
        with self._engine.connect() as conn:
            return monitoring.operations(conn, model, version, start, end)

    def rows(self, model: str, version: str | None, start: datetime, end: datetime, limit: int) -> list[TrafficRow]:
        with self._engine.connect() as conn:
            return monitoring.succeeded_rows(conn, model, version, start, end, limit)

    def labelled(self, model: str, version: str, start: datetime, end: datetime) -> list[monitoring.LabelledAnswer]:
        with self._engine.connect() as conn:
            return monitoring.labelled_answers(conn, model, version, start, end)


class PostgresRuns:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, run: RunRecord, metrics: Sequence[MetricRecord], action: str) -> None:
        with self._engine.begin() as conn:
            run_id = monitoring.replace_run(conn, run, metrics)
            if run.status == RunStatus.DRIFT.value:
                enqueue(conn, drift_detected(run_id, run, metrics, action))


def drift_detected(run_id: uuid.UUID, run: RunRecord, metrics: Sequence[MetricRecord], action: str) -> DriftDetected:
    return DriftDetected(
        run_id=run_id,
        action=action,
        model_name=run.model,
        model_version=run.model_version,
        window_start=run.window_start,
        window_end=run.window_end,
        reference=run.reference,
        drifted=[
            DriftedMetric(metric=m.metric, method=m.method or "", score=m.value or 0.0, threshold=m.threshold or 0.0)
            for m in metrics
            if m.kind == "drift" and m.drifted
        ],
    )


class S3Features:
    """The feature rows the workers stored: one ``.npy`` per batch, each request its row."""

    def __init__(self, store: S3Store) -> None:
        self._store = store

    def embeddings(self, rows: Sequence[TrafficRow]) -> np.ndarray | None:
        wanted: dict[str, set[int]] = defaultdict(set)
        for row in rows:
            if row.features_uri is None or row.features_row is None:
                return None
            wanted[row.features_uri].add(row.features_row)
        # Keep only the rows asked for: a busy hour's batches hold far more rows than are judged.
        with ThreadPoolExecutor(FEATURE_FETCHES) as pool:
            kept = dict(zip(wanted, pool.map(self._rows_of, wanted.items()), strict=True))
        missing = sum(found is None for found in kept.values())
        if missing:
            # Like rows stored without features: the rest of the sample is still judged.
            log.warning("%d of %d features objects are gone; judging without embeddings", missing, len(kept))
            return None
        return np.stack([kept[str(row.features_uri)][int(row.features_row or 0)] for row in rows])  # type: ignore[index]

    def _rows_of(self, item: tuple[str, set[int]]) -> dict[int, np.ndarray] | None:
        """The rows asked for of one batch's features, or None when its object is gone."""
        uri, indices = item
        try:
            data = self._store.get(uri)
        except ObjectMissing:
            return None
        batch = np.load(io.BytesIO(data), allow_pickle=False)
        return {index: batch[index].copy() for index in indices}


class S3Reports:
    def __init__(self, store: S3Store) -> None:
        self._store = store

    def put(self, key: str, html: str) -> str:
        self._store.put(key, html.encode(), content_type="text/html; charset=utf-8")
        return key
