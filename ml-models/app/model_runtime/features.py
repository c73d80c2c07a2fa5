"""Intermediate features go to S3 as one ``.npy`` array per batch; each request keeps its row.

Reading one back takes a few lines::

    import io, boto3, numpy as np
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    vector = np.load(io.BytesIO(body))[features_row]

One object per batch keeps S3 to one PUT per batch rather than one per request. Results too large
to travel in their SNS message (embeddings) go the same way, as one JSON array per batch
(``save_results``); the gateway's dispatcher reads them back into PostgreSQL.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

import numpy as np

from inference_core.aws.s3 import FEATURES_PREFIX, RESULTS_PREFIX, S3Store


class FeatureStore:
    def __init__(self, store: S3Store, prefix: str = FEATURES_PREFIX) -> None:
        self._store = store
        self._prefix = prefix

    def save_batch(self, model_name: str, model_version: str, features: np.ndarray) -> str:
        """Store the batch's feature rows; returns the object's s3:// URI."""
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(features), allow_pickle=False)
        key = self._key(self._prefix, model_name, model_version, "npy")
        return self._store.put(key, buffer.getvalue(), content_type="application/x-npy")

    def save_results(self, model_name: str, model_version: str, results: bytes) -> str:
        """Store a batch's results (a JSON array, row i is request i); returns the object's s3:// URI."""
        key = self._key(RESULTS_PREFIX, model_name, model_version, "json")
        return self._store.put(key, results, content_type="application/json")

    @staticmethod
    def _key(prefix: str, model_name: str, model_version: str, suffix: str) -> str:
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        return f"{prefix}/{model_name}/v{model_version}/{day}/{uuid.uuid4()}.{suffix}"

    def load_row(self, uri: str, row: int) -> np.ndarray:
        return np.asarray(np.load(io.BytesIO(self._store.get(uri)), allow_pickle=False)[row])
