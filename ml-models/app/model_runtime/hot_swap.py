"""Follow the registry: when the served alias moves, load the new version and swap it in.

The new version loads beside the old one, which keeps serving until the swap; the swap
happens between batches, so no message is dropped or failed, and each answer names the
version that produced it. A version that fails to load is reported (logged, and tagged on
the version in MLflow) and skipped until the alias moves again; the old one keeps serving.
"""

from __future__ import annotations

import logging
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from model_runtime.catalog import ModelSpec, load_class
from model_runtime.periodic import Periodic
from model_runtime.registry import ModelRegistry, ModelVersionRef
from model_runtime.worker import ModelSlot, ServedModel

log = logging.getLogger(__name__)


def load_version(
    spec: ModelSpec, registry: ModelRegistry, ref: ModelVersionRef, device: torch.device, half: bool = False
) -> ServedModel:
    with tempfile.TemporaryDirectory(prefix=f"{spec.name}-v{ref.version}-") as tmp:
        model = load_class(spec).load(registry.download(ref, Path(tmp)), device)
    return ServedModel(spec.name, ref.version, spec.action, model.half() if half else model)


class ChampionWatcher:
    def __init__(
        self,
        spec: ModelSpec,
        registry: ModelRegistry,
        alias: str,
        device: torch.device,
        slot: ModelSlot,
        interval_seconds: float,
        on_swap: Callable[[ServedModel], None] = lambda served: None,
        half: bool = False,
    ) -> None:
        self._spec = spec
        self._registry = registry
        self._alias = alias
        self._device = device
        self._slot = slot
        self._on_swap = on_swap
        self._half = half
        self._failed: set[str] = set()
        self._poller = Periodic("champion-watcher", self.check_once, interval_seconds)

    def start(self) -> None:
        self._poller.start()

    def stop(self) -> None:
        self._poller.stop()

    def check_once(self) -> bool:
        """Swap in the alias's version if it moved; True if a new version now serves."""
        ref = self._registry.by_alias(self._spec.name, self._alias)
        current = self._slot.current.version
        if ref is None or ref.version == current or ref.version in self._failed:
            return False
        log.info("%s@%s moved from v%s to v%s: loading it", self._spec.name, self._alias, current, ref.version)
        try:
            served = load_version(self._spec, self._registry, ref, self._device, self._half)
        except Exception as exc:
            self._failed.add(ref.version)
            log.error("%s v%s failed to load; v%s keeps serving: %s", self._spec.name, ref.version, current, exc)
            self._report(ref, exc)
            return False
        self._slot.swap(served)
        log.info("%s v%s now serves (was v%s)", self._spec.name, ref.version, current)
        self._on_swap(served)
        return True

    def _report(self, ref: ModelVersionRef, error: Exception) -> None:
        try:
            self._registry.tag_version(ref, {"serving.load_error": f"{socket.gethostname()}: {error}"[:5000]})
        except Exception as exc:
            log.warning("could not tag v%s with its load error: %s", ref.version, exc)
