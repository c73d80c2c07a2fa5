"""Model folders for tests: copies of the real ones plus the tiny keyword model, under new names."""

from __future__ import annotations

import shutil
from pathlib import Path

import devstack

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "models"


def add_keyword_model(models_dir: Path, name: str = "keyword", action: str = "keywords") -> Path:
    """Copy the keyword fixture into `models_dir` as model `name` serving `action`."""
    folder = models_dir / name
    shutil.copytree(FIXTURES / "keyword", folder)
    manifest = (folder / "model.toml").read_text()
    manifest = manifest.replace('name = "keyword"', f'name = "{name}"').replace(
        'action = "keywords"', f'action = "{action}"'
    )
    (folder / "model.toml").write_text(manifest)
    return folder


def copy_of_real_models(destination: Path) -> Path:
    """A temporary copy of ml-models/models, as a data scientist's working tree would be."""
    shutil.copytree(devstack.MODELS_DIR, destination)
    return destination
