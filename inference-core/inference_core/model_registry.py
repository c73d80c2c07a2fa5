"""Names in the MLflow model registry that more than one deployable reads."""

from __future__ import annotations

CHAMPION = "champion"  # the alias of the version that serves; workers load it, monitoring judges it
