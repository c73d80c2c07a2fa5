import sys
from pathlib import Path

import pytest

from model_runtime.catalog import CatalogError, discover, find, load_class, read_tokenizer

MODELS = Path(__file__).resolve().parents[2] / "ml-models" / "models"


def test_every_model_folder_is_discovered_with_its_manifest() -> None:
    specs = {spec.name: spec for spec in discover(MODELS)}
    assert set(specs) == {"sentiment", "embedding"}
    assert (specs["embedding"].action, specs["embedding"].metric) == ("embed", "nn_accuracy")


def test_a_model_module_is_imported_once_and_reused() -> None:
    spec = find(MODELS, "embedding")
    assert load_class(spec) is load_class(spec)


def test_a_manifest_declares_the_label_set_its_model_answers_with() -> None:
    specs = {spec.name: spec for spec in discover(MODELS)}
    sentiment = load_class(specs["sentiment"])
    assert specs["sentiment"].labels == tuple(sorted(vars(sys.modules[sentiment.__module__])["LABELS"]))
    assert specs["embedding"].labels == ()  # embeddings are not labels: no annotation project, no feedback


def test_a_manifest_with_repeated_labels_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dup"
    folder.mkdir()
    (folder / "model.toml").write_text(
        'name = "dup"\naction = "dup"\nclass = "model:M"\nmetric = "m"\nlabels = ["a", "a"]\n'
    )
    with pytest.raises(CatalogError, match="distinct"):
        discover(tmp_path)


@pytest.mark.parametrize(
    ("declared", "error"),
    [
        ("no-colon", "must be '<package>:<path>'"),
        ("json:no/such/tokenizer.json", "cannot be read"),
        ("nosuchpkg:x", "cannot be read"),
    ],
)
def test_a_manifest_names_a_tokenizer_that_can_be_read_without_the_model(
    tmp_path: Path, declared: str, error: str
) -> None:
    for spec in discover(MODELS):
        assert '"model"' in (read_tokenizer(spec) or ""), f"{spec.name} declares a Hugging Face tokenizer.json"
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "model.toml").write_text(
        f'name = "tok"\naction = "tok"\nclass = "model:M"\nmetric = "m"\ntokenizer = "{declared}"\n'
    )
    with pytest.raises(CatalogError, match=error):
        read_tokenizer(discover(tmp_path)[0])
