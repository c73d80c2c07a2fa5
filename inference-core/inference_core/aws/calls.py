"""AWS API calls made by this process, counted by service and operation (the unit AWS bills) and by the
IAM permission each one needs.

Every client from ``aws_client`` counts its calls here (botocore's ``before-parameter-build`` event, so a
retried call counts once; retries are botocore's, not a second request of ours). With
``AWS_CALL_COUNTS_DIR`` set, a daemon thread also writes them to ``<dir>/<pid>.json`` twice a second
(and once more at exit)::

    {"calls": {"sqs.ReceiveMessage": n}, "permissions": {"sqs:ReceiveMessage queue:model-x": n}}

for a reader outside the process: a benchmark (``benchmarks/compare.py``), or a test that checks a
service's calls against its IAM policy (``inference_core.aws.iam``).
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from inference_core.aws import iam

WRITE_EVERY_SECONDS = 0.5

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_permissions: Counter[str] = Counter()
_writer: threading.Thread | None = None
_directory: Path | None = None


def count(client: Any, directory: Path | None) -> None:
    """Count `client`'s calls from now on; with a `directory`, also the permission each needs, and keep
    ``<directory>/<pid>.json`` current."""
    service = client.meta.service_model.service_name
    handler = _count_call if directory is None else _count_call_and_permission
    client.meta.events.register(f"before-parameter-build.{service}", handler)
    if directory is not None:
        _start_writer(directory)


def snapshot() -> dict[str, int]:
    """``{"sqs.ReceiveMessage": n, ...}`` so far."""
    with _lock:
        return dict(_counts)


def permissions() -> dict[str, int]:
    """``{"sqs:ReceiveMessage queue:model-x": n, ...}`` so far (``iam.Permission.parse`` reads a key)."""
    with _lock:
        return dict(_permissions)


def _count_call(model: Any, **_: Any) -> None:
    key = f"{model.service_model.service_name}.{model.name}"
    with _lock:
        _counts[key] += 1


def _count_call_and_permission(model: Any, params: Any, **_: Any) -> None:
    service = model.service_model.service_name
    permission = str(iam.permission_for(service, model.name, params))
    with _lock:
        _counts[f"{service}.{model.name}"] += 1
        _permissions[permission] += 1


def _start_writer(directory: Path) -> None:
    global _writer, _directory
    with _lock:
        _directory = directory
        if _writer is not None and _writer.is_alive():
            return
        _writer = threading.Thread(target=_write_forever, name="aws-call-counts", daemon=True)
        _writer.start()


def _in_forked_child() -> None:
    """A forked child (a gunicorn worker of a preloaded app) counts only its own calls, in a file of its own:
    the writer thread does not survive a fork, and the parent's file keeps what was counted before it."""
    global _lock, _writer
    _lock = threading.Lock()  # another thread may have held it at the fork
    _counts.clear()
    _permissions.clear()
    _writer = None
    if _directory is not None:
        _start_writer(_directory)


def _write_forever() -> None:
    """Into the directory named last: the process's counts, wherever its latest client asked for them."""
    while True:
        if _directory is not None:
            _write(_directory)
        time.sleep(WRITE_EVERY_SECONDS)


def _write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{os.getpid()}.json"
    partial = target.with_suffix(f".{threading.get_ident()}.tmp")  # the writer's and the exit's never meet
    partial.write_text(json.dumps({"calls": snapshot(), "permissions": permissions()}))
    partial.replace(target)  # a reader never sees half a file


def _at_exit() -> None:
    """The last calls of a short-lived process (a command, a job) are written too."""
    if _directory is not None:
        _write(_directory)


os.register_at_fork(after_in_child=_in_forked_child)
atexit.register(_at_exit)
