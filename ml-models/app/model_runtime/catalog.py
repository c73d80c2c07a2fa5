"""Import a model found in the catalogue (``inference_core.catalog``, re-exported here for the model runtime)."""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING

from inference_core.catalog import CatalogError, ModelSpec, discover, find, read_tokenizer

if TYPE_CHECKING:
    from model_runtime.base import AbstractModel

__all__ = ["CatalogError", "ModelSpec", "discover", "find", "load_class", "read_tokenizer"]


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
