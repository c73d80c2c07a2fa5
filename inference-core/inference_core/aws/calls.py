"""AWS API calls made by this process, counted by service and operation: the unit AWS bills.

Every client from ``aws_client`` counts its calls here (botocore's ``before-parameter-build`` event, so a
retried call counts once; retries are botocore's, not a second request of ours). With
``AWS_CALL_COUNTS_DIR`` set, a daemon thread also writes the counts to ``<dir>/<pid>.json``
twice a second, for a benchmark to read from outside the process (``benchmarks/compare.py``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

WRITE_EVERY_SECONDS = 0.5

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_writer: threading.Thread | None = None


def count(client: Any, directory: Path | None) -> None:
    """Count `client`'s calls from now on; with a `directory`, keep ``<directory>/<pid>.json`` current."""
    service = client.meta.service_model.service_name
    client.meta.events.register(f"before-parameter-build.{service}", _count_call)
    if directory is not None:
        _start_writer(directory)


def snapshot() -> dict[str, int]:
    """``{"sqs.ReceiveMessage": n, ...}`` so far."""
    with _lock:
        return dict(_counts)


def _count_call(model: Any, **_: Any) -> None:
    key = f"{model.service_model.service_name}.{model.name}"
    with _lock:
        _counts[key] += 1


def _start_writer(directory: Path) -> None:
    global _writer
    with _lock:
        if _writer is not None and _writer.is_alive():
            return
        _writer = threading.Thread(target=_write_forever, args=(directory,), name="aws-call-counts", daemon=True)
        _writer.start()


def _write_forever(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{os.getpid()}.json"
    partial = target.with_suffix(".tmp")
    while True:
        partial.write_text(json.dumps(snapshot()))
        partial.replace(target)  # a reader never sees half a file
        time.sleep(WRITE_EVERY_SECONDS)
