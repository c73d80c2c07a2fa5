"""``gateway-server``: the HTTP server as the image runs it, gunicorn with the gateway's configuration.

    gateway-server --bind 0.0.0.0:8080 --workers 2   # and any other gunicorn option

Its processes' metrics meet in ``PROMETHEUS_MULTIPROC_DIR`` (``gateway.gunicorn_config``); when the
deployment names none, a fresh directory of the server's own is made (under ``TMPDIR``), so no other
command of the image, and no file that is not a metric, shares it.
"""

from __future__ import annotations

import os
import sys
import tempfile

from gateway.settings import MULTIPROCESS_DIR_VARIABLE


def main() -> None:
    os.environ.setdefault(MULTIPROCESS_DIR_VARIABLE, tempfile.mkdtemp(prefix="gateway-metrics-"))
    argv = ["gunicorn", "--config", "python:gateway.gunicorn_config", *sys.argv[1:], "gateway.app:create_app()"]
    os.execvp("gunicorn", argv)  # gunicorn, not this process, takes the signals


if __name__ == "__main__":
    main()
