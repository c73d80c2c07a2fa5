from pathlib import Path

from model_runtime.catalog import discover, find, load_class

MODELS = Path(__file__).resolve().parents[2] / "ml-models" / "models"


def test_every_model_folder_is_discovered_with_its_manifest() -> None:
    specs = {spec.name: spec for spec in discover(MODELS)}
    assert set(specs) == {"sentiment", "embedding"}
    assert (specs["embedding"].action, specs["embedding"].metric) == ("embed", "nn_accuracy")


def test_a_model_module_is_imported_once_and_reused() -> None:
    spec = find(MODELS, "embedding")
    assert load_class(spec) is load_class(spec)
