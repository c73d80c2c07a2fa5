"""S3 adapter: the one bucket, and what each of its prefixes holds.

A prefix decides who may read or write its objects (``inference_core.aws.iam``) and how long they
are kept (the bucket's lifecycle rules, ``inference_core.aws.provision``). MLflow keeps its
artifacts under a prefix of its own (``mlflow/``), which neither touches.
"""

from __future__ import annotations

from typing import Any

# <prefix>/<model>/v<version>/<yyyy>/<mm>/<dd>/<uuid>.npy: one array per batch, written by the model's
# worker, read by the monitoring job; kept for S3_FEATURES_EXPIRY_DAYS.
FEATURES_PREFIX = "features"
# <prefix>/<model>/...: one JSON array per batch of results too large for their event (embeddings),
# written by the worker and copied into PostgreSQL by the dispatcher.
RESULTS_PREFIX = "results"
# <prefix>/<model>/v<version>/<yyyy>/<mm>/<dd>/<hh>.html: the monitoring job's reports, which the
# gateway serves; kept.
REPORTS_PREFIX = "reports"


class ObjectMissing(LookupError):
    """No object under the URI: never written, deleted, or expired by the bucket's lifecycle rule."""


class S3Store:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Store `data` under `key`; returns its s3:// URI."""
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return f"s3://{self.bucket}/{key}"

    def get(self, uri: str) -> bytes:
        """The object's bytes; raises ObjectMissing when there is none."""
        bucket, key = parse_s3_uri(uri)
        try:
            response = self._client.get_object(Bucket=bucket, Key=key)
        except self._client.exceptions.NoSuchKey as exc:
            raise ObjectMissing(uri) from exc
        return bytes(response["Body"].read())


def parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key
